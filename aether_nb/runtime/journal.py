"""The journal of one execution: what a resumed body replays instead of doing again, and what to say when it can't.

A run's journal holds one entry per completed step (tool call, service call, answered wait, chat message, LLM
call...), keyed by the step key the body gave the call. A resumed body makes its calls again; each call looks up its
key here and gets the stored result back. A call whose key holds an entry for *another* call means the body no
longer does what it did: :class:`~aether_nb.errors.ReplayMismatch`, with a message that says which step, what was
stored, what is asked now and the first argument that differs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from aether_nb.errors import ReplayMismatch, shown
from aether_nb.runtime.codec import preview
from aether_nb.runtime.failures import FAILED
from aether_nb.store.records import JSON, JournalEntry

StoredCall = Callable[[str], JSON]
"""Finds the arguments a journaled step was called with (from the run's stored events), for mismatch messages."""


class Journal:
    """The durable entries of one run, and which of them this execution has replayed already.

    Args:
        run_id: the run, for messages.
        entries: the run's journal as stored (entries that are not durable are left out: they run again).
        stored_call: how to find the arguments of a stored step when explaining a mismatch.
    """

    def __init__(
        self,
        run_id: str,
        entries: Iterable[JournalEntry],
        stored_call: StoredCall | None = None,
        *,
        failures: bool = True,
    ) -> None:
        self.run_id = run_id
        self._entries: dict[str, JournalEntry] = {}
        self._failures: dict[str, JournalEntry] = {}  # failed steps, each raised again once (see failures.py)
        for e in entries:
            if e.durable and e.kind != FAILED:
                self._entries[e.key] = e
            elif e.durable and failures:  # (not when a failed run is retried: its failed steps run again)
                self._failures[e.key] = e
        self._consumed: set[str] = set()
        self._taken: set[str] = set()  # failures raised again in this execution (a retry executes after one)
        self._stored_call = stored_call
        self.active = bool(self._entries or self._failures)  # whether any call may replay (a fresh run: none)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def holds(self, key: str) -> bool:
        """Whether the step at ``key`` completed in an earlier execution (it will be replayed, not executed)."""
        return key in self._entries

    def get(self, key: str) -> JournalEntry | None:
        """The entry at ``key``, replayed or not."""
        return self._entries.get(key)

    def add(self, entries: Iterable[JournalEntry], *, failures: bool = False) -> None:
        """Learn entries journaled since this journal was loaded (a node run again within its step finds what its
        earlier attempt did); an entry already known stays. Failures only with ``failures``: a node run again after
        an answer meets the errors it met (its calls replay), a retry executes its calls again."""
        for entry in entries:
            if not entry.durable:
                continue
            if entry.kind != FAILED:
                self._entries.setdefault(entry.key, entry)
            elif failures:
                self._failures.setdefault(entry.key, entry)
        self.active = bool(self._entries or self._failures)

    def take_failure(self, key: str, name: str, fp: str, *, exact: bool = False) -> JournalEntry | None:
        """The failure an earlier execution (or attempt) journaled for this call, taken (the call's next attempt
        executes): at ``key``, or, for a call a concurrent branch numbered in another order, of the same name and
        arguments in the same scope (not with ``exact``: a static graph's node, whose key is its id). None when the
        call did not fail before, or its retry succeeded."""
        if not self._failures:  # (most runs: nothing failed)
            return None
        own = self._entries.get(key)
        if own is not None and key not in self._consumed and own.name == name and own.fingerprint == fp:
            return None  # the call at this key completed: it replays that (an equal call elsewhere failed)
        taken = self._taken
        entry = self._failures.get(key)
        if exact and (entry is None or key in taken or entry.name != name or entry.fingerprint != fp):
            return None
        if entry is None or key in taken or entry.name != name or entry.fingerprint != fp:
            prefix = key.rpartition("/")[0]
            entry = next(
                (
                    e
                    for e in self._failures.values()
                    if e.key not in taken
                    and e.name == name
                    and e.fingerprint == fp
                    and e.key.rpartition("/")[0] == prefix
                ),
                None,
            )
        if entry is None:
            return None
        taken.add(entry.key)
        # a later attempt at the same key succeeded (a retry): the call replays that, not the failure before it
        return None if entry.key in self._entries else entry

    def failed_attempts(self, key: str) -> int:
        """How many attempts of the step at ``key`` failed in earlier executions (0: none failed; a failure journaled
        without its attempt number counts as one), so a retry policy counts attempts across restarts."""
        entry = self._failures.get(key)
        if entry is None or key in self._entries:
            return 0
        attempt = entry.value.get("attempt") if isinstance(entry.value, dict) else None
        return attempt if isinstance(attempt, int) and not isinstance(attempt, bool) and attempt > 0 else 1

    def skip_failure(self, key: str) -> None:
        """The step at ``key`` executes again (a retry's next attempt after a restart): its failure is not raised."""
        self._taken.add(key)

    def reopen(self, prefix: str, *, failures: bool = False) -> None:
        """Let the entries under ``prefix`` be replayed again (a node's body runs again from its start); with
        ``failures``, its failures too (run again after an answer, not retried)."""
        self._consumed = {k for k in self._consumed if not k.startswith(prefix)}
        if failures:
            self._taken = {k for k in self._taken if not k.startswith(prefix)}

    def replay_exact(self, key: str, name: str, fp: str, inputs: Any = None) -> JournalEntry | None:
        """:meth:`replay` for a step whose key is its identity (a static graph's node id): only the entry at ``key``,
        never another call's of the same name and arguments, which would give the node another node's id."""
        entry = self._entries.get(key)
        if entry is None or key in self._consumed:
            return None
        if entry.name != name or entry.fingerprint != fp:
            raise self.mismatch(entry, name, inputs)
        self._consumed.add(key)
        return entry

    def replay(self, key: str, name: str, fp: str, inputs: Any = None) -> JournalEntry | None:
        """The entry for a step about to run (consumed now: no other call replays it), or None when the step is new.

        The entry at the same key normally matches. Calls made from concurrent tasks of one scope may have been
        numbered in another order last time (a replayed step returns at once, where it waited the first time, so
        concurrent branches interleave differently), so an unconsumed entry of the same scope, name and arguments
        is accepted too: the step then keeps that entry's key (see ``binding.bind_call``). Anything else at this key
        is a :class:`ReplayMismatch`.
        """
        entry = self.find(key, name, fp)
        if entry is not None:
            self._consumed.add(entry.key)
            return entry
        entry = self._entries.get(key)
        if entry is not None and key not in self._consumed:
            raise self.mismatch(entry, name, inputs)
        return None

    def find(self, key: str, name: str, fp: str) -> JournalEntry | None:
        """The unconsumed entry :meth:`replay` would return, without consuming it."""
        entry = self._entries.get(key)
        if entry is not None and key not in self._consumed and entry.name == name and entry.fingerprint == fp:
            return entry
        if self._entries:
            prefix = key.rpartition("/")[0]
            for other in self._entries.values():
                if (
                    other.key not in self._consumed
                    and other.name == name
                    and other.fingerprint == fp
                    and other.key.rpartition("/")[0] == prefix
                ):
                    return other
        return None

    def mismatch(self, entry: JournalEntry, name: str, inputs: Any) -> ReplayMismatch:
        """The error for a step whose journal entry records another call than the one the body makes now."""
        stored = self._stored_call(entry.key) if self._stored_call is not None else None
        if entry.name != name:
            what = f"the run called {entry.name}({_args(stored)}) there; now the body calls {name}({_args(inputs)})"
        else:
            what = f"{name} was called with other arguments: {first_difference(stored, inputs)}"
        return ReplayMismatch(
            f"step {shown(entry.key)} of run {self.run_id} does not match its journal: {what}. Either the code changed "
            "since the run started, or the body passed a value it read outside the journal (the clock, a random "
            "number, a file, a global changed by another cell). Restore the code, make such reads steps "
            "(context.step(...), a tool, or a service call), or start a new run with another run_id.",
            run_id=self.run_id,
            node_id=entry.key,
        )


def _short(value: Any, limit: int = 60) -> str:
    text = repr(preview(value, max_str=limit, max_items=5))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _args(inputs: Any) -> str:
    if inputs is None:
        return "…"
    if isinstance(inputs, dict):
        return ", ".join(f"{k}={_short(v, 30)}" for k, v in list(inputs.items())[:4]) + (
            ", …" if len(inputs) > 4 else ""
        )
    return _short(inputs)


def first_difference(stored: Any, now: Any, path: str = "") -> str:
    """The first place two call arguments differ, both values shortened (``x: stored 41, now 43``).

    ``stored`` is the preview the store kept (strings and lists may be cut short), so a value equal to its stored
    preview counts as equal.
    """
    if stored is None:
        return f"now {_args(now)} (the stored arguments are not available)"
    now_view = preview(now)
    if isinstance(stored, dict) and isinstance(now_view, dict):
        for k in [*stored, *(k for k in now_view if k not in stored)]:
            if k not in now_view:
                return f"{path}{k}: stored {_short(stored[k])}, now missing"
            if k not in stored:
                return f"{path}{k}: not in the stored call, now {_short(now_view[k])}"
            if stored[k] != now_view[k]:
                return first_difference(stored[k], now[k] if isinstance(now, dict) else now_view[k], f"{path}{k}.")
        return "the arguments look equal in the stored preview but their full values differ"
    if isinstance(stored, list) and isinstance(now_view, list):
        for i, (a, b) in enumerate(zip(stored, now_view, strict=False)):
            if a != b:
                return first_difference(a, b, f"{path}[{i}].")
        if len(stored) != len(now_view):
            return f"{path.rstrip('.') or 'value'}: stored {len(stored)} items, now {len(now_view)}"
    where = path.rstrip(".") or "value"
    return f"{where}: stored {_short(stored)}, now {_short(now_view)}"
