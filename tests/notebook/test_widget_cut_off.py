"""A run whose process died in the middle of a streamed answer or a progress bar: the widget rebuilt from the store
in the next process shows that bubble and that bar as stopped, not typing and moving (nothing will continue them:
a resumed run streams its answer again in a new bubble)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from aether_nb.notebook import static_view
from aether_nb.notebook.widget import RunView
from aether_nb.runtime import session as session_mod
from aether_nb.store.duckdb import DuckDBStore
from tests.conftest import arun, make_session

DIES_MID_STREAM = """
import asyncio, os, sys
import aether_nb as ag

ag.configure(store=sys.argv[1])

@ag.graph_fn(name="letter", outputs=["text"])
async def letter(*, context):
    async with context.channel().progress("Reading the order", total=4) as bar:
        await bar.update(current=1)
        async with context.channel().stream() as s:
            await s.delta("Dear Ada, your order")
            ag.session().flush()  # what the store holds when the kernel dies
            os._exit(0)
    return {"text": "never"}

async def main():
    await letter.start(run_id="letter-1").wait_for("succeeded", timeout=30)

asyncio.run(main())
"""


def test_a_stream_and_a_bar_cut_off_by_a_dead_kernel_show_as_stopped(tmp_path: Path) -> None:
    path = tmp_path / "nb.duckdb"
    script = tmp_path / "dies.py"
    script.write_text(DIES_MID_STREAM)
    subprocess.run([sys.executable, str(script), str(path)], check=True, timeout=120)

    s, _ = make_session(DuckDBStore(path))
    previous = session_mod.set_default_session(s)

    async def rebuilt() -> list[dict[str, object]]:
        run = s.get_run("letter-1")
        assert run.status == "running" and not run.live
        view = RunView(run)
        messages = list(view.widget.messages)
        view.close()
        return messages

    try:
        messages = arun(rebuilt())
    finally:
        session_mod.set_default_session(previous)
        s.store.close()
    shown = {m["type"]: m for m in messages}
    assert shown["stream"]["final"] is True
    assert shown["stream"]["content"]["text"] == "Dear Ada, your order"
    assert shown["stream"]["content"]["stopped"] is True
    assert shown["progress"]["final"] is True and shown["progress"]["content"]["stopped"] is True
    assert "Dear Ada, your order … (stopped)" in static_view.transcript(messages)
