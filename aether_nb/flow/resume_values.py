"""Which pauses a ``Command(resume=...)`` answers, and with what: a value for the one pending ``interrupt()``, or
``{interrupt id: value, ...}`` naming pending ones (LangGraph's two forms), checked before anything is answered or
merged, so a resume that cannot be used changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aether_nb.errors import UsageError
from aether_nb.flow.asks import answer_form
from aether_nb.flow.types import AmbiguousResume, Interrupt

if TYPE_CHECKING:
    from aether_nb.runtime.run import Run


_INTERRUPT_ID = re.compile(r"(?:[^/]+/)+interrupt_\d+")
"""The shape of an ``interrupt()``'s id (its wait's step key: ``n_1/interrupt_1``, ``tools_1/ask_1/interrupt_2``)."""


def resume_answers(run: Run, pauses: list[tuple[str, Interrupt]], resume: Any) -> list[tuple[str, Any]]:
    """``(wait token, answer)`` for each pause ``Command(resume=resume)`` answers, checked before anything is
    answered or merged: a value for the one pending ``interrupt()``, or ``{interrupt id: value, ...}`` naming
    pending ones; breakpoints pass. A map naming an interrupt that is not pending (answered already: a cell run
    again, a stale ``res["__interrupt__"]``) is refused, not handed whole to the question that is."""
    dynamic = [(t, i) for t, i in pauses if i.kind == "interrupt"]
    by_id = {i.id: token for token, i in dynamic}
    asked = {i.id: i for _, i in dynamic}
    out: list[tuple[str, Any]] = []
    if _names_interrupts(run, resume, by_id):
        stale = sorted(str(k) for k in resume if k not in by_id)
        if stale:
            raise UsageError(
                f"Command(resume={{...}}) names interrupt(s) {stale}, which are not pending (answered already, or "
                f"of another turn): run {run.id} waits on {sorted(by_id)}; take the ids from the latest "
                "res['__interrupt__'] (Command(resume={interrupt_id: value, ...})), or give the value alone when one "
                "interrupt is pending",
                run_id=run.id,
                code="resume_not_pending",
            )
        out += [(by_id[iid], answer_form(asked[iid], value)) for iid, value in resume.items()]
    elif len(dynamic) == 1:
        out.append((dynamic[0][0], answer_form(dynamic[0][1], resume)))
    elif len(dynamic) > 1:
        raise AmbiguousResume(
            f"When there are multiple pending interrupts, you must specify the interrupt id when resuming: run "
            f"{run.id} waits on {sorted(by_id)}; resume with Command(resume={{interrupt_id: value, ...}})",
            run_id=run.id,
        )
    out += [(token, None) for token, i in pauses if i.kind != "interrupt"]
    return out


def _names_interrupts(run: Run, resume: Any, pending: Mapping[str, str]) -> bool:
    """Whether a resume value is the ``{interrupt id: value}`` form: a non-empty map whose keys are all pending
    ids, or one of whose keys is the id of an ``interrupt()`` of the run (or has an interrupt id's shape). Any
    other dict is an answer of its own (``Command(resume={"approved": True})``)."""
    if not pending or not isinstance(resume, Mapping) or not resume:
        return False
    if set(resume) <= set(pending):
        return True
    keys = [k for k in resume if isinstance(k, str)]
    if any(_INTERRUPT_ID.fullmatch(k) for k in keys):
        return True
    waits = run.session.store.list_waits(run.id, status=None)
    known = {w.node_id for w in waits if isinstance(w.meta, dict) and w.meta.get("flow") == "interrupt"}
    return any(k in known for k in keys)


__all__ = ["resume_answers"]
