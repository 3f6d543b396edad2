"""What a step found in the journal does when it replays: the edges, the meta and the error it had when it ran.

Split from :mod:`aether_nb.runtime.execution` (the step engine), which calls these when a resumed run's call finds
its earlier step: a replay must draw the node as it was drawn then (its parents, its tool's code version), say when
a tool changed or a step ran twice, and raise the error a failed step raised, so a resumed run reads as the run did.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from aether_nb.runtime.codec import decode, preview
from aether_nb.runtime.events import RunWarning
from aether_nb.runtime.failures import error_info, rebuild
from aether_nb.store.records import JournalEntry

if TYPE_CHECKING:
    from aether_nb.runtime.execution import Scope, StepHost


def ran_parents(scope: Scope, key: str, parents: tuple[str, ...]) -> tuple[str, ...]:
    """The edges a replayed step had when it ran (``parents``, the frontier now, if unknown). A replay returns
    at once, so branches of a gather replay one after the other, each seeing the one before completed: its
    frontier would give the second the first as its parent and drop the first from the frontier, and the step
    after the gather (the wait the run resumes at) would depend on the last one only."""
    ran = scope.run.ran_parents(key)
    return parents if ran is None else ran


def warn_runs_again(run: StepHost, key: str, name: str) -> None:
    """A step cut off while its code ran (its process stopped) executes again: its node's time is this
    execution's, and the run says that it ran twice (what it did before the stop may have happened twice)."""
    run.emit(
        RunWarning,
        node_id=key,
        code="ran_again",
        message=f"step {key} was still running when the kernel stopped, so it was run again from the start when "
        "the run resumed; anything it did before the stop may have happened twice.",
        detail={"step": key, "name": name},
    )


def replay_failure(
    scope: Scope, entry: JournalEntry, kind: str, inputs: Any, parents: tuple[str, ...], meta: Any, node: bool
) -> NoReturn:
    """Raise again the error a step failed with in an earlier execution, its node drawn failed as it was."""
    exc = rebuild(decode(entry.value))
    if node:
        scope.run.start_node(node_id=entry.key, name=entry.name, node_kind=kind, parent=scope.node_id,
                            parents=parents, inputs=preview(inputs), replayed=True, meta=meta)  # fmt: skip
        scope.run.finish_node(entry.key, "FAILED", error=error_info(exc), replayed=True, ts=entry.created_at)
        scope.advance(parents, entry.key)
    scope.execution.note_failure(exc, entry.key)
    raise exc


def replayed_meta(run: StepHost, key: str, name: str, meta: Any) -> tuple[Any, dict[str, Any] | None]:
    """A replayed step keeps the meta it ran with (the tool's code version that made its result). When the tool
    has other code now, the recorded result is still reused (every effect once), and the run says so: the
    second value is that RunWarning's fields (emitted once the node is drawn), else None."""
    now = meta.get("tool_version") if isinstance(meta, dict) else None
    if now is None:
        return meta, None
    before = run.ran_meta(key)
    ran = before.get("tool_version") if isinstance(before, dict) else None
    if ran is None or ran == now:
        return meta, None
    message = f"tool {name} changed since step {key} ran; its recorded result was reused, not re-run (start a new "
    message += "run to use the new code)"
    detail = {"tool": name, "step": key, "ran": ran, "now": now}
    return before, {"node_id": key, "code": "tool_changed", "message": message, "detail": detail}
