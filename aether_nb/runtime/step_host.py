"""What the step engine needs from the run it executes: the :class:`StepHost` protocol.

The engine (:mod:`~aether_nb.runtime.execution`) owns the steps and emits their events through its host, the
:class:`~aether_nb.runtime.run.Run`; it never reads the run's state directly, so the run, the engine and the
session each own their own part. Kept apart from the engine so the modules that only need the run's face
(replays, step cancels, state graphs' emitters) read it without the engine's code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from aether_nb.runtime.events import Event
from aether_nb.store.records import RunRecord

if TYPE_CHECKING:
    from aether_nb.runtime.execution import Scope
    from aether_nb.runtime.executors import Executor
    from aether_nb.runtime.graph import RunGraph
    from aether_nb.runtime.session import Session

__all__ = ["StepHost"]


class StepHost(Protocol):
    """What the step engine needs from the run it executes (the :class:`~aether_nb.runtime.run.Run`)."""

    @property
    def id(self) -> str: ...

    @property
    def graph_name(self) -> str: ...

    @property
    def record(self) -> RunRecord:
        """The run's stored record (its options live in ``meta``)."""

    @property
    def session(self) -> Session: ...

    @property
    def graph(self) -> RunGraph:
        """The run's DAG so far."""

    @property
    def graph_in_memory(self) -> RunGraph | None:
        """:attr:`graph` when it needs no read of the store; None when the run's history is in the store only."""

    def ran_meta(self, node_id: str) -> Any:
        """The meta step ``node_id`` ran with (its tool's code version), if recorded: a replayed step compares it."""

    def ran_parents(self, node_id: str) -> tuple[str, ...] | None:
        """The edges into step ``node_id`` when it ended in an earlier execution (None: unknown): a replayed step
        moves its scope's frontier along them, not along the order the replay happened to complete in."""

    def runs_again(self, node_id: str) -> bool:
        """Whether node ``node_id``, starting in a resumed execution, was cut off while its own code ran before and
        now runs again from the top (its DAG node then gets the new times, and the run says so)."""

    @property
    def cancel_requested(self) -> bool:
        """Whether the run was cancelled on purpose (its steps end CANCELLED, its waits close)."""

    @property
    def executor(self) -> Executor | None:
        """Where this run's sync tool bodies run (None: the session's default)."""

    def emit(self, cls: type[Event], **fields: Any) -> None:
        """Record an event of the run (folded into its DAG, stored, handed to subscribers)."""

    def start_node(self, **fields: Any) -> None:
        """A node starts (the fields of a ``NodeStarted``); its event may be merged with its end (``NodeRan``)."""

    def finish_node(self, node_id: str, status: str, **fields: Any) -> None:
        """A node ends (the fields of a ``NodeFinished``)."""

    def context_for(self, scope: Scope) -> Any:
        """The NodeContext a scope hands to its code."""

    def persist_waiting(self) -> None:
        """Record that the run waits (written with the wait, before the prompt shows; said at announce_waiting)."""

    def announce_waiting(self) -> None:
        """The wait's write returned: observers may now learn what persist_waiting recorded."""

    def refresh_status(self) -> None:
        """Recompute running/waiting from the waits its tasks are parked on."""

    def refresh_status_threadsafe(self) -> None:
        """:meth:`refresh_status` from any thread."""
