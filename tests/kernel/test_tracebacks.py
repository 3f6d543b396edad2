"""What a cell shows when aether_nb itself says no: the verdict, not the runtime's frames."""

from __future__ import annotations

import re

import pytest

from tests.kernel_client import Kernel

pytestmark = pytest.mark.kernel

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_a_verdict_on_the_agents_return_value_shows_without_the_runtimes_frames(kernel: Kernel) -> None:
    """The run failed because the agent returned an output it did not declare: the cell showed the frames of
    run.py, graph_fn.py and tools.py above the message, none of them the person's."""
    kernel.ok("%load_ext aether_nb\nimport aether_nb as ag")
    res = kernel.run(
        "@ag.graph_fn(name='keeper', outputs=['uri'])\n"
        "async def keeper(*, context):\n"
        "    return {'uri': 'x', 'listed': []}\n"
        "await keeper()\n"
    )
    assert res.error is not None
    shown = ANSI.sub("", "\n".join(res.error["traceback"]))
    assert "returned undeclared output(s) ['listed']" in shown
    assert "aether_nb/runtime" not in shown and "aether_nb/notebook" not in shown, shown
    assert "await keeper()" in shown, "the cell's own line stays"


def test_a_failed_runs_error_output_holds_no_secret(kernel: Kernel) -> None:
    """A tool's error repeats the API key the session knows (a 401 message): the widget and the store redact it,
    and so must the cell's error output, which is saved with the notebook — its last line (RunFailed's message,
    ``evalue``) and the chained cause's lines alike."""
    key = "sk-proj-PLANTEDsecret1234567890abcdefXYZ"
    kernel.ok(
        "%load_ext aether_nb\nimport aether_nb as ag\n"
        f"ag.configure(llm={{'base_url': 'http://127.0.0.1:9/v1', 'model': 'm', 'api_key': {key!r}}})\n"
        "@ag.tool(outputs=['status'])\n"
        "def call_api(endpoint: str) -> dict:\n"
        f"    raise PermissionError(f'401 from {{endpoint}}: key {key} was rejected')\n"
        "@ag.graph_fn(name='leaky', outputs=['status'])\n"
        "async def leaky(*, context):\n"
        "    return await call_api('https://api.example.test/v1')\n"
    )
    res = kernel.run("await leaky()")
    assert res.error is not None
    shown = ANSI.sub("", "\n".join(res.error["traceback"]))
    assert res.error["ename"] == "RunFailed"
    assert "key [REDACTED] was rejected" in res.error["evalue"] and "key [REDACTED] was rejected" in shown
    assert key not in shown and key not in res.error["evalue"]
    assert "PermissionError" in shown, "the cause is still shown"


def test_an_error_caused_by_an_exception_group_is_an_error_output_of_the_users_frames(kernel: Kernel) -> None:
    """An MCP server that exits at once: the SDK's task groups wrap "Connection closed" in nested ExceptionGroups,
    the cause of aether_nb's MCPError. IPython cannot draw a group in a chain: it printed Python's traceback of
    everything (the SDK's and aether_nb's frames) as a stderr stream, with no error output."""
    kernel.ok("%load_ext aether_nb\nimport aether_nb as ag")
    res = kernel.run("calc = await ag.mcp.connect('calc', command=['python', '-c', 'import sys; sys.exit(3)'])")
    assert res.error is not None, res.stdout
    assert res.error["ename"] == "MCPError"
    assert "Exception Group Traceback" not in res.stdout and "aether_nb/" not in res.stdout
    shown = ANSI.sub("", "\n".join(res.error["traceback"]))
    assert "could not connect to MCP server 'calc'" in shown
    assert "aether_nb/mcp" not in shown and "aether_nb/notebook" not in shown, shown
    assert "Connection closed" in shown


def test_a_group_a_users_tool_raised_shows_each_of_its_errors_with_the_users_lines(kernel: Kernel) -> None:
    """A tool whose TaskGroup failed twice: the failed run's cause is an ExceptionGroup. Both errors and the lines of
    the person's code that raised them are shown; the runtime's and asyncio's frames are not."""
    kernel.ok("%load_ext aether_nb\nimport aether_nb as ag\nimport asyncio")
    kernel.ok(
        "async def fetch(n):\n"
        "    raise ValueError(f'page {n} is gone')\n"
        "@ag.tool(outputs=['pages'])\n"
        "async def fetch_all() -> dict:\n"
        "    async with asyncio.TaskGroup() as tg:\n"
        "        tg.create_task(fetch(1))\n"
        "        tg.create_task(fetch(2))\n"
        "    return {'pages': []}\n"
        "@ag.graph_fn(name='pages', outputs=['pages'])\n"
        "async def pages(*, context):\n"
        "    return await fetch_all()\n"
    )
    res = kernel.run("await pages()")
    assert res.error is not None, res.stdout
    assert "Exception Group Traceback" not in res.stdout
    shown = ANSI.sub("", "\n".join(res.error["traceback"]))
    assert "ValueError: page 1 is gone" in shown and "ValueError: page 2 is gone" in shown, shown
    assert "raise ValueError(f'page {n} is gone')" in shown, shown
    assert "asyncio/" not in shown and "aether_nb/runtime" not in shown, shown
