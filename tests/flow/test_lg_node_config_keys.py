"""What a node finds under ``config["configurable"]``: the call's configurable keys and where it runs, as in
LangGraph; not the config's own keys (``tags``, ``callbacks``, ``run_name``, ``max_concurrency``, ``metadata``,
``recursion_limit``), which aether_nb's flat config mixed in (``tags`` showed up there). LangGraph's internal keys
(``__pregel_*``, ``checkpoint_id``, ``checkpoint_map``) are left out of the comparison.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

from tests.flow.conftest import both

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig  # (LangGraph injects the config only under this annotation)


class S(TypedDict):
    x: int


def test_configurable_holds_the_calls_configurable_keys_only() -> None:
    seen: dict[str, Any] = {}

    def build(lib: Any) -> Any:
        def node(s: S, config: RunnableConfig) -> dict[str, Any]:
            keys = {
                k
                for k in config["configurable"]
                if not k.startswith("__") and k not in ("checkpoint_id", "checkpoint_map")
            }
            seen[str(id(lib))] = (sorted(keys), config["configurable"]["user"], list(config.get("tags") or []))
            return {"x": 1}

        b = lib.StateGraph(S)
        b.add_node("n", node)
        b.add_edge(lib.START, "n")
        return b

    def run(lib: Any, app: Any) -> Any:
        config = {
            "configurable": {"thread_id": "t", "user": "ada"},
            "tags": ["mine"],
            "run_name": "nightly",
            "max_concurrency": 3,
            "metadata": {"team": "x"},
            "recursion_limit": 9,
        }
        app.invoke({"x": 0}, config)
        return seen.pop(str(id(lib)))

    theirs, mine = both(build, run)
    assert mine == theirs == (["checkpoint_ns", "thread_id", "user"], "ada", ["mine"])
