"""Which steps a resumed run executed again instead of replaying them, and why: what its widget's resume notice says.

A resume replays the steps the journal holds; a step that completed before but is not in the journal executes
again. Its result held a secret (never stored, so never journaled: a model call whose reply repeats a key, a tool
returning a token), or could not be stored. The notice said only "completed steps were replayed, not executed
again" while such a step ran again (a second, paid model call), then "if this run is resumed after a restart, that
step runs again" once it had. :class:`ResumeNotice` folds the run's events: the steps that ended done before the
resume, and a step among them starting again, not replayed, in the resumed execution. (A step cut off while its
code ran is said by the run itself, ``ran_again``: it had not completed; the widget adds it to :attr:`changed`.)
"""

from __future__ import annotations

from collections.abc import Iterable

from aether_nb.notebook.notices import RESUMED_NOTICE, SECRET_RAN_AGAIN_NOTICE, UNSTORED_RAN_AGAIN_NOTICE
from aether_nb.runtime.events import Event, NodeFinished, NodeRan, NodeStarted, RunStarted, RunWarning

MAX_NAMED = 3
"""Steps named in a notice; more are counted ("and 4 more")."""


class ResumeNotice:
    """What a resumed run's widget says of the resume: what it replayed (:meth:`resumed`), what else the run said it
    did (:attr:`changed`: a tool changed, a step cut off run again) and the completed steps executed again, folded
    from the run's events (see module doc)."""

    def __init__(self) -> None:
        self.resumed_as: str | None = None  # the notice's first words once the run resumed (None: not resumed here)
        self.changed: list[str] = []  # what the run said the resume did besides replaying (its warnings, in words)
        self._done: set[str] = set()  # the steps that ended done so far
        self._secret: set[str] = set()  # the steps whose result held a secret (their ``not_durable`` warning)
        self._before: frozenset[str] | None = None  # the steps done when the execution resumed (None: not resumed)
        self.steps: list[str] = []  # the steps the current resumed execution executed again, in order

    def learn(self, events: Iterable[Event]) -> None:
        """Fold the run's history (what a view made after it happened would have seen)."""
        for event in events:
            self.fold(event)

    def fold(self, event: Event) -> bool:
        """Fold one event; True when it is a step starting again (the notice has one more step to name)."""
        if isinstance(event, RunStarted):
            self._before = frozenset(self._done) if event.resumed else None
            self.steps = []
            return False
        again = False
        if isinstance(event, (NodeStarted, NodeRan)) and not event.replayed and self._before is not None:
            again = event.node_id in self._before and event.node_id not in self.steps
            if again:
                self.steps.append(event.node_id)
        if isinstance(event, (NodeFinished, NodeRan)) and event.status == "DONE":
            self._done.add(event.node_id)
        elif isinstance(event, RunWarning) and event.code == "not_durable" and event.node_id is not None:
            detail = event.detail if isinstance(event.detail, dict) else {}
            if detail.get("reason") == "secret":
                self._secret.add(event.node_id)
        return again

    def resumed(self, said: str = RESUMED_NOTICE) -> None:
        """The run resumed here: the notice begins with ``said`` (what the resume replayed)."""
        self.resumed_as, self.changed = said, []

    def notice(self) -> str:
        """The notice of the resume (one that only a resume gives, ``ran_again``, may come before its start)."""
        self.resumed_as = self.resumed_as or RESUMED_NOTICE
        return self.after("")

    def after(self, text: str) -> str:
        """``text`` after what the resume did, once the run resumed: a notice of a later step must not hide it."""
        if self.resumed_as is None:
            return text
        return " ".join([self.resumed_as, *self.changed, *self.sentences(), *([text] if text else [])])

    def said(self, step: str) -> bool:
        """Whether the notice names ``step`` as executed again (its ``not_durable`` warning adds nothing then)."""
        return step in self.steps

    def sentences(self) -> list[str]:
        """What the notice says of the steps executed again: those whose result held a secret, then the others."""
        secret = [s for s in self.steps if s in self._secret]
        other = [s for s in self.steps if s not in self._secret]
        said = []
        for steps, notice in ((secret, SECRET_RAN_AGAIN_NOTICE), (other, UNSTORED_RAN_AGAIN_NOTICE)):
            if steps:
                one = len(steps) == 1
                said.append(
                    notice.format(
                        steps=("step " if one else "steps ") + _named(steps),
                        its="its" if one else "their",
                        s="" if one else "s",
                        it="it" if one else "they",
                    )
                )
        return said


def _named(steps: list[str]) -> str:
    shown = steps[:MAX_NAMED]
    more = len(steps) - len(shown)
    if more:
        return ", ".join(shown) + f" and {more} more"
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]
