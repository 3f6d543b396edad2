"""A Dask-run body that raises with a secret in its message (a key read with ``read_env``, put in an API error):
the error reaches the kernel as before (its type, its remote traceback, its note naming the worker), but never
Dask's logs. Re-raised through Dask, the worker logged it as ``Compute Failed ... Exception: "PermissionError('...
sk-...')"``, and on a local cluster that line went to the kernel's stderr, so into the saved notebook.

Also the other replies that carry a body's data (an unpicklable result, inputs a worker cannot load) and the Dask
key, after each of which the worker and scheduler logs are searched for the secret.
"""

from __future__ import annotations

import os
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.executors.dask import DaskExecutor
from aether_nb.runtime.session import Session
from aether_nb.tools import read_env
from tests.dask.conftest import Counting, KernelLoop, cell

SECRET = "sk-proj-" + "J6aaaabbbbccccddddeeeeffff00001111"
OTHER = "sk-proj-" + "J6ggggbbbbccccddddeeeeffff00002222"  # one per test: logs outlive a test
THIRD = "sk-proj-" + "J6hhhhbbbbccccddddeeeeffff00003333"

TOOLS = '''
import aether_nb as ag


class ApiError(Exception):
    """An exception whose __init__ takes two arguments: rebuilt in the kernel as Dask rebuilds it."""

    def __init__(self, status, detail):
        super().__init__(f"{status}: {detail}")
        self.status = status


@ag.tool(outputs=["y"])
def call_api(q: str, key: str):
    raise PermissionError(f"401 from https://api.example.com/v1?q={q} using key {key}")


@ag.tool(outputs=["y"])
def call_custom(key: str):
    raise ApiError(403, f"key {key} is not allowed")


@ag.tool(outputs=["y", "g"])
def leaky_result(key: str):
    return {"y": 1, "g": (key for _ in range(2))}
'''


@pytest.fixture
def secret_env() -> Iterator[str]:
    name = f"J_SHOP_API_KEY_{uuid.uuid4().hex[:8].upper()}"
    os.environ[name] = SECRET
    yield name
    os.environ.pop(name, None)


async def logged_secret(ex: DaskExecutor, secret: str = SECRET) -> list[str]:
    """Every worker and scheduler log line holding ``secret``."""
    client: Any = ex.client
    workers = await client.get_worker_logs()
    lines = [line for logs in workers.values() for _, line in logs]
    lines += [line for _, line in await client.get_scheduler_logs()]
    return [line for line in lines if secret in line]


def test_a_body_error_holding_a_secret_reaches_the_kernel_but_no_dask_log(
    kernel: KernelLoop, cluster: DaskExecutor, session: Session, tmp_path: Path, secret_env: str
) -> None:
    tools = cell(TOOLS, tmp_path)
    call_api = tools["call_api"]

    @ag.graphify(name="dask_secret_error", inputs=["q"], outputs=["y"])
    def g_secret(q):  # type: ignore[no-untyped-def]
        k = read_env(name=secret_env)
        return {"y": call_api(q=q, key=k.value).y}

    counting = Counting(cluster)

    async def main() -> tuple[ag.Run, BaseException, list[str]]:
        run = g_secret.start(q="shoes", executor=counting, retry=ag.RetryPolicy(max_attempts=2, backoff_s=0))
        with pytest.raises(ag.RunFailed) as failed:
            await run
        return run, failed.value, await logged_secret(cluster)

    run, error, leaked = kernel.run(main(), timeout=90)
    assert leaked == [], leaked
    # The kernel side as before: the body's own exception (type, message), retried per the policy.
    cause = error.__cause__
    assert type(cause) is PermissionError and SECRET in str(cause)
    assert counting.labels == ["call_api", "call_api"]
    node = run.graph.node("call_api_1")
    assert node.status == "FAILED" and node.where is not None and node.where.startswith("tcp://")
    info = node.error
    assert isinstance(info, dict) and info["type"] == "builtins.PermissionError"
    assert 'raise PermissionError(f"401 from' in info["traceback"] and "in call_api" in info["traceback"]
    assert f"aether_nb: raised on Dask worker {node.where}" in info["traceback"]
    assert "<dynamic-code>" not in info["traceback"] and "distributed" not in info["traceback"]
    assert info["traceback"].count('  File "') == 1
    frames = traceback.extract_tb(cause.__traceback__)
    assert any(str(tmp_path) in frame.filename and frame.name == "call_api" for frame in frames)


def test_an_exception_with_its_own_init_comes_back_as_itself_and_no_dask_log_holds_it(
    kernel: KernelLoop, cluster: DaskExecutor, session: Session, tmp_path: Path
) -> None:
    tools = cell(TOOLS, tmp_path)
    call_custom, api_error = tools["call_custom"], tools["ApiError"]

    @ag.graphify(name="dask_custom_error", inputs=["key"], outputs=["y"])
    def g_custom(key):  # type: ignore[no-untyped-def]
        return {"y": call_custom(key=key).y}

    async def main() -> tuple[BaseException, list[str]]:
        with pytest.raises(ag.RunFailed) as failed:
            await g_custom.start(key=OTHER, executor=cluster)
        return failed.value, await logged_secret(cluster, OTHER)

    error, leaked = kernel.run(main(), timeout=90)
    assert leaked == [], leaked
    cause = error.__cause__
    assert type(cause).__name__ == "ApiError" and type(cause).__qualname__ == api_error.__qualname__
    assert str(cause) == f"403: key {OTHER} is not allowed" and getattr(cause, "status", None) == 403


def test_an_unpicklable_result_and_the_dask_key_hold_no_body_data_in_any_dask_log(
    kernel: KernelLoop, cluster: DaskExecutor, session: Session, tmp_path: Path
) -> None:
    tools = cell(TOOLS, tmp_path)
    leaky_result = tools["leaky_result"]

    @ag.graphify(name="dask_unpicklable_secret", inputs=["key"], outputs=["y"])
    def g_result(key):  # type: ignore[no-untyped-def]
        return {"y": leaky_result(key=key).y}

    counting = Counting(cluster)

    async def main() -> tuple[BaseException, list[str]]:
        with pytest.raises(ag.RunFailed) as failed:
            await g_result.start(key=THIRD, executor=counting)
        return failed.value, await logged_secret(cluster, THIRD)

    error, leaked = kernel.run(main(), timeout=90)
    assert leaked == [], leaked
    cause = error.__cause__
    assert isinstance(cause, ag.UsageError) and cause.code == "not_picklable"
    assert "returned output 'g' (generator:" in str(cause)
    (_, submission) = counting.submitted[0]
    assert THIRD not in submission.key and submission.key.startswith("leaky_result-")


BASE = '''
import aether_nb as ag


class Abort(BaseException):
    """The user's own BaseException (no Exception): it failed nothing and the node waited forever."""


@ag.tool(outputs=["y"])
def give_up(x: int):
    raise Abort(f"gave up at {x}")
'''


def test_a_body_raising_a_base_exception_fails_its_node_as_in_the_kernels_threads(
    kernel: KernelLoop, cluster: DaskExecutor, session: Session, tmp_path: Path
) -> None:
    tools = cell(BASE, tmp_path)
    give_up, abort = tools["give_up"], tools["Abort"]

    @ag.graph_fn(name="dask_base_exception", outputs=["y"])
    async def agent(x: int) -> dict[str, Any]:
        return {"y": (await give_up(x))["y"]}

    async def main() -> tuple[ag.Run, BaseException]:
        run = agent.start(x=7, executor=cluster)
        with pytest.raises(BaseException) as raised:  # (as from the kernel's threads: the exception itself)
            await run
        return run, raised.value

    run, error = kernel.run(main(), timeout=90)
    assert type(error) is abort and "gave up at 7" in str(error)
    assert run.status == "failed" and run.graph.node("give_up_1").status == "FAILED"
