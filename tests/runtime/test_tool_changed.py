"""A resumed run whose completed step's tool was redefined reuses the recorded result (every effect once) and says
so: a ``tool_changed`` RunWarning naming the tool and the step, and the node keeps the version that made it."""

from __future__ import annotations

from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime import session as session_mod
from aether_nb.store.memory import MemoryStore
from tests.conftest import arun, make_session

CELL = (
    'def shifty(x: int) -> dict:\n    calls.append("%s")\n    return {"y": %s}\n'
    'shifty = ag.tool(outputs=["y"])(shifty)\n'
)


@pytest.fixture(autouse=True)
def _reset() -> Any:
    previous = session_mod.set_default_session(None)
    yield
    session_mod.set_default_session(previous)


def _first_execution(store: MemoryStore, namespace: dict[str, Any]) -> Any:
    """Define the tool and an agent using it; start the run and let the loop end while it waits (a kernel dying)."""
    exec(CELL % ("v1", "x"), namespace)  # a notebook cell defines the tool ...
    shifty = namespace["shifty"]

    @ag.graph_fn(name="shifting", outputs=["y", "name"])
    async def shifting(x: int, *, context: ag.NodeContext) -> dict[str, Any]:
        y = await namespace["shifty"](x=x)
        name = await context.channel().ask_text("Name?")
        return {"y": y["y"], "name": name}

    s, _ = make_session(store)
    session_mod.set_default_session(s)

    async def main() -> None:
        run = shifting.start(x=3, run_id="r1")
        await run.wait_for("waiting")

    arun(main())
    assert namespace["calls"] == ["v1"]
    return shifty, shifting


def _resume() -> tuple[dict[str, Any], list[Any], Any]:
    s, _ = make_session(_resume.store)  # type: ignore[attr-defined]
    session_mod.set_default_session(s)
    run = ag.get_run("r1")

    async def main() -> dict[str, Any]:
        await run.answer("Ada")
        return await run

    out = arun(main())
    return out, [e for e in run.history if e.kind == "warning"], run  # the run held, as a notebook's variable


def test_a_redefined_tool_is_replayed_and_the_run_says_so() -> None:
    store = MemoryStore()
    namespace: dict[str, Any] = {"ag": ag, "calls": []}
    old, _ = _first_execution(store, namespace)
    exec(CELL % ("v2", "-x"), namespace)  # ... and is run again with other code before the resume
    new = namespace["shifty"]
    assert old.version != new.version
    _resume.store = store  # type: ignore[attr-defined]
    out, warnings, held = _resume()
    assert out == {"y": 3, "name": "Ada"}  # the recorded result, not the new code's -3
    assert namespace["calls"] == ["v1"]  # exactly once: the new code did not run
    (warning,) = [w for w in warnings if w.code == "tool_changed"]
    assert warning.node_id == "shifty_1"
    assert warning.detail == {"tool": "shifty", "step": "shifty_1", "ran": old.version, "now": new.version}
    assert "tool shifty changed since step shifty_1 ran; its recorded result was reused, not re-run" in warning.message
    run = ag.get_run("r1")
    assert run is held  # the live object while someone holds it
    node = run.graph.node("shifty_1")
    assert node.replayed and node.meta == {"tool_version": old.version}  # the version that made the result
    assert warning.message in node.warnings


def test_an_unchanged_tool_replays_without_a_warning() -> None:
    store = MemoryStore()
    namespace: dict[str, Any] = {"ag": ag, "calls": []}
    _first_execution(store, namespace)
    exec(CELL % ("v1", "x"), namespace)  # the same cell run again: same code, same version
    _resume.store = store  # type: ignore[attr-defined]
    out, warnings, _ = _resume()
    assert out == {"y": 3, "name": "Ada"} and namespace["calls"] == ["v1"]
    assert [w for w in warnings if w.code == "tool_changed"] == []


def test_a_run_that_left_memory_says_it_too_when_resumed_in_the_same_process() -> None:
    """A parked run evicted from memory does not read its history back when an answer resumes it: the version
    its tool step ran with is kept when it leaves memory, so the resume still says the tool changed."""
    store = MemoryStore()
    namespace: dict[str, Any] = {"ag": ag, "calls": []}
    exec(CELL % ("v1", "x"), namespace)
    old = namespace["shifty"]

    @ag.graph_fn(name="shifting_evicted", outputs=["y", "name"])
    async def shifting(x: int, *, context: ag.NodeContext) -> dict[str, Any]:
        y = await namespace["shifty"](x=x)
        name = await context.channel().ask_text("Name?")
        return {"y": y["y"], "name": name}

    s, _ = make_session(store)
    session_mod.set_default_session(s)

    async def main() -> tuple[dict[str, Any], list[Any]]:
        run = shifting.start(x=3, run_id="r-evicted")
        await run.wait_for("waiting")
        run.evict()
        assert not run.live
        exec(CELL % ("v2", "-x"), namespace)  # the tool's cell changed while the run was out of memory
        await run.answer("Ada")
        out = await run
        return out, [e for e in run.history if e.kind == "warning"]

    out, warnings = arun(main())
    new = namespace["shifty"]
    assert out == {"y": 3, "name": "Ada"} and namespace["calls"] == ["v1"]
    (warning,) = [w for w in warnings if w.code == "tool_changed"]
    assert warning.detail == {"tool": "shifty", "step": "shifty_1", "ran": old.version, "now": new.version}
