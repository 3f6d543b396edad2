"""The promoted graph's name: None gives ``<agent>_static``; anything else must be an identifier string.

``run.promote(0)`` and ``run.promote("")`` used the default name silently, and a NumPy array failed on its truth
value."""

from __future__ import annotations

import numpy as np
import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from tests.conftest import finished_run


@ag.tool(outputs=["y"])
def pn_double(x: int) -> dict[str, int]:
    return {"y": x * 2}


@ag.graph_fn(outputs=["y"])
async def pn_agent(x: int) -> dict[str, int]:
    return await pn_double(x)


@pytest.mark.parametrize("name", [0, "", np.array(["a", "b"]), np.array(["ok"]), 5.0, "not ident", "class"])
def test_a_promoted_name_that_is_no_identifier_is_refused(session: Session, name: object) -> None:
    run = finished_run(pn_agent, x=2)
    with pytest.raises(ag.UsageError, match="must be an identifier string"):
        run.promote(name)  # type: ignore[arg-type]
    with pytest.raises(ag.UsageError, match="must be an identifier string"):
        run.to_taskgraph(name)


def test_no_name_is_the_agents_name_static(session: Session) -> None:
    run = finished_run(pn_agent, x=2)
    assert "def pn_agent_static(" in run.promote()
    assert "def mine(" in run.promote("mine")
    assert run.to_taskgraph().name == "pn_agent_static"
