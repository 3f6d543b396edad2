"""An MCP server's timeouts must be positive, finite numbers of seconds: NaN compares false with everything, so
``call_timeout_s=nan`` passed a ``<= 0`` check and every call then timed out at once."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import aether_nb as ag
from aether_nb.mcp.spec import make_spec
from aether_nb.runtime.session import Session
from tests.conftest import arun
from tests.mcp.conftest import starts

BAD = [math.nan, math.inf, -math.inf, 0, -1, 10**400, True, "30"]


@pytest.mark.parametrize("option", ["timeout_s", "call_timeout_s"])
@pytest.mark.parametrize("value", BAD, ids=repr)
def test_a_timeout_that_is_not_a_positive_finite_number_is_refused(option: str, value: object) -> None:
    with pytest.raises(ag.UsageError, match=f"{option} must be a positive, finite number of seconds"):
        make_spec("calc", {"command": ["python", "server.py"], option: value})


def test_good_timeouts_are_kept(calc_command: list[str]) -> None:
    spec = make_spec("calc", {"command": calc_command, "timeout_s": 2, "call_timeout_s": 0.5})
    assert (spec.timeout_s, spec.call_timeout_s) == (2.0, 0.5)
    assert make_spec("calc", {"command": calc_command, "call_timeout_s": None}).call_timeout_s is None


def test_connect_and_configure_refuse_nan_before_starting_the_server(
    session: Session, calc_command: list[str], calls: Path
) -> None:
    async def main() -> None:
        with pytest.raises(ag.UsageError, match=r"call_timeout_s must be a positive, finite number.*None: no limit"):
            await ag.mcp.connect("calc", command=calc_command, call_timeout_s=math.nan)
        with pytest.raises(ag.UsageError, match="timeout_s must be a positive, finite number"):
            await ag.mcp.connect("calc", command=calc_command, timeout_s=math.nan)

    arun(main())
    with pytest.raises(ag.UsageError, match="call_timeout_s must be a positive, finite number"):
        ag.configure(mcp={"calc": {"command": calc_command, "call_timeout_s": math.nan}})
    assert starts(calls) == 0


def test_a_short_finite_call_timeout_still_lets_a_quick_call_through(session: Session, calc_command: list[str]) -> None:
    async def main() -> dict[str, object]:
        calc = await ag.mcp.connect("calc", command=calc_command, call_timeout_s=30)
        try:
            return dict(await calc.tools["add"](a=1, b=2))
        finally:
            await calc.close()

    assert arun(main(), timeout=60) == {"result": 3}
