"""``Run``'s own methods refuse arguments they cannot use with a UsageError saying what to pass."""

from __future__ import annotations

from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from tests.conftest import arun


@ag.graph_fn
async def nothing() -> None:
    return None


@pytest.mark.parametrize(
    ("args", "kw", "said"),
    [
        ((["waiting"],), {}, "separate strings"),
        (({"waiting"},), {}, "separate strings"),
        (("waiting", None), {}, "separate strings"),
        ((), {"timeout": float("nan")}, "timeout="),
        ((), {"timeout": -1}, "timeout="),
        ((), {"timeout": "5"}, "timeout="),
        ((), {"timeout": True}, "timeout="),
    ],
)
def test_wait_for_refuses_what_is_not_a_status_or_a_timeout(
    session: Session, args: tuple[Any, ...], kw: dict[str, Any], said: str
) -> None:
    async def main() -> None:
        run = nothing.start()
        try:
            with pytest.raises(ag.UsageError, match=said):
                await run.wait_for(*args, **kw)
        finally:
            await run

    arun(main())


def test_wait_for_still_takes_statuses_and_timeouts(session: Session) -> None:
    async def main() -> str:
        run = nothing.start()
        return await run.wait_for("succeeded", "failed", timeout=5)

    assert arun(main()) == "succeeded"
