"""The values StateGraph's builder, ``compile()`` and its calls take are checked where they are written: a timeout,
a list of node names, output keys, retry policies, names, services or a config of the wrong kind is refused with an
aether_nb error saying what to pass, never a bare ``TypeError``/``ValueError`` from inside Python, and never a
value that silently means something else (a NaN or negative timeout every node "ran past", a 0 meaning none)."""

from __future__ import annotations

import asyncio
import math
import uuid
import warnings
from collections.abc import Callable, Iterator
from typing import Any, TypedDict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aether_nb as ag
from aether_nb.errors import AetherError, UsageError
from aether_nb.flow import END, START, RetryPolicy, StateGraph
from aether_nb.flow.compiled import CompiledGraph
from aether_nb.flow.types import InvalidConfig
from aether_nb.runtime.session import Session
from tests.conftest import default_session

pytestmark = pytest.mark.anyio


class S(TypedDict, total=False):
    x: int


def inc(s: S) -> dict[str, Any]:
    return {"x": s.get("x", 0) + 1}


async def slow(s: S) -> dict[str, Any]:
    await asyncio.sleep(0.05)
    return {"x": 1}


def graph(fn: Callable[..., Any] = inc, **node_options: Any) -> StateGraph:
    return StateGraph(S).add_node("inc", fn, **node_options).add_edge(START, "inc")


def app(fn: Callable[..., Any] = inc) -> CompiledGraph:
    return graph(fn).compile(checkpointer="memory")


def cfg(**extra: Any) -> dict[str, Any]:
    return {"configurable": {"thread_id": f"t-{uuid.uuid4().hex[:8]}"}, **extra}


@pytest.fixture
def fresh() -> Iterator[Session]:
    with default_session() as s:
        yield s


BAD_TIMEOUTS = [math.nan, math.inf, -math.inf, -1, -0.5, 0, 0.0, True, False, "30", "30s", "", [1], {"s": 1}, inc]


# -- timeouts -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("timeout", BAD_TIMEOUTS, ids=repr)
def test_add_node_refuses_a_timeout_that_is_no_positive_finite_number(timeout: Any) -> None:
    with pytest.raises(ag.UsageError, match=r"timeout=.*a positive finite number of seconds \(or None"):
        graph(timeout=timeout)


@pytest.mark.parametrize("timeout", BAD_TIMEOUTS, ids=repr)
def test_set_node_defaults_refuses_a_timeout_that_is_no_positive_finite_number(timeout: Any) -> None:
    with pytest.raises(ag.UsageError, match=r"timeout=.*a positive finite number of seconds \(or None"):
        graph().set_node_defaults(timeout=timeout)


@pytest.mark.parametrize("where", ["top", "configurable"])
@pytest.mark.parametrize("timeout", BAD_TIMEOUTS, ids=repr)
async def test_config_node_timeout_that_is_no_positive_finite_number_is_refused_at_the_call(
    fresh: Session, timeout: Any, where: str
) -> None:
    config = cfg(node_timeout=timeout) if where == "top" else cfg()
    if where == "configurable":
        config["configurable"]["node_timeout"] = timeout
    a = app(slow)
    with pytest.raises(InvalidConfig, match=r"node_timeout.*a positive finite number of seconds \(or None"):
        await a.ainvoke({}, config)
    assert a.get_state({"configurable": {"thread_id": config["configurable"]["thread_id"]}}).values == {}  # nothing ran


async def test_timeouts_that_are_numbers_of_seconds_still_work(fresh: Session) -> None:
    assert (await app(slow).ainvoke({}, cfg(node_timeout=None)))["x"] == 1  # None: no timeout
    assert (await app(slow).ainvoke({}, cfg(node_timeout=30)))["x"] == 1
    assert (await graph(slow, timeout=30.0).compile(checkpointer="memory").ainvoke({}, cfg()))["x"] == 1
    with pytest.raises(ag.StepTimeout, match=r"ran past its timeout of 0\.001 s"):
        await app(slow).ainvoke({}, cfg(node_timeout=0.001))
    with pytest.raises(ag.StepTimeout, match=r"ran past its timeout of 0\.001 s"):
        await graph(slow).set_node_defaults(timeout=0.001).compile(checkpointer="memory").ainvoke({}, cfg())


# -- call options ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("call", ["ainvoke", "astream"])
@pytest.mark.parametrize("option", ["interrupt_before", "interrupt_after"])
@pytest.mark.parametrize("value", [5, True, math.nan, inc, [None], [["inc"]], {"inc": "inc"}], ids=repr)
async def test_call_interrupts_are_checked_as_compile_checks_them(
    fresh: Session, call: str, option: str, value: Any
) -> None:
    message = f'{option}= takes a list of node names or "\\*"'
    with pytest.raises(ag.UsageError, match=message):
        graph().compile(**{option: value})
    a = app()
    with pytest.raises(ag.UsageError, match=message):
        if call == "ainvoke":
            await a.ainvoke({}, cfg(), **{option: value})
        else:
            [c async for c in a.astream({}, cfg(), **{option: value})]


async def test_call_interrupts_still_take_star_names_and_one_name(fresh: Session) -> None:
    for value in ("*", ["inc"], ("inc",), "inc"):
        res = await app().ainvoke({}, cfg(), interrupt_before=value)
        assert res.status == "interrupted" and "x" not in res


@pytest.mark.parametrize("call", ["ainvoke", "astream"])
@pytest.mark.parametrize("value", [5, True, math.nan, inc, [5], [["x"]], {"x": 1}], ids=repr)
async def test_output_keys_that_are_no_key_or_list_of_keys_are_refused(fresh: Session, call: str, value: Any) -> None:
    with pytest.raises(ag.UsageError, match="output_keys= takes a state key or a list of them"):
        if call == "ainvoke":
            await app().ainvoke({}, cfg(), output_keys=value)
        else:
            [c async for c in app().astream({}, cfg(), stream_mode="values", output_keys=value)]


async def test_output_keys_still_take_a_key_or_a_list(fresh: Session) -> None:
    assert await app().ainvoke({}, cfg(), output_keys="x") == 1
    assert await app().ainvoke({}, cfg(), output_keys=["x"]) == {"x": 1}
    assert await app().ainvoke({}, cfg(), output_keys=("x",)) == {"x": 1}


@pytest.mark.parametrize("configurable", [5, "x", [1], inc])
async def test_a_configurable_that_is_no_dict_is_refused(fresh: Session, configurable: Any) -> None:
    with pytest.raises(ag.UsageError, match=r"config\['configurable'\] must be a dict"):
        await app().ainvoke({}, {"configurable": configurable})


@pytest.mark.parametrize("cap", [0, -1, True, 1.5, "2", math.nan])
async def test_max_concurrency_is_refused_at_the_call(fresh: Session, cap: Any) -> None:
    config = cfg(max_concurrency=cap)
    a = app()
    with pytest.raises(InvalidConfig, match="max_concurrency"):
        await a.ainvoke({}, config)
    assert a.get_state({"configurable": {"thread_id": config["configurable"]["thread_id"]}}).values == {}


# -- builder options ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("option", ["retry_policy", "retry"])
@pytest.mark.parametrize("value", [3, True, math.nan, inc, "x", {"max_attempts": 2}], ids=repr)
def test_add_node_refuses_a_retry_policy_that_is_no_policy(option: str, value: Any) -> None:
    with pytest.raises(ag.UsageError, match=r"expected RetryPolicy\(\.\.\.\)"):
        graph(**{option: value})
    with pytest.raises(ag.UsageError, match=r"expected RetryPolicy\(\.\.\.\)"):
        graph().set_node_defaults(retry_policy=value)


def test_retry_policies_still_take_one_or_a_list() -> None:
    for value in (RetryPolicy(), ag.RetryPolicy(max_attempts=2), [RetryPolicy(), ag.RetryPolicy()], ()):
        graph(retry_policy=value).set_node_defaults(retry_policy=value).compile(checkpointer="memory")


@pytest.mark.parametrize("metadata", [5, "x", [1], inc])
def test_add_node_refuses_metadata_that_is_no_dict(metadata: Any) -> None:
    with pytest.raises(ag.UsageError, match="metadata= takes a dict"):
        graph(metadata=metadata)


@pytest.mark.parametrize("destinations", [5, "inc", [5], {"inc": 5}, inc])
def test_add_node_refuses_destinations_that_are_no_node_names(destinations: Any) -> None:
    with pytest.raises(ag.UsageError, match="destinations= takes"):
        graph(destinations=destinations)


def test_destinations_still_take_names_and_labels() -> None:
    assert graph(destinations=("inc", END)).nodes["inc"].destinations == ("inc", END)
    assert graph(destinations={"inc": "again"}).nodes["inc"].edge_labels == {"inc": "again"}


@pytest.mark.parametrize("source", [None, 5, [], ["inc"], {"a": 1}])
def test_add_conditional_edges_refuses_a_source_that_is_no_node_name(source: Any) -> None:
    with pytest.raises(ag.UsageError, match="source must be a node name"):
        graph().add_conditional_edges(source, lambda s: END)


@pytest.mark.parametrize("name", [5, True, math.nan, [1], {"a": 1}, inc, b"x", ""])
def test_graph_names_that_are_no_strings_are_refused(name: Any) -> None:
    with pytest.raises(ag.UsageError, match="name"):
        graph().compile(checkpointer="memory", name=name)
    with pytest.raises(ag.UsageError, match="name"):
        StateGraph(S, name=name)


@pytest.mark.parametrize("services", [5, "x", [1], ["inc"], inc, {5: 1}])
def test_compile_refuses_services_that_are_no_dict_of_names(services: Any) -> None:
    with pytest.raises(ag.UsageError, match="services= takes a dict"):
        graph().compile(checkpointer="memory", services=services)


# -- every option, any odd value ----------------------------------------------------------------------------------
ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=3),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
    st.binary(max_size=2),
    st.lists(st.one_of(st.none(), st.integers(-1, 1), st.text(max_size=3), st.just("inc")), max_size=3),
    st.dictionaries(st.text(max_size=3), st.one_of(st.integers(-1, 1), st.text(max_size=3)), max_size=2),
    st.sampled_from([inc, lambda: 1, object(), {1}, (1,), ["inc"], ("inc", END), {"inc": "inc"}, "inc", "*", END]),
)


def _run(g: StateGraph, **compile_options: Any) -> Any:
    return g.compile(**{"checkpointer": "memory", **compile_options}).ainvoke({}, cfg())


async def _stream(value: Any, option: str) -> list[Any]:
    return [c async for c in app().astream({}, cfg(), **{option: value})]


def _surfaces() -> dict[str, Callable[[Any], Any]]:
    out: dict[str, Callable[[Any], Any]] = {}
    for kw in ("defer", "metadata", "input_schema", "retry_policy", "retry", "timeout", "error_handler"):
        out[f"add_node({kw}=)"] = lambda v, kw=kw: _run(graph(**{kw: v}))
    for kw in ("destinations", "cache_policy"):
        out[f"add_node({kw}=)"] = lambda v, kw=kw: _run(graph(**{kw: v}))
    out["add_node(name)"] = lambda v: StateGraph(S).add_node(v, inc)
    out["add_node(name, action)"] = lambda v: StateGraph(S).add_node("n", v)
    for kw in ("retry_policy", "error_handler", "timeout"):
        out[f"set_node_defaults({kw}=)"] = lambda v, kw=kw: _run(graph().set_node_defaults(**{kw: v}))
    out["add_edge(start)"] = lambda v: _run(graph().add_edge(v, "inc"))
    out["add_edge(end)"] = lambda v: _run(graph().add_edge("inc", v))
    out["add_conditional_edges(source)"] = lambda v: _run(graph().add_conditional_edges(v, lambda s: END))
    out["add_conditional_edges(path)"] = lambda v: _run(graph().add_conditional_edges("inc", v))
    out["add_conditional_edges(path_map)"] = lambda v: _run(graph().add_conditional_edges("inc", lambda s: END, v))
    out["StateGraph(name=)"] = lambda v: _run(StateGraph(S, name=v).add_node("inc", inc).add_edge(START, "inc"))
    for kw in ("interrupt_before", "interrupt_after", "recursion_limit", "name", "services", "store", "debug", "cache"):
        out[f"compile({kw}=)"] = lambda v, kw=kw: _run(graph(), **{kw: v})
    out["compile(checkpointer=)"] = lambda v: graph().compile(checkpointer=v)
    for kw in ("context", "stream_mode", "output_keys", "interrupt_before", "interrupt_after", "durability", "version"):
        out[f"ainvoke({kw}=)"] = lambda v, kw=kw: app().ainvoke({}, cfg(), **{kw: v})
    for kw in ("stream_mode", "subgraphs", "output_keys", "interrupt_before", "interrupt_after", "version"):
        out[f"astream({kw}=)"] = lambda v, kw=kw: _stream(v, kw)
    out["ainvoke(config)"] = lambda v: app().ainvoke({}, v)
    out["ainvoke(input)"] = lambda v: app().ainvoke(v, cfg())
    keys = ("recursion_limit", "max_concurrency", "node_timeout", "checkpoint_id", "checkpoint_ns", "metadata", "tags")
    for key in (*keys, "run_name", "callbacks", "configurable"):
        out[f"config[{key!r}]"] = lambda v, key=key: app().ainvoke({}, cfg(**{key: v}))
    for key in (*keys, "thread_id"):
        out[f"config['configurable'][{key!r}]"] = lambda v, key=key: app().ainvoke({}, {"configurable": {key: v}})
    return out


SURFACES = _surfaces()


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.sampled_from(sorted(SURFACES)), value=ODD)
def test_any_odd_value_of_any_option_fails_as_an_aether_nb_error(fresh: Session, where: str, value: Any) -> None:
    async def attempt() -> None:
        result = SURFACES[where](value)
        if asyncio.iscoroutine(result):
            await result

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            asyncio.run(attempt())
        except AetherError:
            pass
        except Exception as exc:  # the test's point: name the option and the value that escaped as a bare error
            pytest.fail(f"{where} with {value!r}: {type(exc).__module__}.{type(exc).__name__}: {exc}")


def test_a_path_map_list_of_what_is_no_name_and_a_checkpointer_array_are_refused() -> None:
    """A list path_map holding itself was "unhashable type: 'list'", and ``compile(checkpointer=<numpy array>)``
    numpy's "truth value is ambiguous" (found by a tester re-running the API fuzzer)."""
    import numpy as np

    loop: list[Any] = ["inc"]
    loop.append(loop)
    with pytest.raises(UsageError, match="a list path_map names nodes"):
        graph().add_conditional_edges("inc", lambda s: "inc", loop)
    with pytest.raises(UsageError, match="checkpointer must be"):
        graph().compile(checkpointer=np.array([1, 2]))
