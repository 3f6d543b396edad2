"""The turn an agent's call drove, noted so that the call, executed again, goes on with that turn.

A turn run by an agent's body (``app.ainvoke``/``app.astream`` in a ``@graph_fn``) is a journaled step of the
agent's run (:mod:`aether_nb.flow.in_run`), but a step is journaled only once it completes. A call cut before that
— the process killed while the turn ran, or after it ended but before the step reached the store, or a turn that
failed — executes again when the agent resumes, with its input. Given to the thread again, the input was merged
once more (a checkpoint holding it twice), a turn that had finished ran again with every tool call in it, and a
call with no ``thread_id`` started on another new thread.

So before it runs the turn, the call notes where the thread was (a KV row, written with the run's history, so it is
in the store before anything of the turn; dropped with the step's journal entry): the thread, its turn count, its
run and that run's open pauses. Executed again, the call finds its note and goes on with the turn it drove, from
that turn's checkpoints and journal, instead of giving the input again:

- a turn started since the note (the thread counts more turns): that turn — the thread's current one;
- the run the note names, still unfinished, with other pauses than it had (the call answered them, or merged its
  input into a turn paused at a breakpoint and ran it on).

Otherwise (no note, or the call had not got as far as giving its input) it runs as it was written.

A stream's call also keeps, under its note (rows ``<note>/1``, ``<note>/2`` ... in the KV scope
``flow-calls:<graph>``), each chunk its turn makes for the body, as it makes it: executed again, the call gives the
body those first (:mod:`aether_nb.flow.in_run`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aether_nb.flow.turns import invoke_turn, until_pause
from aether_nb.runtime.codec import NotEncodable, decode, encode

if TYPE_CHECKING:
    from aether_nb.flow.compiled import CompiledGraph
    from aether_nb.flow.streaming import Sink
    from aether_nb.runtime.execution import Scope
    from aether_nb.runtime.run import Run

_COUNTER = "__flow_turn_call"  # (a scope counter of its own: no journaled step is named so)


class TurnNote:
    """The note of one call of an agent's body (numbered in the body's program order, as its steps are)."""

    def __init__(self, graph: CompiledGraph, scope: Scope, thread_id: str) -> None:
        self.graph = graph
        self.thread_id = thread_id
        self.kv_scope = f"flow-calls:{graph.name}"
        self.kv_key = f"{scope.run.id}/{scope.next_key(_COUNTER)}"
        self.session = scope.run.session
        self.count = 0  # chunks of a stream recorded as the turn made them (rows <key>/1 ... <key>/<count>)
        self.lossy = False  # a chunk the store cannot keep was made: the record stops there

    def read(self) -> dict[str, Any] | None:
        found = self.session.store.kv_get(self.kv_scope, self.kv_key)
        return dict(found[0]) if found is not None and isinstance(found[0], Mapping) else None

    def thread(self) -> str:
        """The thread the call drove: the note's (a call whose config names no thread got a new one), else its
        own."""
        note = self.read()
        return str(note["thread"]) if note is not None else self.thread_id

    def earlier_turn(self) -> Run | None:
        """The turn this call drove before it was cut (see the module docstring), None when it must run as
        written. Notes the thread as it is now when the call has no note yet."""
        note = self.read()
        if note is None:
            self._note()
            return None
        graph = self.graph
        thread = str(note["thread"])
        rec = graph.checkpointer_for(self.session).get_thread(thread) or {}
        turn, run_id = int(rec.get("turn", 0)), rec.get("run_id")
        run = graph.current_run(self.session, thread)
        if run is None:
            return None
        if turn > int(note["turn"]):
            return run
        if run_id == note["run"] and not run.done and _pauses(graph, run) != note["pauses"]:
            return run
        return None

    def _note(self) -> None:
        graph = self.graph
        rec = graph.checkpointer_for(self.session).get_thread(self.thread_id) or {}
        run = graph.current_run(self.session, self.thread_id)
        note = {
            "thread": self.thread_id,
            "turn": int(rec.get("turn", 0)),
            "run": rec.get("run_id"),
            "pauses": _pauses(graph, run) if run is not None and not run.done else [],
        }
        self.session.store.kv_set(self.kv_scope, self.kv_key, note, None)

    def made_before(self) -> list[Any]:
        """The chunks of a stream an earlier execution of the call recorded as its turn made them, in order."""
        out: list[Any] = []
        store = self.session.store
        while (found := store.kv_get(self.kv_scope, f"{self.kv_key}/{len(out) + 1}")) is not None:
            out.append(decode(found[0]["chunk"]))
        self.count = len(out)
        return out

    def made(self, chunk: Any) -> None:
        """Record a chunk the turn made for the body (written with the run's history, so with the turn's own
        records: a turn that ended in the store has its chunks there)."""
        if self.lossy:
            return
        try:
            value = encode(chunk)
        except NotEncodable:
            self.lossy = True
            return
        self.count += 1
        self.session.store.kv_set(self.kv_scope, f"{self.kv_key}/{self.count}", {"chunk": value}, None)

    def forget(self, store: Any) -> None:
        """Drop the note and its chunks (``store``: the step's view, so they go with the step's journal entry)."""
        store.kv_delete(self.kv_scope, self.kv_key)
        for n in range(1, self.count + 1):
            store.kv_delete(self.kv_scope, f"{self.kv_key}/{n}")


def _pauses(graph: CompiledGraph, run: Run) -> list[str]:
    return sorted(token for token, _ in graph.interrupts_of(run))


async def go_on(
    graph: CompiledGraph,
    run: Run,
    config: Mapping[str, Any],
    sink: Sink | None,
    context: Any,
    breakpoints: Mapping[str, Any] | None,
) -> Any:
    """What the call gets, going on with the turn ``run`` it drove (``config``: its thread, no checkpoint named):
    a paused or finished turn's result, as the call got it (its pause's chunks, or the state's values); a turn cut
    mid-way goes on from its journal, a failed or stopped one from its checkpoint (its pending nodes run again,
    as ``ainvoke(None, config)`` runs them; the input is not given again)."""
    thread_id = graph.parse_config(config)[0]
    if run.status == "succeeded" or (not run.done and graph.interrupts_of(run)):
        try:
            result = await until_pause(graph, run, thread_id, sink)
        finally:
            if sink is not None:
                sink.release()
        if sink is not None and run.status == "succeeded":
            latest = graph.checkpointer_for(run.session).latest(thread_id)
            sink("values", graph.spec.visible(latest.values) if latest is not None else {}, ())
        return result
    return await invoke_turn(graph, None, config, sink, context, breakpoints)


def on_thread(config: Mapping[str, Any] | None, thread_id: str) -> dict[str, Any]:
    """``config`` flattened (as LangGraph reads ``configurable``), naming ``thread_id``."""
    cfg = dict(config or {})
    configurable = cfg.pop("configurable", None)
    flat = {**(configurable if isinstance(configurable, Mapping) else {}), **cfg}
    return {**flat, "thread_id": thread_id}


def going_on(config: Mapping[str, Any] | None, thread_id: str) -> dict[str, Any]:
    """The config a call going on with its turn uses: its thread, no checkpoint (the turn goes on from its
    head, not from the past checkpoint the call started a branch from)."""
    return {k: v for k, v in on_thread(config, thread_id).items() if k != "checkpoint_id"}


__all__ = ["TurnNote", "go_on", "going_on", "on_thread"]
