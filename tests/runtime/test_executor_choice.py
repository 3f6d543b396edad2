"""A string given as an executor: only ``"local"`` is one, and only where a body may be pinned to this process's
threads; the message says so, and how to get a Dask cluster (executors are objects, not names)."""

from __future__ import annotations

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session


def double(x: int) -> dict[str, int]:
    return {"y": x * 2}


def test_a_named_executor_is_refused_with_what_is_allowed(session: Session) -> None:
    for attempt in (lambda: ag.tool(executor="dask")(double), lambda: ag.configure(executor="dask")):
        with pytest.raises(ag.UsageError) as caught:
            attempt()
        message = str(caught.value)
        assert caught.value.code == "bad_executor" and "got the string 'dask'" in message
        assert '"local" (this process\'s threads) in @ag.tool(executor=...) and ag.configure(executor=...)' in message
        assert "ex = ag.DaskExecutor(n_workers=2), and pass executor=ex" in message
    ag.configure(executor="local")  # allowed where documented
    assert ag.tool(executor="local")(double).executor is not None


def test_an_object_that_is_no_executor_names_its_type(session: Session) -> None:
    with pytest.raises(ag.UsageError, match=r"executor must be an executor object .*; got object$"):
        ag.configure(executor=object())
