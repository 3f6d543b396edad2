"""What a run widget says above its DAG (its notice), in words, by what happened: a store that cannot be written, a
step whose result holds a secret, a resume and what it changed. :class:`~aether_nb.notebook.widget.RunView` picks
them from a ``RunWarning``'s code and detail and from the run's events, never from an error's wording.
"""

from __future__ import annotations

HISTORY_NOTICES = {
    "history_not_written": "The notebook's store cannot be written right now ({error}). This run goes on and its "
    "history is kept in memory and retried; until it is written, a restart would lose what it did since.",
    "not_durable": "Part of this run's history could not be stored ({error}). The run goes on; if it is resumed "
    "after a restart, those steps run again.",
    "inputs_not_durable": "An input of this run holds a secret, which is never stored, so this run cannot be "
    "resumed after a kernel restart. {error}",
    "answer_not_written": "An answer could not be written to the notebook's store ({error}), so the run did not get "
    "it: its question is open again. Free disk space (or fix what the error names), then answer it again.",
}
"""What the widget says when the run warns that its history is not safe (``RunWarning`` codes)."""

SECRET_STEP_NOTICE = (
    "The result of step {step} holds a secret (an API key or credential), which is never stored, so it is not "
    "journaled: if this run is resumed after a restart, that step runs again, and so may the steps that used its "
    "result (a model call given it, say); every other completed step is replayed."
)
"""A step whose result holds a secret (``read_env``, a tool returning a token): said as what it is."""
SECRET_STEP_DONE_NOTICE = (
    "The result of step {step} held a secret (an API key or credential), which is never stored: the run's history "
    "keeps it redacted."
)
"""The same, once the run succeeded or was stopped: nothing will resume it, so "runs again" would only worry the
reader."""

SECRET_INPUTS_DONE_NOTICE = (
    "An input of this run held a secret (an API key or credential), which is never stored: the run's record keeps "
    "it redacted."
)
"""The inputs notice once the run succeeded or was stopped ("cannot be resumed" would only worry the reader)."""

RESUMED_NOTICE = "Resumed from the store: completed steps were replayed, not executed again."
RESUMED_AFTER_FAILURE_NOTICE = (
    "This run failed{where} and was resumed since: completed steps were replayed, not executed again, and the "
    "failed ones ran again. (An error shown with it above is from before the resume.)"
)
"""A resume of a run that failed (``resume_mode="failed_nodes"``, often from another cell): the cell that awaited
the run shows its error beside the widget, which goes on to "done"; the notice says which is which."""
TOOL_CHANGED_NOTICE = (
    "Tool {tool} changed since step {step} ran: its recorded result was reused, not re-run (a new run uses the new "
    "code)."
)
"""A replayed step whose tool was redefined since (``tool_changed``): the run keeps the result it recorded."""
RAN_AGAIN_NOTICE = (
    "Step {step} was still running when the kernel stopped, so it ran again from its start: anything it did before "
    "the stop may have happened twice."
)
"""A step cut off while its own code ran (``ran_again``): not replayed, run again (the resume notice alone said
"completed steps were replayed, not executed again", true, and hid it)."""
SECRET_RAN_AGAIN_NOTICE = (
    "Not {steps}, though: {it} ran again, as {its} result{s} held a secret (an API key or credential), which is "
    "never stored; what {it} did (a model call, say) was done twice."
)
"""Completed steps a resume executed again, their results never journaled because they held a secret (see
:mod:`aether_nb.notebook.ran_again`): the resume notice alone said "not executed again" while they ran again."""
UNSTORED_RAN_AGAIN_NOTICE = (
    "Not {steps}, though: {it} ran again, as {its} result{s} could not be stored; what {it} did was done twice."
)
"""The same for completed steps whose results were not journaled for another reason (not storable, say)."""

REATTACHED_NOTICE = "Reattached from the store: answer below (or `await run`) to resume it."
"""A waiting run shown again in a new process (``r = ag.get_run(id); r``): its questions are in the store. Said while
it is unfinished only (a run stopped instead has nothing left to answer); a run cut off while it ran has nothing to
answer at all, and its widget says how to resume it instead (:func:`aether_nb.runtime.status.cut_off_hint`)."""

REFUSED_ANSWERS = {
    "answered": "this question was already answered (from another view of this run, or in code), and the run went "
    "on with that answer",
    "expired": "this question passed its deadline, and the run got a WaitTimeout",
    "cancelled": "this question was cancelled when the run was stopped",
    "closed": "this question was closed when the run ended",
}
"""Why the kernel did not take an answer sent from a widget, by the status of its wait. The widget that sent it says
"your answer 'x' was not used: <this>" under the question, and keeps saying it when it is drawn again: two tabs on one
notebook (or a cell's widget and a ``%aether resume`` one) answering at the same moment, the one that came second had
its answer disappear in silence when the run went on."""


def refused_answer(status: str | None, secret: bool = False) -> str:
    """The words for an answer refused because its wait was no longer open (``status``: the wait's, if known)."""
    if secret:
        return REFUSED_ANSWERS["answered"]
    return REFUSED_ANSWERS.get(status or "", "this question was already answered or closed")
