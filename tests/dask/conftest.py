"""A real Dask LocalCluster for the module (2 single-threaded worker processes), driven from one event loop that
outlives the tests, as a kernel's loop does (the executor's asyncio client is bound to it)."""

from __future__ import annotations

import asyncio
import textwrap
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from aether_nb.executors.dask import DaskExecutor, DaskSubmission

T = TypeVar("T")


class KernelLoop:
    """An event loop running in its own thread; ``run(coro)`` executes a test's cell on it, under a timeout."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="kernel loop", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        async def bounded() -> T:
            return await asyncio.wait_for(coro, timeout)

        return asyncio.run_coroutine_threadsafe(bounded(), self.loop).result()

    def close(self) -> None:
        async def cancel_rest() -> None:
            rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(cancel_rest(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def kernel() -> Iterator[KernelLoop]:
    k = KernelLoop()
    yield k
    k.close()


@pytest.fixture(scope="module")
def cluster(kernel: KernelLoop) -> Iterator[DaskExecutor]:
    """``ag.DaskExecutor(n_workers=2, threads_per_worker=1)`` as a user makes it, started once for the module."""
    ex = DaskExecutor(n_workers=2, threads_per_worker=1)  # (its dashboard on loopback by default)
    kernel.run(ex.start(), timeout=110)
    yield ex
    kernel.run(ex.close())


class Counting:
    """Wraps an executor and records every submission (resumed runs must submit nothing already done)."""

    name = "dask"

    def __init__(self, inner: DaskExecutor) -> None:
        self.inner = inner
        self.submitted: list[tuple[str, DaskSubmission]] = []

    def submit(self, fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any], *, label: str) -> DaskSubmission:
        submission = self.inner.submit(fn, args, kwargs, label=label)
        self.submitted.append((label, submission))
        return submission

    @property
    def labels(self) -> list[str]:
        return [label for label, _ in self.submitted]


def cell(source: str, folder: Path) -> dict[str, Any]:
    """Execute ``source`` as a notebook cell would: in a namespace named ``__main__`` (so cloudpickle sends its
    functions by value, and workers never import this test module), from a file of its own as ipykernel does, so
    tracebacks show its lines."""
    path = folder / f"cell_{len(list(folder.glob('cell_*.py')))}.py"
    path.write_text(textwrap.dedent(source))
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace
