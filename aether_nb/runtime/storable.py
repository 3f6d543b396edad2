"""What of a run the store can keep: its inputs and its outputs, unless they hold a secret or cannot be encoded.

Why apart from :class:`~aether_nb.runtime.run.Run`: the rule is decided when a run starts (:mod:`launch`), checked
when it resumes and when it finishes (:mod:`run`), and its wording is what the person reads in the widget and in
errors, so it lives in one place.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aether_nb.errors import UsageError, shown
from aether_nb.runtime.codec import NotEncodable, check_decodable, decode, encode, preview
from aether_nb.store.protocol import Store
from aether_nb.store.records import JournalEntry, RunRecord
from aether_nb.store.redact import contains_secret
from aether_nb.store.values import json_dumps

__all__ = [
    "SECRET_INPUTS",
    "SECRET_INPUTS_FIX",
    "STARTED_FROM_GRAPH",
    "durable_inputs",
    "inputs_are_durable",
    "not_resumable",
    "stored_outputs",
    "target_missing",
]

SECRET_INPUTS_FIX = (
    "Let the agent read the secret itself instead of passing it as an input: os.environ in its body or in a "
    "tool, aether_nb.tools.read_env in a @graphify graph."
)
SECRET_INPUTS = (
    "an input of this run holds a secret (an API key or credential), which is never stored, so this run cannot be "
    f"resumed after a kernel restart: {SECRET_INPUTS_FIX}"
)


def inputs_are_durable(stored_inputs: Any) -> bool:
    """Whether a run's (encoded) inputs can be stored as they are: inputs holding a secret are stored redacted,
    so such a run cannot be resumed in a new process (recorded in the run's meta at start)."""
    return not contains_secret(json_dumps(stored_inputs))  # (an int of 5,000 digits: no error)


def durable_inputs(record: RunRecord) -> bool:
    """What the run's record says of its inputs (see :func:`inputs_are_durable`; records before it: True)."""
    return bool((record.meta or {}).get("durable_inputs", True))


def not_resumable(run_id: str) -> UsageError:
    """The error of resuming, in a new process, a run whose inputs held a secret."""
    return UsageError(
        f"run {run_id} was started with a secret among its inputs, and secrets are never stored, so it "
        f"cannot be resumed in a new process; start a new run. {SECRET_INPUTS_FIX}",
        run_id=run_id,
        code="inputs_not_durable",
    )


STARTED_FROM_GRAPH = "taskgraph"
"""``meta["started_from"]`` of a run ``ag.run(graph, ...)`` started from a built TaskGraph: no agent of its name is
registered for it (the graph may come from ``TaskGraph.from_json``), so resuming it is said differently."""


def target_missing(record: RunRecord) -> UsageError:
    """The error of resuming (or answering) a run whose agent this process does not define (yet)."""
    run_id, name = record.run_id, record.graph
    if (record.meta or {}).get("started_from") == STARTED_FROM_GRAPH:
        how = (
            f"it was started with ag.run(graph, ...) from a built TaskGraph: load or build that graph again (e.g. "
            f"TaskGraph.from_json(...)) and resume with `await ag.run(graph, <the same inputs>, run_id={run_id!r})`"
            f" (define its tools first), or run the cell that defines the @graphify {shown(name)}; then answer"
        )
    else:
        how = "run the cell that defines it, then resume or answer"
    return UsageError(
        f"run {run_id} needs {record.kind} {shown(name)} to resume, and it is not defined in this process: {how} "
        "(nothing was stored or changed)",
        run_id=run_id,
        code="target_missing",
    )


def check_loop(run_id: str) -> None:
    """A resume executes on the running loop: refused (UsageError) outside one."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise UsageError(
            f"resuming run {run_id} needs a running event loop: `await run` in a notebook or async code",
            run_id=run_id,
        ) from None


def inputs_to_resume(record: RunRecord) -> dict[str, Any]:
    """The stored inputs of a run to resume in this process (refused when they held a secret, or hold an object of
    a class this process does not define yet)."""
    if not durable_inputs(record):
        raise not_resumable(record.run_id)
    inputs: dict[str, Any] = decode(record.inputs)
    return inputs


def readable_journal(store: Store, run_id: str) -> list[JournalEntry]:
    """The run's journal, once every value in it can be read back here (a class from a notebook cell that has not
    run again raises :class:`UsageError` ``missing_class``: checked before a resume changes anything)."""
    entries = store.load_journal(run_id)
    check_decodable(e.value for e in entries)
    return entries


def stored_outputs(outputs: dict[str, Any]) -> tuple[Any, str | None]:
    """The outputs as the run's record stores them, and why only a preview is stored (None when all of it is):
    outputs that cannot be encoded, or hold a secret, stay in this process only."""
    try:
        encoded = encode(outputs)
        if contains_secret(json_dumps(encoded)):
            raise NotEncodable("the outputs contain a secret (an API key or credential)")
    except NotEncodable as exc:
        return preview(outputs), f"{exc}. The outputs are kept in this process; the store holds a preview only."
    return encoded, None


class StoreHome:
    """The store a :class:`~aether_nb.runtime.run.Run` object was made or read from. A session that switched stores
    (``%aether store``, ``ag.configure(store=...)``) forgets its run objects, but the user may still hold one: resumed
    there, it replayed the *new* store's journal (none), so every step it had completed ran again, and the run was
    written into the new store as a second copy."""

    __slots__ = ("inner", "location")

    def __init__(self, store: Any) -> None:
        self.inner = _innermost(store)
        self.location: str = store.location

    def check(self, run_id: str, store: Any) -> None:
        """Raise UsageError (``code="other_store"``) when ``store`` (the session's now) is not this one: the same
        object, or the same file opened again (switching back makes the run usable again)."""
        inner = _innermost(store)
        if inner is self.inner or (not self.location.startswith(":memory:") and store.location == self.location):
            return
        raise UsageError(
            f"run {run_id} belongs to the store {self.location}, and this session now uses {store.location} "
            "(`%aether store` or ag.configure(store=...) switched it): nothing was run or written. Switch back to "
            f"that store to resume, answer, cancel or promote it (then ag.get_run({run_id!r})).",
            run_id=run_id,
            code="other_store",
        )


def _innermost(store: Any) -> Any:
    """The store under its wrappers (the session's history write-behind, and any that says what it wraps)."""
    seen = 0
    while getattr(store, "inner", None) is not None and seen < 8:
        store, seen = store.inner, seen + 1
    return store
