"""Fuzzing what users type: every public entry point, fed odd values, fails only with an aether_nb error.

Each property feeds generated values (surrogates, NUL, NaN, huge or deep values, wrong types, lambdas...) to one
entry point and asserts that it either works or raises an :class:`aether_nb.AetherError` (a ``TypeError`` is
accepted only for a call with a wrong *signature*, as Python itself raises it). Runs never hang (every test runs
under a timeout), and afterwards the store is still readable and holds every run that was started.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import aether_nb as ag
from aether_nb.runtime import session as session_mod
from aether_nb.runtime.session import Session
from aether_nb.store.duckdb import DuckDBStore
from tests.conftest import arun, make_session

# No shrinking: a failing example is reported as found. One example that hits the per-test timeout must fail the
# test once, not be replayed over and over by the shrinker (each replay waiting for the timeout again).
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)


class Deep:
    """Stands for a list nested ``n`` deep (built only when used: hypothesis cannot print such a value)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __repr__(self) -> str:
        return f"Deep({self.n})"

    def build(self) -> Any:
        value: Any = "x"
        for _ in range(self.n):
            value = [value]
        return value


def real(value: Any) -> Any:
    """``value`` with its :class:`Deep` markers replaced by the deep lists they stand for."""
    if isinstance(value, Deep):
        return value.build()
    if isinstance(value, list):
        return [real(v) for v in value]
    if isinstance(value, dict):
        return {k: real(v) for k, v in value.items()}
    return value


ODD_TEXT = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["", " ", "\x00", "a\x00b", "\ud800", "x\udfff", "é", "/", "..", "a/b", "💥" * 3, "x" * 5000]),
)
ATOMS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    ODD_TEXT,
    st.binary(max_size=20),
    st.sampled_from([object(), lambda: 1, print, type, math.inf, -0.0, (), frozenset({1}), {1, 2}, Path("/tmp")]),
)
VALUES = st.one_of(
    st.recursive(
        ATOMS,
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(ODD_TEXT, inner, max_size=4)),
        max_leaves=12,
    ),
    st.sampled_from([Deep(300), Deep(10_000), {"k": Deep(5000)}]),
)


def allowed(exc: BaseException, *, signature_ok: bool = False) -> bool:
    """An error users may see: from the aether_nb tree (or a TypeError for a call with a wrong signature)."""
    if isinstance(exc, ag.AetherError):
        return True
    return signature_ok and isinstance(exc, TypeError)


def expect_clean(call: Callable[[], Any], *, signature_ok: bool = False) -> Any:
    try:
        return call()
    except BaseException as exc:
        if not allowed(exc, signature_ok=signature_ok):
            raise AssertionError(f"{type(exc).__name__} escaped the error tree: {exc!r}"[:500]) from exc
        return exc


@pytest.fixture
def fuzz_session(tmp_path: Path) -> Any:
    store = DuckDBStore(tmp_path / "fuzz.duckdb")
    s, _ = make_session(store)
    previous = session_mod.set_default_session(s)
    try:
        yield s
    finally:
        session_mod.set_default_session(previous)
        assert s.store.list_runs() is not None  # the store is still readable
        store.close()


@FUZZ
@given(outputs=VALUES, name=VALUES)
def test_decorators(outputs: Any, name: Any) -> None:
    outputs, name = real(outputs), real(name)

    def f(x: int) -> dict[str, int]:
        return {"y": x}

    async def g(x: int) -> dict[str, int]:
        return {"y": x}

    expect_clean(lambda: ag.tool(outputs=outputs, name=name)(f))
    expect_clean(lambda: ag.graph_fn(outputs=outputs, name=name)(g))
    expect_clean(lambda: ag.graphify(outputs=outputs, name=name)(lambda x: {"y": x}))
    expect_clean(lambda: ag.graphify(inputs=outputs, outputs=["y"])(lambda x: {"y": x}).build())


@FUZZ
@given(
    value=VALUES,
    which=st.sampled_from(["durability", "max_concurrency", "max_live_waiting", "store", "channel", "clock", "llm"]),
)
def test_configure(value: Any, which: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    value = real(value)
    s, _ = make_session()
    previous = session_mod.set_default_session(s)
    try:
        if which == "store" and isinstance(value, str) and value and "\x00" not in value and "/" not in value:
            value = str(tmp_path_factory.mktemp("cfg") / value[:50])
        out = expect_clean(lambda: ag.configure(**{which: value}))
        assert out is None or isinstance(out, (BaseException, Session))
    finally:
        session_mod.set_default_session(previous)


@FUZZ
@given(
    kw=st.dictionaries(
        st.sampled_from(["max_attempts", "backoff_s", "max_backoff_s", "jitter", "retry_on"]), VALUES, max_size=3
    )
)
def test_retry_policy(kw: dict[str, Any]) -> None:
    kw = real(kw)
    expect_clean(lambda: ag.RetryPolicy(**kw))


@FUZZ
@given(
    kw=st.dictionaries(
        st.sampled_from(["kind", "prompt", "options", "schema", "timeout_s", "meta"]), VALUES, max_size=3
    )
)
def test_wait_spec(kw: dict[str, Any]) -> None:
    kw = real(kw)
    expect_clean(lambda: ag.WaitSpec(**kw))


@FUZZ
@given(run_id=VALUES, status=VALUES)
def test_lookups(fuzz_session: Session, run_id: Any, status: Any) -> None:
    run_id, status = real(run_id), real(status)
    expect_clean(lambda: ag.get_run(run_id))
    expect_clean(lambda: ag.runs(status=status))
    expect_clean(lambda: ag.runs(graph=status))
    expect_clean(lambda: ag.store().sql(run_id) if isinstance(run_id, str) else None)


@ag.tool(outputs=["y"])
def echo(x: Any) -> dict[str, Any]:
    return {"y": x}


ODD: dict[int, tuple[Any, Any]] = {}  # odd values reach the agent here, not as (stored) run inputs


@ag.graph_fn(outputs=["out"])
async def service_user(key: int, *, context: ag.NodeContext) -> dict[str, Any]:
    """Throws one odd pair of values at every service method; each must work or raise an aether_nb error."""
    a, b = ODD.pop(key)
    results: list[str] = []
    calls: list[Callable[[], Any]] = [
        lambda: context.kv().set(a, b),
        lambda: context.kv().set("k", a, ttl_s=b),
        lambda: context.kv().get(a, b),
        lambda: context.kv().delete(a),
        lambda: context.kv().keys(a),
        lambda: context.memory().record(a, b),
        lambda: context.memory().record("note", a, tags=b),
        lambda: context.memory().record("note", a, text=b),
        lambda: context.memory().recent(kinds=a, limit=b),
        lambda: context.memory().search(a, limit=b),
        lambda: context.memory().search("q", mode=a),
        lambda: context.artifacts().save_text(a, name=b),
        lambda: context.artifacts().save_json(a, labels=b),
        lambda: context.artifacts().save_bytes(a, mime=b),
        lambda: context.artifacts().save_file(a),
        lambda: context.artifacts().load_text(a),
        lambda: context.artifacts().list(labels=a, kind=b),
        lambda: context.channel().send_text(a),
        lambda: context.channel().send_markdown(a),
        lambda: context.step(a, b),
        lambda: echo(a),
        lambda: echo(x=a, _id=b),
    ]
    for make in calls:
        try:
            result = make()
            if asyncio.iscoroutine(result) or hasattr(result, "__await__"):
                await result
            results.append("ok")
        except ag.AetherError as exc:
            results.append(exc.code)
        except TypeError as exc:
            if "argument" not in str(exc):  # only a wrong call signature may raise TypeError
                raise
            results.append("signature")
    return {"out": results}


@FUZZ
@given(a=VALUES, b=VALUES)
def test_services_inside_a_run(fuzz_session: Session, a: Any, b: Any) -> None:
    key = len(ODD) + id(a) % 1000
    ODD[key] = (real(a), real(b))

    async def main() -> Any:
        return await _finish(service_user.start(key=key))

    out = expect_clean(lambda: arun(main(), timeout=30))
    assert not isinstance(out, BaseException), out
    assert len(out["out"]) == 22  # every call was made


@FUZZ
@given(a=VALUES, b=VALUES)
def test_agent_inputs_and_run_ids(fuzz_session: Session, a: Any, b: Any) -> None:
    async def main() -> Any:
        try:
            run = echo_agent.start(x=real(a), run_id=real(b) if isinstance(b, str) else None)
        except ag.AetherError as exc:  # inputs or a run id that cannot be stored are refused before a run exists
            return exc
        return await _finish(run)

    expect_clean(lambda: arun(main(), timeout=30))


@ag.graph_fn(outputs=["y"])
async def echo_agent(x: Any) -> dict[str, Any]:
    return {"y": (await echo(x))["y"]}


async def _finish(run: ag.Run) -> Any:
    try:
        return await run
    except ag.RunFailed as exc:
        cause = exc.__cause__
        assert cause is None or isinstance(cause, ag.AetherError), repr(cause)[:300]
        return exc


@ag.graph_fn(outputs=["answer"])
async def asker(kind: str, *, context: ag.NodeContext) -> dict[str, Any]:
    ch = context.channel()
    if kind == "text":
        return {"answer": await ch.ask_text("t?")}
    if kind == "choice":
        return {"answer": (await ch.ask_choices("c?", ["a", "b"])).choice}
    if kind == "approval":
        return {"answer": (await ch.ask_approval("ok?")).approved}
    if kind == "files":
        return {"answer": len(await ch.ask_files("f?", accept=[".csv"]))}
    return {"answer": await context.wait(ag.WaitSpec(kind="external", schema={"type": "object"}))}


@FUZZ
@given(
    kind=st.sampled_from(["text", "choice", "approval", "files", "external"]),
    payloads=st.lists(VALUES, min_size=1, max_size=3),
)
def test_answers(fuzz_session: Session, kind: str, payloads: list[Any]) -> None:
    payloads = real(payloads)

    async def main() -> None:
        run = asker.start(kind=kind)
        await run.wait_for("waiting")
        for payload in payloads:
            outcome = None
            try:
                await run.answer(payload)
                outcome = "answered"
            except ag.AetherError:
                outcome = "refused"
            if outcome == "answered":
                break
        if not run.done and run.waits:
            run.cancel()
        with contextlib.suppress(ag.RunError):
            await run

    expect_clean(lambda: arun(main(), timeout=30))
    # the run and its waits are in the store, consistent
    assert [r.id for r in ag.runs()]  # readable


@ag.graph_fn(outputs=["out"])
async def asks_oddly(key: int, *, context: ag.NodeContext) -> dict[str, Any]:
    """Odd prompts, options, accept lists and timeouts for every ask: refused before anything waits."""
    a, b = ODD.pop(key)
    ch = context.channel()
    results: list[str] = []
    for make in (
        lambda: ch.ask_text(a, timeout_s=b),
        lambda: ch.ask_choices(a, b),
        lambda: ch.ask_approval(a, b),
        lambda: ch.ask_files(a, accept=b),
        lambda: ch.ask_files("f?", accept=a, multiple=b),
        lambda: context.wait(a),
    ):
        try:
            call = make()
        except ag.AetherError as exc:
            results.append(exc.code)
            continue
        task = asyncio.ensure_future(call)
        await asyncio.sleep(0)  # the ask opens its wait (valid input): that is not what this fuzzes
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ag.AetherError):
            await task
        results.append("opened")
    return {"out": results}


@FUZZ
@given(a=VALUES, b=VALUES)
def test_ask_arguments(fuzz_session: Session, a: Any, b: Any) -> None:
    key = len(ODD) + 10_000 + id(b) % 1000
    ODD[key] = (real(a), real(b))

    async def main() -> Any:
        return await _finish(asks_oddly.start(key=key))

    out = expect_clean(lambda: arun(main(), timeout=30))
    assert isinstance(out, (dict, ag.AetherError))


@FUZZ
@given(state_input=VALUES, config=VALUES)
def test_state_graph_inputs_and_configs(fuzz_session: Session, state_input: Any, config: Any) -> None:
    from typing import TypedDict

    from aether_nb.flow import START, StateGraph

    class S(TypedDict, total=False):
        x: int

    def inc(s: S) -> dict[str, Any]:
        # the state's values are not validated (as in LangGraph): an input may give x any value, and the node's own
        # error would reach the caller as itself (its TypeError is not aether_nb's to wrap)
        x = s.get("x", 0)
        return {"x": x + 1 if type(x) is int else 0}

    app = StateGraph(S).add_node("inc", inc).add_edge(START, "inc").compile()

    async def main() -> Any:
        return await app.ainvoke(real(state_input), config=real(config))

    expect_clean(lambda: arun(main(), timeout=30), signature_ok=False)
