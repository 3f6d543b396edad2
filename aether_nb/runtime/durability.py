"""The durability setting: when a run's history reaches the store, and the checks of its values.

``ag.configure(durability=..., interval_s=...)`` chooses; :class:`~aether_nb.runtime.history.HistoryStore` keeps
the promise:

* A wait, and the answer to one, are written at the end of the loop iteration that made them (all of that
  iteration's in one write: 1,000 runs parking, or 1,000 answers given in a row). The runtime awaits the
  wait's write (:meth:`~aether_nb.runtime.history.HistoryStore.barrier`) before it shows the prompt or says the
  run waits: a run that waits always survives the process.
* ``"async"`` (the default): steps, run records, nodes and events are written within ``interval_s`` (0.2 s), and
  when the process exits normally (kernel restart or shutdown). A process killed hard loses at most that window;
  a run resumed afterwards executes those steps again, like a step interrupted mid-way. These writes are not synced
  (``durable=False``): a power loss may also lose those since the last sync (a wait, answer, ``flush()``, log apply).
* ``"sync"``: a step is in the store before the code that called it continues (its caller awaits the write);
  steps completing in the same loop iteration share one write.

Why apart from :mod:`~aether_nb.runtime.history`: what each mode promises is said in one place, next to the checks of
the settings' values and the exit hook that keeps the last part of the ``"async"`` promise; the history store is how
the rest is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol

from aether_nb.errors import UsageError, shown
from aether_nb.store import redact

Durability = Literal["async", "sync"]
DURABILITY_MODES: tuple[str, ...] = ("async", "sync")

_log = redact.logger("aether_nb")


def check_durability(value: object) -> Durability:
    """``value`` as a durability mode (``ag.configure`` and :class:`~aether_nb.runtime.history.HistoryStore` take
    one); a UsageError naming both modes and what they promise otherwise."""
    if value not in DURABILITY_MODES:
        raise UsageError(
            f"durability must be one of {list(DURABILITY_MODES)}, got {shown(value)}: 'async' writes steps within "
            "0.2 s (waits at once), 'sync' before each step's caller continues"
        )
    return value  # type: ignore[return-value]


def check_interval(value: object) -> float:
    """``value`` as the ``"async"`` write interval in seconds, in (0, 60]; a UsageError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 60:
        raise UsageError(f"interval_s must be a number of seconds in (0, 60], got {shown(value)}")
    return float(value)


class Pending(Protocol):
    """What the exit hook needs of the store that keeps the history (a
    :class:`~aether_nb.runtime.history.HistoryStore`)."""

    @property
    def pending(self) -> int: ...

    def flush_history(self, *, durable: bool = True) -> None: ...


def exit_hook(ref: Callable[[], Pending | None]) -> Callable[[], None]:
    """The ``atexit`` hook of the store ``ref`` refers to (weakly: a store nobody holds is not kept alive by it)."""

    def flush_at_exit() -> None:
        """A normal exit (kernel restart or shutdown, end of a script) writes what is still pending."""
        store = ref()
        if store is None or not store.pending:
            return
        try:
            store.flush_history()
        except Exception as exc:  # nobody left to raise to at exit: say what was lost
            _log.error("aether_nb: %d history records could not be written at exit: %s", store.pending, exc)

    return flush_at_exit
