"""``python -m aether_nb.mcp serve`` at its edges: outputs JSON cannot hold as they are, a client that goes away
mid-question, and a module that cannot be found.

A served call's answer is built after its run succeeded, so it must never fail (the effect happened, and a client
given an error calls again). A run whose client went away mid-question is cancelled, as when the client cancels
the call (no one could ever answer it, and the client's retry starts another run).
"""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.store.duckdb import DuckDBStore
from tests.conftest import arun

MODULE = '''
"""Served in the tests: a tool with a side effect and bytes in its outputs, an agent that asks."""
import hashlib
import os
import os
import aether_nb as ag

with open(os.environ["PIDS"], "a") as f:  # the test waits for this process to end
    f.write(f"{os.getpid()}\\n")


@ag.tool(outputs=["digest", "raw", "text"])
def checksum(text: str) -> dict:
    """Hash a text (a side effect: it counts its runs)."""
    with open(os.environ["EFFECTS"], "a") as f:
        f.write(text + "\\n")
    raw = hashlib.sha256(text.encode()).digest()
    return {"digest": raw.hex(), "raw": raw, "text": b"plain"}


@ag.tool(outputs=["s", "items"])
def broken_text(x: int) -> dict:
    """A lone surrogate (half of a UTF-16 pair), as a bad decode leaves one."""
    return {"s": "a\\ud800b", "items": {"k\\udfff": [1, "\\ud83d"]}}


@ag.tool(outputs=["loop", "ok"])
def cyclic(x: int) -> dict:
    """An output pydantic cannot walk (a list that holds itself) beside one it can."""
    loop = []
    loop.append(loop)
    return {"loop": loop, "ok": x}


@ag.graph_fn(outputs=["booking"])
async def book(flight: str, *, context: ag.NodeContext):
    """Book a flight after asking how many seats."""
    seats = await context.channel().ask_text(f"Seats on {flight}?")
    return {"booking": f"{flight}x{seats}"}
'''


class Served:
    """The served module in a temporary folder, its store, its side effects and its server processes."""

    def __init__(self, tmp_path: Path) -> None:
        self.folder = tmp_path
        (tmp_path / "edge_agents.py").write_text(MODULE)
        self.store = tmp_path / "agents.duckdb"
        self.effects = tmp_path / "effects.txt"
        self.pids = tmp_path / "pids.txt"
        self.env = {"EFFECTS": str(self.effects), "PIDS": str(self.pids)}

    def argv(self) -> list[str]:
        return ["-m", "aether_nb.mcp", "serve", "edge_agents", "--store", str(self.store)]

    def params(self) -> StdioServerParameters:
        return StdioServerParameters(command=sys.executable, args=self.argv(), env=self.env, cwd=str(self.folder))

    def effects_done(self) -> list[str]:
        return self.effects.read_text().splitlines() if self.effects.exists() else []

    def wait_servers_ended(self, timeout: float = 30.0) -> None:
        """Wait until every server process this test started has exited (a zombie counts as exited)."""
        deadline = time.monotonic() + timeout
        pids = [int(p) for p in self.pids.read_text().split()] if self.pids.exists() else []
        while any(_alive(pid) for pid in pids):
            assert time.monotonic() < deadline, f"served processes {pids} did not end"
            time.sleep(0.05)

    def statuses(self) -> dict[str, str]:
        """The served store's runs by graph name (read once the servers have released the file)."""
        self.wait_servers_ended()
        store = DuckDBStore(self.store)
        try:
            return {r.graph: r.status for r in store.list_runs()}
        finally:
            store.close()


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


@pytest.fixture
def served(tmp_path: Path) -> Served:
    return Served(tmp_path)


def test_bytes_in_outputs_come_back_as_base64_and_the_effect_happens_once(served: Served) -> None:
    async def main() -> Any:
        async with Client(served.params()) as client:
            return await client.call_tool("checksum", {"text": "abc"})

    result = arun(main(), timeout=60)
    raw = hashlib.sha256(b"abc").digest()
    assert not result.is_error, result.content
    out = result.structured_content
    assert base64.urlsafe_b64decode(out["raw"]) == raw and out["digest"] == raw.hex()
    assert base64.urlsafe_b64decode(out["text"]) == b"plain"  # all bytes alike: a client decodes them one way
    assert served.effects_done() == ["abc"]
    assert served.statuses() == {"checksum": "succeeded"}


def test_text_utf8_cannot_carry_and_values_pydantic_cannot_walk_still_get_an_answer(served: Served) -> None:
    async def main() -> list[Any]:
        async with Client(served.params(), read_timeout_seconds=30) as client:
            return [await client.call_tool("broken_text", {"x": 1}), await client.call_tool("cyclic", {"x": 7})]

    text, cyclic = arun(main(), timeout=60)
    assert not text.is_error and text.structured_content == {"s": "a\ufffdb", "items": {"k\ufffd": [1, "\ufffd"]}}
    assert not cyclic.is_error and cyclic.structured_content["ok"] == 7
    loop = cyclic.structured_content["loop"]
    assert isinstance(loop, str) and loop.startswith("[[") and "...]" in loop  # its short repr; the other as it is
    assert served.statuses() == {"broken_text": "succeeded", "cyclic": "succeeded"}


@ag.graph_fn(outputs=["b"])
async def trip(flight: str, *, context: ag.NodeContext) -> dict[str, Any]:
    out = await context.mcp("agents").tools["book"](flight=flight)
    return {"b": out["booking"]}


def test_a_run_whose_client_closes_the_connection_mid_question_is_cancelled(session: Session, served: Served) -> None:
    """The kernel's side closes the connection (``ag.mcp.close_all()``, a kernel restart) while the served agent's
    question is open in the calling run: the served run is cancelled, not left waiting for an answer that can
    never come."""
    ag.configure(
        mcp={"agents": {"command": [sys.executable, *served.argv()], "env": served.env, "cwd": str(served.folder)}}
    )

    async def main() -> None:
        run = trip.start(flight="LH1")
        await run.wait_for("waiting", timeout=50)
        assert [w.prompt for w in run.waits] == ["agents asks: Seats on LH1?"]
        await ag.mcp.close_all()
        run.cancel()

    arun(main(), timeout=60)
    assert served.statuses() == {"book": "cancelled"}


CLIENT = """
import asyncio, sys
import mcp_types as types
from mcp import Client, StdioServerParameters

async def asked(context, params):
    print("asked", flush=True)
    await asyncio.Event().wait()   # never answers: the test kills this process now

async def main():
    params = StdioServerParameters(command=sys.executable, args=sys.argv[2:], env={{"EFFECTS": {effects!r},
                                   "PIDS": {pids!r}}}, cwd={folder!r})
    async with Client(params, mode="legacy", elicitation_callback=asked) as client:
        await client.call_tool("book", {{"flight": "LH1"}})

asyncio.run(main())
"""


def test_a_run_whose_client_process_is_killed_mid_question_is_cancelled(served: Served) -> None:
    script = served.folder / "client.py"
    script.write_text(CLIENT.format(effects=str(served.effects), pids=str(served.pids), folder=str(served.folder)))
    client = subprocess.Popen(
        [sys.executable, str(script), "--", *served.argv()], stdout=subprocess.PIPE, text=True, cwd=served.folder
    )
    try:
        assert client.stdout is not None
        assert client.stdout.readline().strip() == "asked"  # the served run waits on the client's answer
    finally:
        client.send_signal(signal.SIGKILL)
        client.wait(30)
    assert served.statuses() == {"book": "cancelled"}


def test_a_module_that_cannot_be_found_is_a_message_and_exit_code_2(tmp_path: Path) -> None:
    (tmp_path / "fails_inside.py").write_text("import no_such_dependency_here\n")
    cases = {
        ("tools", "no_such_agents_module"): "no module named 'no_such_agents_module' importable from",
        ("serve", "no_such_agents_module", "--store", str(tmp_path / "s.duckdb")): "no module named",
        ("tools", "no_such_pkg.agents"): "no module named 'no_such_pkg.agents'",
        ("tools", str(tmp_path / "missing.py")): "no such file",
    }
    for argv, message in cases.items():
        done = subprocess.run(
            [sys.executable, "-m", "aether_nb.mcp", *argv],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            cwd=tmp_path,
            timeout=60,
        )
        assert (done.returncode, "Traceback" in done.stderr) == (2, False), (argv, done.stderr)
        assert done.stderr.startswith("aether_nb.mcp: ") and message in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    # a module that exists but fails to import something: its own traceback, which shows where
    inside = subprocess.run(
        [sys.executable, "-m", "aether_nb.mcp", "tools", "fails_inside"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        cwd=tmp_path,
        timeout=60,
    )
    assert inside.returncode == 1 and "No module named 'no_such_dependency_here'" in inside.stderr
    assert 'fails_inside.py", line 1' in inside.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_server_stopped_by_sigterm_or_sigint_mid_question_stores_its_run_cancelled_and_exits(
    served: Served, signum: int
) -> None:
    """A process manager stops the server (SIGTERM; Ctrl-C is SIGINT) while its client, still connected, has a
    question open: the run is stored cancelled, as when the connection ends, and the process exits although the
    client's end of its stdin stays open."""
    script = served.folder / "client.py"
    script.write_text(CLIENT.format(effects=str(served.effects), pids=str(served.pids), folder=str(served.folder)))
    client = subprocess.Popen(
        [sys.executable, str(script), "--", *served.argv()], stdout=subprocess.PIPE, text=True, cwd=served.folder
    )
    try:
        assert client.stdout is not None
        assert client.stdout.readline().strip() == "asked"
        (server_pid,) = (int(p) for p in served.pids.read_text().split())
        os.kill(server_pid, signum)
        served.wait_servers_ended(timeout=20)  # (the client is still alive, its stdin pipe open)
        assert client.poll() is None
    finally:
        client.send_signal(signal.SIGKILL)
        client.wait(30)
    assert served.statuses() == {"book": "cancelled"}
