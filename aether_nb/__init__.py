"""aether_nb: interactive AI agents that run on the notebook's own event loop.

The public API (pinned by ``tests/test_public_api.py``)::

    import aether_nb as ag

    @ag.tool(outputs=["y"])
    def double(x: int) -> dict: return {"y": x * 2}

    @ag.graph_fn(outputs=["answer"])
    async def demo(x: int, *, context: ag.NodeContext):
        d = await double(x)
        await context.channel().send_text(f"Answer: {d['y']}")
        return {"answer": d["y"]}

    await demo(x=21)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aether_nb import errors
from aether_nb.config import configure, get_run, register_context_service, runs, session, store
from aether_nb.errors import (
    AetherError,
    InvalidAnswer,
    LLMError,
    LLMOutputError,
    ReplayMismatch,
    RunCancelled,
    RunError,
    RunFailed,
    StepTimeout,
    StorageError,
    UsageError,
    WaitTimeout,
)

if TYPE_CHECKING:
    from aether_nb import mcp as mcp
    from aether_nb.executors.dask import DaskExecutor
    from aether_nb.runtime.context import NodeContext, Service
    from aether_nb.runtime.effects import effect, pure
    from aether_nb.runtime.events import Event
    from aether_nb.runtime.executors import Executor, ThreadExecutor
    from aether_nb.runtime.graph import GraphNode, RunGraph
    from aether_nb.runtime.graph_fn import GraphFn, graph_fn
    from aether_nb.runtime.graphify import GraphifyFn, graphify, run
    from aether_nb.runtime.run import Run
    from aether_nb.runtime.scheduler import RetryPolicy
    from aether_nb.runtime.taskgraph import REQUIRED, TaskGraph
    from aether_nb.runtime.tools import DualStageTool, Tool, tool
    from aether_nb.runtime.waits import Wait, WaitSpec
    from aether_nb.services import ApprovalResult, Artifact, ChoiceResult, ConsoleChannel, FileRef
    from aether_nb.services.llm_config import LLMProfile

# The rest of the public names are loaded on first use (PEP 562), so ``import aether_nb`` stays cheap (W6): the
# errors and the session functions above are all it imports eagerly. ``from aether_nb import X`` and ``ag.X`` work
# as before; type checkers see the imports above.
_LAZY: dict[str, str] = {
    "DaskExecutor": "aether_nb.executors.dask",
    "NodeContext": "aether_nb.runtime.context",
    "Service": "aether_nb.runtime.context",
    "effect": "aether_nb.runtime.effects",
    "pure": "aether_nb.runtime.effects",
    "Executor": "aether_nb.runtime.executors",
    "ThreadExecutor": "aether_nb.runtime.executors",
    "REQUIRED": "aether_nb.runtime.taskgraph",
    "Event": "aether_nb.runtime.events",
    "GraphNode": "aether_nb.runtime.graph",
    "RunGraph": "aether_nb.runtime.graph",
    "GraphFn": "aether_nb.runtime.graph_fn",
    "graph_fn": "aether_nb.runtime.graph_fn",
    "GraphifyFn": "aether_nb.runtime.graphify",
    "graphify": "aether_nb.runtime.graphify",
    "run": "aether_nb.runtime.graphify",
    "Run": "aether_nb.runtime.run",
    "RetryPolicy": "aether_nb.runtime.scheduler",
    "TaskGraph": "aether_nb.runtime.taskgraph",
    "DualStageTool": "aether_nb.runtime.tools",
    "Tool": "aether_nb.runtime.tools",
    "tool": "aether_nb.runtime.tools",
    "Wait": "aether_nb.runtime.waits",
    "WaitSpec": "aether_nb.runtime.waits",
    "ApprovalResult": "aether_nb.services.channel",
    "Artifact": "aether_nb.services.artifacts",
    "ChoiceResult": "aether_nb.services.channel",
    "ConsoleChannel": "aether_nb.services.console",
    "FileRef": "aether_nb.services.channel",
    "LLMProfile": "aether_nb.services.llm_config",
}


if not TYPE_CHECKING:  # type checkers see the imports above, and no catch-all __getattr__
    from aether_nb._lazy import lazy_getattr

    _lazy_name = lazy_getattr(globals(), _LAZY)

    def __getattr__(name):
        if name == "mcp":  # the subpackage (ag.mcp.connect); the MCP SDK itself loads on first connection
            from importlib import import_module

            return import_module("aether_nb.mcp")
        return _lazy_name(name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__version__ = "0.1.0"


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext aether_nb``: the notebook's store, live run widgets, the in-cell chat and ``%aether``."""
    from aether_nb.notebook.extension import load

    load(ipython)


def unload_ipython_extension(ipython: object) -> None:
    """``%unload_ext aether_nb``: remove the hooks ``%load_ext`` installed."""
    from aether_nb.notebook.extension import unload

    unload(ipython)


__all__ = [
    "REQUIRED",
    "AetherError",
    "ApprovalResult",
    "Artifact",
    "ChoiceResult",
    "ConsoleChannel",
    "DaskExecutor",
    "DualStageTool",
    "Event",
    "Executor",
    "FileRef",
    "GraphFn",
    "GraphNode",
    "GraphifyFn",
    "InvalidAnswer",
    "LLMError",
    "LLMOutputError",
    "LLMProfile",
    "NodeContext",
    "ReplayMismatch",
    "RetryPolicy",
    "Run",
    "RunCancelled",
    "RunError",
    "RunFailed",
    "RunGraph",
    "Service",
    "StepTimeout",
    "StorageError",
    "TaskGraph",
    "ThreadExecutor",
    "Tool",
    "UsageError",
    "Wait",
    "WaitSpec",
    "WaitTimeout",
    "__version__",
    "configure",
    "effect",
    "errors",
    "get_run",
    "graph_fn",
    "graphify",
    "pure",
    "register_context_service",
    "run",
    "runs",
    "session",
    "store",
    "tool",
]
