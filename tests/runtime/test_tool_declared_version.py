"""``@tool(version=...)`` (AetherGraph's ``tool(outputs, inputs=None, *, name, version)``) is accepted: the declared
version leads the tool's code version, so a resumed run whose tool changed says which versions ran, while an edit
without a bump is still noticed. It ended in a bare ``TypeError: tool() got an unexpected keyword argument``."""

from __future__ import annotations

from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime import session as session_mod
from aether_nb.store.memory import MemoryStore
from tests.conftest import arun, make_session

CELL = 'def priced(x: int) -> dict:\n    return {"y": %s}\npriced = ag.tool(outputs=["y"], version=%r)(priced)\n'


def test_a_declared_version_leads_the_code_version() -> None:
    @ag.tool(outputs=["y"], name="dbl", version="0.1.0")
    def dbl(x: int) -> dict[str, int]:
        return {"y": 2 * x}

    assert dbl(x=3) == {"y": 6}
    assert dbl.declared_version == "0.1.0"
    assert dbl.version.startswith("0.1.0+") and len(dbl.version) > len("0.1.0+")

    @ag.tool(outputs=["y"], name="dbl_plain")
    def dbl_plain(x: int) -> dict[str, int]:
        return {"y": 2 * x}

    assert dbl_plain.declared_version is None and "+" not in dbl_plain.version


def test_same_code_other_declared_version_is_another_version_and_an_edit_is_too() -> None:
    ns: dict[str, Any] = {"ag": ag}
    exec(CELL % ("x", "0.1.0"), ns)
    first = ns["priced"].version
    exec(CELL % ("x", "0.2.0"), ns)
    bumped = ns["priced"].version
    exec(CELL % ("-x", "0.2.0"), ns)  # edited without a bump (AetherGraph's default version is never bumped)
    edited = ns["priced"].version
    assert len({first, bumped, edited}) == 3


@pytest.mark.parametrize("bad", [1.0, "", "   ", "x" * 101, ["0.1"]])
def test_a_version_that_is_no_short_string_is_refused(bad: Any) -> None:
    with pytest.raises(ag.UsageError, match="version= takes a short string"):

        @ag.tool(outputs=["y"], version=bad)
        def f(x: int) -> dict[str, int]:
            return {"y": x}


def test_a_dual_stage_tool_takes_a_declared_version() -> None:
    @ag.tool(outputs=["v"], version="1.2.3")
    class Confirm(ag.DualStageTool, outputs=["v"]):
        async def setup(self, *, context: ag.NodeContext) -> ag.WaitSpec:
            return ag.WaitSpec(kind="text", prompt="ok?")

        async def on_resume(self, payload: Any, *, context: ag.NodeContext) -> dict[str, Any]:
            return {"v": payload}

    assert Confirm.declared_version == "1.2.3" and Confirm.version.startswith("1.2.3+")


@pytest.fixture
def _own_session() -> Any:
    previous = session_mod.set_default_session(None)
    yield
    session_mod.set_default_session(previous)


def test_a_resumed_run_says_which_declared_versions_ran(_own_session: Any) -> None:
    store = MemoryStore()
    ns: dict[str, Any] = {"ag": ag}
    exec(CELL % ("x", "0.1.0"), ns)

    @ag.graph_fn(name="pricing", outputs=["y", "name"])
    async def pricing(x: int, *, context: ag.NodeContext) -> dict[str, Any]:
        y = await ns["priced"](x=x)
        return {"y": y["y"], "name": await context.channel().ask_text("Name?")}

    s, _ = make_session(store)
    session_mod.set_default_session(s)

    async def first() -> None:
        await pricing.start(x=3, run_id="r-ver").wait_for("waiting")

    arun(first())
    exec(CELL % ("x", "0.2.0"), ns)  # the same code, its version bumped, before the resume
    s, _ = make_session(store)
    session_mod.set_default_session(s)
    run = ag.get_run("r-ver")

    async def resume() -> dict[str, Any]:
        await run.answer("Ada")
        return await run

    assert arun(resume()) == {"y": 3, "name": "Ada"}
    (warning,) = [e for e in run.history if e.kind == "warning" and e.code == "tool_changed"]
    assert warning.detail["ran"].startswith("0.1.0+") and warning.detail["now"].startswith("0.2.0+")
