"""A comm message arriving as an async cell ends must not leave the next cell at ``[*]`` (ipykernel 7.4's race).

What a front end sees: it runs an async cell, a widget's comm message reaches the kernel just as that cell ends, and
the next cell (queued, as Run All does) starts meanwhile. On ipykernel 7.4 the kernel then sets the shell's parent
back to the first cell's, so the next cell's ``idle`` goes out under the first cell's header: the front end never
sees it end. Without the guard this lost the next cell's ``idle`` in ~1 trial in 10 here; the trials sweep the
comm's arrival across the end of the first cell so the race happens on machines of other speeds too.
"""

from __future__ import annotations

import queue
import time

import pytest

from tests.kernel_client import Kernel

pytestmark = pytest.mark.kernel

FIRST_CELL_S = 0.05
TRIALS = 80


def _trial(kernel: Kernel, delay_s: float) -> bool:
    """One async cell, a comm message ``delay_s`` after it was sent, the next cell: whether both cells' ``idle``
    statuses arrive under their own headers (within 5 s)."""
    kc = kernel.kc
    first = kc.execute(f"await asyncio.sleep({FIRST_CELL_S})")
    time.sleep(delay_s)  # (the arrival time is what is swept: this is the input, not a wait for state)
    kc.shell_channel.send(kc.session.msg("comm_msg", {"comm_id": "no-such-comm", "data": {}}))
    second = kc.execute("await asyncio.sleep(0.02); 1")
    idle = {first: False, second: False}
    deadline = time.monotonic() + 5
    while not all(idle.values()) and time.monotonic() < deadline:
        try:
            msg = kc.get_iopub_msg(timeout=0.5)
        except queue.Empty:
            continue
        parent = msg["parent_header"].get("msg_id")
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle" and parent in idle:
            idle[parent] = True
    while True:  # the replies of this trial, so the next one starts clean
        try:
            kc.get_shell_msg(timeout=0.05)
        except queue.Empty:
            break
    return all(idle.values())


def test_a_comm_message_as_an_async_cell_ends_never_leaves_the_next_cell_busy(kernel: Kernel) -> None:
    kernel.ok("import asyncio\n%load_ext aether_nb")
    guard = "__import__('aether_nb.notebook.extension', fromlist=['x']).loaded(get_ipython()).parent_guard"
    assert kernel.ok(f"print({guard}.installed)").stdout.strip() == "True"
    lost = [i for i in range(TRIALS) if not _trial(kernel, FIRST_CELL_S - 0.002 + (i % 40) * 0.0001)]
    assert lost == [], f"trials {lost} lost a cell's idle status: its cell would keep [*] in the front end"
    repaired = kernel.ok(f"print({guard}.repaired)").stdout.strip()
    # %unload_ext gives the kernel its own methods back
    unloaded = kernel.ok(
        "%unload_ext aether_nb\nprint(sorted(set(vars(get_ipython().kernel)) & {'dispatch_shell', 'set_parent'}))"
    )
    assert unloaded.stdout.strip() == "[]"
    if repaired == "0":  # every idle arrived, but the race never happened: nothing was shown either way
        pytest.skip(f"the comm never arrived as the first cell ended in {TRIALS} trials on this machine")
