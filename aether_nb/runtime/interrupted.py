"""What code whose ``await`` of a run was cancelled learns about that run (a kernel interrupt, a task cancelled).

The cancellation itself goes on up, as asyncio requires; it carries one note (:pep:`678`, ``add_note``) saying
what became of the run: stopped with its caller (``await agent(...)``, ``await graph(...)``, ``ainvoke``: the
caller owned the run) or still going (``await run``: awaiting does not own a run). The notebook prints that note as
one line instead of asyncio's traceback; elsewhere it ends the traceback.
"""

from __future__ import annotations

__all__ = ["NOTE_PREFIX", "still_going", "stopped_turn", "stopped_with_caller", "tell_caller", "told"]

NOTE_PREFIX = "aether_nb: "


def tell_caller(exc: BaseException, text: str) -> None:
    """Note on ``exc`` what became of the awaited run; a note of an inner await (the run goes on) is replaced by
    the outer one's (the caller that owned it stopped it)."""
    notes = getattr(exc, "__notes__", None)
    if notes:
        notes[:] = [n for n in notes if not (isinstance(n, str) and n.startswith(NOTE_PREFIX))]
    exc.add_note(NOTE_PREFIX + text)


def told(exc: BaseException) -> str | None:
    """The note :func:`tell_caller` left on ``exc`` (without its prefix), or None."""
    for note in reversed(getattr(exc, "__notes__", None) or ()):
        if isinstance(note, str) and note.startswith(NOTE_PREFIX):
            return note[len(NOTE_PREFIX) :]
    return None


def stopped_with_caller(run_id: str, graph: str) -> str:
    """The note of an ``await agent(...)`` / ``await graph(...)`` cancelled: the run it started was stopped too."""
    return f"run {run_id} ({graph}) was stopped with the code that awaited it"


def still_going(run_id: str, graph: str) -> str:
    """The note of an ``await run`` cancelled: awaiting does not own the run."""
    return f"stopped waiting for run {run_id} ({graph}), which goes on (`run.cancel()` stops it)"


def stopped_turn(graph: str, thread_id: str) -> str:
    """The note of an ``ainvoke``/``astream`` cancelled: the turn stopped, as in LangGraph."""
    return (
        f"the turn of thread {thread_id!r} ({graph}) was stopped with the code that awaited it; "
        "`ainvoke(None, config)` continues it from its last checkpoint"
    )
