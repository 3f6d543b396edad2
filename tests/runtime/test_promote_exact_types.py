"""Promotion matches values by exact type: ``1 == True == 1.0`` in Python, but an int output is never bound to an
earlier tool's bool (or float) that merely compares equal, and the promotion's own check compares by type too.
"""

from __future__ import annotations

from typing import Any

import aether_nb as ag
from aether_nb.runtime.session import Session
from tests.conftest import arun


@ag.tool(outputs=["sent"])
def notify(to: str) -> dict[str, bool]:
    return {"sent": True}


@ag.tool(outputs=["ratio"])
def ratio(x: int) -> dict[str, float]:
    return {"ratio": float(x)}


@ag.graph_fn(name="mailer_counts", outputs=["count"])
async def mailer(people: list[str]) -> dict[str, int]:
    n = 0
    for p in people:
        await notify(p)
        n += 1
    return {"count": n}


@ag.graph_fn(name="scaler_exact", outputs=["n", "nested"])
async def scaler(x: int) -> dict[str, Any]:
    r = await ratio(x)
    n = int(r["ratio"])
    return {"n": n, "nested": [n, {"k": n}]}


def test_an_int_output_is_not_an_earlier_tools_true(session: Session) -> None:
    async def main() -> tuple[str, dict[str, Any], dict[str, Any]]:
        run = mailer.start(people=["ann"])
        out = await run
        source = run.promote("mailer_static")
        namespace: dict[str, Any] = {"ag": ag, "notify": notify}
        exec(source, namespace)
        return source, out, await namespace["mailer_static"](people=["bob"])

    source, out, promoted = arun(main())
    assert "notify_1.sent" not in source.split("return", 1)[1], source
    assert out == {"count": 1} and promoted == {"count": 1}
    assert type(promoted["count"]) is int


def test_an_int_is_not_an_equal_float_inside_containers_either(session: Session) -> None:
    async def main() -> tuple[str, dict[str, Any]]:
        run = scaler.start(x=1)
        await run
        source = run.promote("scaler_static")
        namespace: dict[str, Any] = {"ag": ag, "ratio": ratio}
        exec(source, namespace)
        return source, await namespace["scaler_static"](x=1)

    source, promoted = arun(main())
    assert "ratio_1.ratio" not in source.split("return", 1)[1], source
    assert promoted["n"] == 1 and type(promoted["n"]) is int, source
    assert type(promoted["nested"][0]) is int and type(promoted["nested"][1]["k"]) is int, source
