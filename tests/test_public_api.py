"""The public surface is small and deliberate: this test pins it, and the runtime's import boundary."""

from __future__ import annotations

import subprocess
import sys

import aether_nb as ag

EXPECTED = {
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
    "REQUIRED",
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
}


def test_exported_members() -> None:
    assert set(ag.__all__) == EXPECTED
    for name in ag.__all__:
        assert hasattr(ag, name), name


def test_error_tree() -> None:
    assert issubclass(ag.UsageError, ag.AetherError)
    assert issubclass(ag.InvalidAnswer, ag.UsageError)
    for cls in (ag.RunFailed, ag.RunCancelled, ag.WaitTimeout, ag.ReplayMismatch):
        assert issubclass(cls, ag.RunError) and issubclass(cls, ag.AetherError)
    assert issubclass(ag.StorageError, ag.AetherError)
    e = ag.RunFailed("x", run_id="r", node_id="n", code="c")
    assert (e.run_id, e.node_id, e.code) == ("r", "n", "c")
    assert ag.UsageError("x").code == "usage"


def test_import_stays_light_and_the_runtime_stays_pure() -> None:
    """``import aether_nb`` pulls in none of the heavy libraries; the runtime imports none of them at all."""
    heavy = ["IPython", "ipywidgets", "anywidget", "duckdb", "openai", "jsonschema", "graphviz", "distributed"]
    code = (
        "import sys, aether_nb, aether_nb.runtime.graph_fn, aether_nb.runtime.tools; "
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
