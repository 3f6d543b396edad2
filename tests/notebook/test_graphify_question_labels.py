"""A ``@graphify`` graph's question node shows its question, as an agent's does (found by a tester in JupyterLab).

Its ``ask_approval`` node showed the raw argument preview ``prompt='Place order **o1…`` (markdown and all) in the
live DAG and in the saved SVG, where a ``graph_fn`` run's node showed "Place order o1 for 65 EUR?".
"""

from __future__ import annotations

import shutil
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.notebook.static_view import static_svg
from aether_nb.notebook.widget import RunView
from aether_nb.runtime.session import Session
from aether_nb.tools import ask_approval, ask_text
from tests.conftest import arun

QUESTION = "Place order **o1** for 65 EUR?"
SHOWN = "Place order o1 for 65 EUR?"


@ag.tool(outputs=["ok"])
def place_order(order: str) -> dict[str, bool]:
    return {"ok": True}


@ag.graphify(name="orders_static", inputs=["order"], outputs=["ok"])
def orders_static(order: Any) -> Any:
    approval = ask_approval(prompt=QUESTION)
    placed = place_order(order=order, _condition={"op": "eq", "left": approval.approved, "right": True})
    return {"ok": placed.ok}


@ag.graphify(name="named_static", inputs=["x"], outputs=["text"])
def named_static(x: Any) -> Any:
    return {"text": ask_text(prompt="Your `name`?").text}


@ag.graph_fn(name="orders_fn", outputs=["ok"])
async def orders_fn(*, context: ag.NodeContext) -> dict[str, Any]:
    approved, _ = await context.channel().ask_approval(QUESTION)
    return {"ok": approved}


def _labels_and_svg(agent: Any, **inputs: Any) -> tuple[dict[str, str], str | None]:
    async def main() -> tuple[dict[str, str], str | None]:
        run = agent.start(**inputs)
        view = RunView(run)
        await run.wait_for("waiting", timeout=15)
        view.flush()
        graph = view.widget.graph
        labels = {str(n["id"]): str(n["label"]) for n in graph["nodes"]}
        svg = await static_svg(graph)
        run.cancel()
        view.close()
        return labels, svg

    return arun(main())


def test_a_graphify_question_node_shows_its_question_as_an_agent_s_does(session: Session) -> None:
    fn_labels, _ = _labels_and_svg(orders_fn)
    labels, svg = _labels_and_svg(orders_static, order="o1")
    assert fn_labels["ask_approval_1"] == SHOWN
    assert labels["ask_approval_1"] == SHOWN, labels  # it said "prompt='Place order **o1** …"
    assert _labels_and_svg(named_static, x=1)[0]["ask_text_1"] == "Your name?"
    if shutil.which("dot") is None:
        pytest.skip("graphviz dot is not installed: the saved SVG is not drawn")
    assert svg is not None and SHOWN in svg and "prompt=" not in svg and "**" not in svg, svg
