"""``ag.Service`` as AetherGraph's examples use it: ``async with self._lock:`` (also in a subclass that does not
call ``super().__init__()``), ``self.critical()`` as a decorator, and ``await self.run_blocking(fn, ...)``."""

from __future__ import annotations

import asyncio
import pickle
import threading
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from tests.conftest import arun


class Materials(ag.Service):
    """AetherGraph's method_showcase/6_extending_services/1_material_db.py, imports changed."""

    def __init__(self, table: dict[str, dict[float, float]]) -> None:
        super().__init__()
        self._table = table

    def get_n(self, name: str, wl: float) -> float:
        d = self._table[name]
        return float(d[min(d, key=lambda x: abs(x - wl))])

    async def add_sample(self, name: str, wl: float, n: float) -> None:
        async with self._lock:
            current = dict(self._table.get(name, {}))
            await asyncio.sleep(0)  # (yield inside: without the lock, concurrent samples overwrite each other)
            current[float(wl)] = float(n)
            self._table[name] = current


class NoSuperInit(ag.Service):
    def __init__(self) -> None:  # no super().__init__(): the lock is still there
        self.value = 0

    async def incr(self) -> int:
        async with self._lock:
            v = self.value
            await asyncio.sleep(0)
            self.value = v + 1
            return self.value


class DecoratedCounter(ag.Service):
    def __init__(self) -> None:
        super().__init__()
        self._value = 0
        self.incr = self.critical()(self.incr)  # type: ignore[method-assign]  # (AetherGraph's spelling)

    async def incr(self, n: int = 1) -> int:
        v = self._value
        await asyncio.sleep(0)
        self._value = v + n
        return self._value


def test_a_services_lock_is_a_real_lock_from_its_base_init(session: Session) -> None:
    ag.register_context_service("materials", Materials({"BK7": {550.0: 1.5168}}))

    @ag.graph_fn(name="materials_demo", outputs=["n_550", "n_601", "n_700"])
    async def materials_demo(*, context: ag.NodeContext) -> dict[str, Any]:
        await asyncio.gather(
            context.materials().add_sample("BK7", 600.0, 1.516), context.materials().add_sample("BK7", 700.0, 1.513)
        )
        m = context.materials()
        return {"n_550": m.get_n("BK7", 550.0), "n_601": m.get_n("BK7", 601.0), "n_700": m.get_n("BK7", 700.0)}

    assert arun(materials_demo()) == {"n_550": 1.5168, "n_601": 1.516, "n_700": 1.513}


def test_a_subclass_without_super_init_has_the_lock_too(session: Session) -> None:
    ag.register_context_service("nosuper", NoSuperInit())

    @ag.graph_fn(name="nosuper_demo", outputs=["value"])
    async def nosuper_demo(*, context: ag.NodeContext) -> dict[str, Any]:
        await asyncio.gather(*(context.nosuper().incr() for _ in range(50)))
        return {"value": context.nosuper().value}

    assert arun(nosuper_demo()) == {"value": 50}


def test_critical_as_a_decorator_and_as_a_context_manager(session: Session) -> None:
    ag.register_context_service("counter", DecoratedCounter())

    @ag.graph_fn(name="counter_demo", outputs=["final"])
    async def counter_demo(*, context: ag.NodeContext) -> dict[str, Any]:
        async def worker() -> None:
            for _ in range(20):
                await context.counter.incr(1)

        await asyncio.gather(*(worker() for _ in range(5)))
        async with context.counter().critical():  # (a live object: not a journaled call)
            pass
        return {"final": await context.counter.incr(0)}

    async def main() -> tuple[dict[str, Any], list[Any]]:
        run = counter_demo.start()
        out = await run
        return out, [e for e in run.history if e.kind == "warning"]

    out, warnings = arun(main())
    assert out == {"final": 100}
    assert warnings == []  # critical() and ctx() hand back live objects: not steps that could not be stored


def test_run_blocking_runs_the_function_in_a_worker_thread(session: Session) -> None:
    loop_thread: list[int] = []

    class Files(ag.Service):
        async def read(self, x: int) -> dict[str, Any]:
            loop_thread.append(threading.get_ident())
            return await self.run_blocking(lambda y: {"y": y * 2, "thread": threading.get_ident()}, x)

    ag.register_context_service("files", Files())

    @ag.graph_fn(name="blocking_demo", outputs=["y", "other_thread"])
    async def blocking_demo(*, context: ag.NodeContext) -> dict[str, Any]:
        got = await context.files.read(21)
        return {"y": got["y"], "other_thread": got["thread"] != loop_thread[0]}

    assert arun(blocking_demo()) == {"y": 42, "other_thread": True}


def test_run_blocking_refuses_what_it_cannot_call() -> None:
    try:
        arun(ag.Service().run_blocking(42))  # type: ignore[arg-type]
    except ag.UsageError as exc:
        assert "takes a function to call" in str(exc)
    else:
        raise AssertionError("run_blocking(42) was accepted")


def test_a_service_pickles_after_its_lock_was_used() -> None:
    service = NoSuperInit()
    assert arun(service.incr()) == 1
    copy = pickle.loads(pickle.dumps(service))
    assert copy.value == 1 and arun(copy.incr()) == 2


def test_a_class_or_none_is_refused_with_what_to_register(session: Session) -> None:
    """Registering the class instead of an instance (or a factory's None) was taken: the first call in a run then
    failed far from the mistake (``Weather.now('Oslo')`` ran with ``'Oslo'`` as ``self``; ``None`` had no method)."""

    class Weather:
        def now(self, city: str) -> str:
            return f"sunny in {city}"

    with pytest.raises(ag.UsageError, match=r"got a class; register an instance, e\.g\. Weather\(\)") as err:
        ag.register_context_service("weather", Weather)
    assert err.value.code == "service_class"
    with pytest.raises(ag.UsageError, match="register the service object itself"):
        ag.register_context_service("weather", None)

    ag.register_context_service("weather", Weather())  # the instance works as before

    @ag.graph_fn(outputs=["w"])
    async def forecast(*, context: ag.NodeContext) -> dict[str, str]:
        return {"w": context.svc("weather").now("Oslo")}

    assert arun(forecast()) == {"w": "sunny in Oslo"}
