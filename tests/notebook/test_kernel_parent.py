"""The guard against ipykernel 7.4's stale parent after a concurrent comm dispatch (aether_nb.notebook.kernel_parent).

A fake kernel plays the sequence of ipykernel 7.4's ``shell_main`` in one shared context: a comm message arrives
while cell 1 holds the shell, is dispatched concurrently (its own parent kept apart, as in the kernel's copied
context), cell 1 ends and cell 2 starts meanwhile, then the kernel sets back the parent it read before the dispatch.
The real kernel, with the race happening, is in tests/kernel/test_kernel_parent.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from aether_nb.notebook.kernel_parent import CommParentGuard


def _msg(msg_id: str) -> dict[str, Any]:
    return {"header": {"msg_id": msg_id}}


class FakeKernel:
    """The parts of ipykernel 7.4's Kernel the guard touches: the shared shell parent, ``set_parent`` (which also
    points the output streams at it) and a ``dispatch_shell`` with the concurrent mode."""

    def __init__(self) -> None:
        self.parent: dict[str, Any] = _msg("cell-1")
        self.streams_parent: dict[str, Any] = self.parent  # where output from other threads goes
        self.comm_parent: dict[str, Any] | None = None  # the concurrent dispatch's own (copied-context) parent
        self.dispatched: list[tuple[str, bool]] = []

    def get_parent(self, channel: str | None = None) -> dict[str, Any]:
        return self.parent

    def set_parent(self, ident: Any, parent: dict[str, Any], channel: str = "shell") -> None:
        if channel == "shell":
            self.parent = parent
            self.streams_parent = parent

    async def dispatch_shell(self, msg: Any, /, subshell_id: str | None = None, *, concurrent: bool = False) -> None:
        self.dispatched.append((msg["header"]["msg_id"], concurrent))
        if concurrent:  # ipykernel sets the comm's parent in a copy of the context: only the streams see it
            self.comm_parent = msg
            self.streams_parent = msg
        else:
            self.set_parent(None, msg)
        await asyncio.sleep(0)


def _guarded() -> tuple[FakeKernel, CommParentGuard]:
    """A fake kernel with the guard installed."""
    kernel = FakeKernel()
    guard = CommParentGuard(kernel)
    assert guard.install()
    return kernel, guard


async def _comm_while_cells_change(kernel: FakeKernel, *, next_cell: bool) -> None:
    """ipykernel 7.4's concurrent branch, with cell 2 starting (``next_cell``) while the comm is dispatched."""
    stale = kernel.get_parent("shell")  # read before the dispatch
    dispatch = asyncio.ensure_future(kernel.dispatch_shell(_msg("comm"), concurrent=True))
    if next_cell:
        kernel.set_parent(None, _msg("cell-2"))  # cell 1 ended, the queued cell 2 started
    await dispatch
    kernel.set_parent(None, stale, channel="shell")  # the kernel's restore


def test_a_comm_dispatched_as_the_next_cell_starts_leaves_the_next_cell_its_parent() -> None:
    kernel, guard = _guarded()
    asyncio.run(_comm_while_cells_change(kernel, next_cell=True))
    assert kernel.get_parent("shell")["header"]["msg_id"] == "cell-2"  # its outputs and idle go to cell 2
    assert kernel.streams_parent["header"]["msg_id"] == "cell-2"  # and so does output from other threads
    assert guard.repaired == 1
    assert kernel.dispatched == [("comm", True)]


def test_without_the_guard_the_fake_shows_the_race() -> None:
    """The fake reproduces what the guard is for (else the test above would prove nothing)."""
    kernel = FakeKernel()
    asyncio.run(_comm_while_cells_change(kernel, next_cell=True))
    assert kernel.get_parent("shell")["header"]["msg_id"] == "cell-1"


def test_two_comms_dispatched_as_the_next_cell_starts_both_leave_it_its_parent() -> None:
    """Widgets send several messages at once: each concurrent dispatch restores, and each restore is guarded."""
    kernel, guard = _guarded()

    async def scenario() -> None:
        stale = kernel.get_parent("shell")
        first = asyncio.ensure_future(kernel.dispatch_shell(_msg("comm-1"), concurrent=True))
        second = asyncio.ensure_future(kernel.dispatch_shell(_msg("comm-2"), concurrent=True))
        kernel.set_parent(None, _msg("cell-2"))
        await first
        kernel.set_parent(None, stale, channel="shell")
        await second
        kernel.set_parent(None, stale, channel="shell")

    asyncio.run(scenario())
    assert kernel.get_parent("shell")["header"]["msg_id"] == "cell-2"
    assert guard.repaired == 2


def test_a_comm_dispatched_while_the_same_cell_runs_changes_nothing() -> None:
    kernel, guard = _guarded()
    asyncio.run(_comm_while_cells_change(kernel, next_cell=False))
    assert kernel.get_parent("shell")["header"]["msg_id"] == "cell-1"
    assert kernel.streams_parent["header"]["msg_id"] == "cell-1"  # the restore still points the streams back
    assert guard.repaired == 0


def test_a_new_request_equal_to_a_marked_parent_is_not_taken_for_the_restore() -> None:
    """Only the very object read before the dispatch is the restore: a request deserialised afresh (equal by
    value, another object) is set as it is."""
    kernel, guard = _guarded()

    async def scenario() -> None:
        stale = kernel.get_parent("shell")
        await kernel.dispatch_shell(_msg("comm"), concurrent=True)
        kernel.set_parent(None, _msg("cell-2"))
        kernel.set_parent(None, _msg("cell-1"))  # equal to the marked parent, not the same object
        assert kernel.get_parent("shell") is not stale
        assert kernel.get_parent("shell")["header"]["msg_id"] == "cell-1"

    asyncio.run(scenario())
    assert guard.repaired == 0


def test_marks_of_dispatches_that_never_restore_stay_bounded() -> None:
    """500 dispatches whose restore never comes keep only the newest marks: a late restore of the oldest parent is
    set as it is, one of the newest is still recognised."""
    kernel, guard = _guarded()
    parents = [_msg(f"cell-{i}") for i in range(500)]

    async def many() -> None:
        for i, parent in enumerate(parents):
            kernel.parent = parent  # a parent object per dispatch, none restored
            await kernel.dispatch_shell(_msg(f"comm-{i}"), concurrent=True)

    asyncio.run(many())
    kernel.set_parent(None, _msg("cell-x"))
    kernel.set_parent(None, parents[0], channel="shell")  # its mark was forgotten: taken as a request
    assert kernel.get_parent("shell") is parents[0]
    assert guard.repaired == 0
    kernel.set_parent(None, _msg("cell-y"))
    kernel.set_parent(None, parents[-1], channel="shell")  # still marked: redirected to the request served now
    assert kernel.get_parent("shell")["header"]["msg_id"] == "cell-y"
    assert guard.repaired == 1


def test_remove_gives_the_kernel_its_own_methods_back() -> None:
    kernel, guard = _guarded()
    assert "dispatch_shell" in vars(kernel) and "set_parent" in vars(kernel)
    guard.remove()
    assert "dispatch_shell" not in vars(kernel) and "set_parent" not in vars(kernel)
    assert not guard.installed
    assert guard.install() and guard.installed  # (%reload_ext installs it again)


class OlderKernel:
    """A kernel whose dispatch has no concurrent mode (ipykernel before 7.4): nothing to guard."""

    def get_parent(self, channel: str | None = None) -> dict[str, Any]:
        return {}

    def set_parent(self, ident: Any, parent: Any, channel: str = "shell") -> None: ...

    async def dispatch_shell(self, msg: Any) -> None: ...


@pytest.mark.parametrize("kernel", [OlderKernel(), object()], ids=["no-concurrent-mode", "not-a-kernel"])
def test_kernels_without_the_concurrent_comm_dispatch_are_left_alone(kernel: Any) -> None:
    guard = CommParentGuard(kernel)
    assert not CommParentGuard.needed(kernel)
    assert not guard.install()
    assert "set_parent" not in getattr(kernel, "__dict__", {})
