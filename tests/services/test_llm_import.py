"""The first model call of a process imports ``openai`` off the event loop.

Found by a tester: the import (~1 s, more on a busy machine) ran on the kernel's loop at the first LLM call, freezing
it, so the history's write-behind could not write the step that had just ended; a kill in that second made the step
run again after the restart (the README promises 0.2 s). Checked in a fresh interpreter: which thread imports
``openai``, and that the loop kept turning while it was imported.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys, threading
    assert "openai" not in sys.modules
    importers = []

    class Watch:
        def find_spec(self, name, path=None, target=None):
            if name == "openai":
                importers.append(threading.current_thread() is threading.main_thread())
            return None

    sys.meta_path.insert(0, Watch())
    import aether_nb as ag
    from aether_nb.testing import FakeOpenAI

    @ag.graph_fn(outputs=["text"])
    async def ask(*, context):
        text, _ = await context.llm().chat([{"role": "user", "content": "hi"}])
        return {"text": text}

    async def main():
        ticks = 0
        async def ticker():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)
        t = asyncio.create_task(ticker())
        out = await ask()
        t.cancel()
        return out, ticks

    with FakeOpenAI(script=["hello"]) as fake:
        ag.configure(store=":memory:", llm={"base_url": fake.base_url, "model": "m", "api_key": "k"})
        assert "openai" not in sys.modules
        out, ticks = asyncio.run(main())
    print(out["text"], importers, ticks > 50)
    """
)


def test_the_first_llm_call_imports_openai_in_a_worker_thread() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    # imported once, not on the loop's (main) thread; the loop went on turning meanwhile
    assert done.stdout.split() == ["hello", "[False]", "True"], done.stdout + done.stderr[-2000:]
