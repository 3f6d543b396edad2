"""What an engine keeps while its tasks pause and resume: the results of the superstep's finished tasks on the
checkpoint (LangGraph's pending writes), where each ``interrupt()`` fired, and which answered questions still
wait for their task's outcome.

Mixed into :class:`~aether_nb.flow.engine.Engine`. A call answering some of a superstep's questions
(``ainvoke(Command(resume={id: value}))`` while others stay open) returns once each answered task has an outcome:
it finished (its writes are on the checkpoint), asked again (its new question is in the result) or failed (its
error is raised), as LangGraph runs the answered node inside that call. Between the answer and that outcome the
task is neither busy running node code nor parked on a wait, so the caller (:func:`~aether_nb.flow.turns.until_pause`)
waits on this state — :meth:`Pauses.awaits_outcome` — and is woken by :meth:`Pauses.on_outcome` when it changes.

A call answering a run no engine of its event loop runs (the loop of an earlier sync ``invoke()``, each an
``asyncio.run``, or an earlier process) starts the run again; what it answered is noted before the new engine
exists (:func:`~aether_nb.flow.resuming.expected_outcomes`), and read here beside :attr:`Pauses.answered`, so the
call waits for those tasks too, also one that finished before the call first looked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aether_nb.flow.checkpoint import GOTO_KEY, settle_record
from aether_nb.flow.resuming import drop_expected_outcomes, expected_outcomes
from aether_nb.flow.state import journal_form

if TYPE_CHECKING:
    from aether_nb.flow.checkpoint import Checkpoint, Checkpointer
    from aether_nb.flow.compiled import CompiledGraph
    from aether_nb.flow.engine import Engine
    from aether_nb.flow.tasks import Outcome, Task
    from aether_nb.runtime.execution import StepHost


class Pauses:
    """The pause bookkeeping half of an :class:`~aether_nb.flow.engine.Engine`: what it reads of the engine is
    declared here, the engine sets it."""

    parent: Engine | None
    graph: CompiledGraph
    run: StepHost
    node: str
    parent_task: str
    thread: str
    checkpointer: Checkpointer
    head: Checkpoint | None
    step_tasks: list[Task]
    step_done: dict[str, Outcome]
    interrupted: bool
    nested_waited: bool
    asked_count: int
    # (root only) the interrupts a call answered whose task has no outcome yet, each with the id of the question
    # that task asked since (None: none yet)
    answered: dict[str, str | None]
    outcome_callbacks: list[Callable[[], None]]  # (root only) told when one of those tasks finishes
    current_head: Callable[[], Checkpoint | None]

    @property
    def root(self) -> Engine:
        raise NotImplementedError  # the engine's (Engine.root)

    # -- answered questions and their tasks' outcomes (root only) --------------------------------------------------
    def expect_outcome(self, interrupt_id: str) -> None:
        """A call is about to answer this interrupt of a task parked here: it returns only once that task has an
        outcome. Registered before the answer is handed over (the task may finish before the answering call goes
        on); :meth:`drop_expected` takes it back when the answer is refused."""
        self.root.answered[interrupt_id] = None

    def drop_expected(self, interrupt_id: str) -> None:
        """The answer to this interrupt was not handed over (refused): nothing waits for its task."""
        root = self.root
        root.answered.pop(interrupt_id, None)
        root.tell_outcome()

    def _restarted(self) -> dict[str, str | None]:
        """The interrupts a call answered before it started this run again (see the module docstring), whose
        task has no outcome yet: kept apart from :attr:`answered`, which each superstep's end clears (a run
        started again replays its earlier supersteps first)."""
        root = self.root
        return expected_outcomes(root.graph, root.run.id) or {}

    def awaits_outcome(self, open_ids: set[str]) -> bool:
        """Whether a task whose question a call answered has no outcome yet: it has neither finished, failed, nor
        asked a question that is open now (``open_ids``: the ids of the run's open interrupts). A task that asked
        again and whose new question is open is done with."""
        answered = self.root.answered
        for interrupt_id, asked in list(answered.items()):
            if asked is not None and asked in open_ids:
                del answered[interrupt_id]
        restarted = self._restarted()
        done = [i for i, asked in restarted.items() if asked is not None and asked in open_ids]
        if done:
            root = self.root
            drop_expected_outcomes(root.graph, root.run.id, done)
        return bool(answered) or bool(self._restarted())

    def on_outcome(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback()`` each time an answered task finishes; returns the function that stops it. (A task
        asking again is told by its wait's ``wait_opened`` event: the new question is open only then.)"""
        callbacks = self.root.outcome_callbacks
        callbacks.append(callback)

        def stop() -> None:
            if callback in callbacks:
                callbacks.remove(callback)

        return stop

    def tell_outcome(self) -> None:
        for callback in list(self.outcome_callbacks):
            callback()

    def _answered_in(self, task_key: str) -> list[str]:
        """The answered interrupts asked inside the task running as step ``task_key`` (an interrupt's id is a
        step key under its task's, possibly under a tool's step in it)."""
        inside = task_key + "/"
        return [i for i in (*self.root.answered, *self._restarted()) if i.startswith(inside)] if task_key else []

    def _finished(self, task_key: str) -> None:
        """The task running as step ``task_key`` (of any graph of the turn) finished: the answered interrupts
        inside it (and inside the graphs it ran) have their outcome."""
        root = self.root
        if not root.answered and not expected_outcomes(root.graph, root.run.id):
            return  # (no answered question waits for its task: every task's finish comes here)
        settled = self._answered_in(task_key)
        if settled:
            for i in settled:
                root.answered.pop(i, None)
            drop_expected_outcomes(root.graph, root.run.id, settled)
            root.tell_outcome()

    # -- the superstep's results and questions on the checkpoints --------------------------------------------------
    def note_done(self, task: Task, outcome: Outcome) -> None:
        """A task finished; while a sibling waits on an interrupt, its result is kept on the checkpoint (the
        thread's state and tasks show it, as LangGraph's pending writes)."""
        self.step_done[task.tid] = outcome
        if self.interrupted:
            self.keep_pending()
        self._finished(task.key)  # (after its result is kept: the call answering it returns now)

    def record_interrupt(self, tid: str, interrupt_id: str, value: Any) -> None:
        """Keep a new ``interrupt()`` of task ``tid`` on the checkpoint its superstep started from (the thread's
        history shows where each interrupt fired); a subgraph's also on its parent's. An answered question of the
        same task has its outcome: it asked again."""
        task = next((t for t in self.step_tasks if t.tid == tid), None)
        if task is not None:
            restarted = self._restarted()
            for answered in self._answered_in(task.key):  # (their outcome once this one is open: awaits_outcome)
                (restarted if answered in restarted else self.root.answered)[answered] = interrupt_id
        self._keep_interrupt(tid, interrupt_id, value)

    def _keep_interrupt(self, tid: str, interrupt_id: str, value: Any) -> None:
        head = self.current_head()
        if head is not None:
            recorded = {k: list(v) for k, v in head.interrupts.items()}
            recorded.setdefault(tid, []).append([interrupt_id, value])
            self.head = replace(head, interrupts=recorded)
            self.checkpointer.replace(self.thread, self.head)
        if self.parent is not None:
            self.parent._keep_interrupt(self.parent_task or self.node, interrupt_id, value)

    def pausing(self) -> None:
        """A task of this graph (or of a subgraph inside one of its tasks) is about to wait: keep the results of
        the superstep's finished tasks on the checkpoints, up to the root graph."""
        self.interrupted = True
        self.keep_pending()
        settle_record(self.checkpointer, self.thread)
        if self.parent is not None:
            self.parent.pausing()
            self.parent.nested_waited = True

    def keep_pending(self) -> None:
        if len(self.step_tasks) < 2:
            return  # (before reading the head: a lone task has no siblings' results to keep)
        head = self.current_head()
        if head is None:
            return
        pending = self._done_forms()
        if GOTO_KEY in head.pending:  # (a Command(goto=...) given at an earlier pause of this superstep)
            pending[GOTO_KEY] = head.pending[GOTO_KEY]
        if pending != head.pending:
            self.head = replace(head, pending=pending)
            self.checkpointer.replace(self.thread, self.head)

    def _done_forms(self) -> dict[str, Any]:
        """The superstep's finished tasks' results as a checkpoint's ``pending`` holds them."""
        return {
            tid: {"writes": journal_form(o.writes), "route": o.route.to_json()} for tid, o in self.step_done.items()
        }

    def as_running(self, cp: Checkpoint) -> Checkpoint:
        """``cp`` with the results of the tasks of the superstep running from it that finished, as LangGraph's
        ``get_state`` shows them while their siblings still run (each task's writes are saved as it finishes
        there). Kept in memory, not written at each task's end: only a pause, a failure or a stop writes them
        (:meth:`keep_pending`, :mod:`aether_nb.flow.ledger`). ``cp`` itself when it is not where this superstep
        started or nothing new finished."""
        if not self.step_done or self.head is None or self.head.id != cp.id:
            return cp
        finished = {tid: kept for tid, kept in self._done_forms().items() if tid not in cp.pending}
        return replace(cp, pending={**cp.pending, **finished}) if finished else cp

    def resumed_here(self) -> None:
        """A task of this graph runs again with answers given while no process waited for them: its superstep
        (and those of the graphs it runs in) read the state again, as after a live wait — it may have been
        edited meanwhile."""
        self.interrupted = True
        if self.parent is not None:
            self.parent.resumed_here()
            self.parent.nested_waited = True

    def note_asked(self) -> None:
        """A task of a subgraph running in one of this graph's tasks was resumed with an answer: that task
        (and so this graph's superstep) counts as resumed too, up to the root."""
        self.asked_count += 1
        if self.parent is not None:
            self.parent.note_asked()
