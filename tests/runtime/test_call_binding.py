"""Tool calls in ``@graphify`` and ``@graph_fn`` bodies bind as Python binds them (``inspect.Signature.bind`` is the
oracle): a call Python accepts gives the tool the same values, a call it refuses is an ``aether_nb.errors`` error
naming every problem (an unknown keyword too, where ``inspect`` named only the missing argument)."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aether_nb as ag
from aether_nb.runtime.session import Session
from tests.conftest import arun, default_session


@ag.tool(outputs=["y"])
def bind_inc(x: int) -> dict[str, int]:
    return {"y": x + 1}


@ag.tool(outputs=["y"])
async def bind_ainc(x: int) -> dict[str, int]:
    return {"y": x + 1}


def test_graphify_names_the_unknown_keyword_and_the_missing_input() -> None:
    """``inc(z=x)`` said only "missing a required argument: 'x'", never naming the ``z`` the user typed."""

    @ag.graphify(name="bind_typo", inputs=["x"], outputs=["y"])
    def typo(x: Any) -> Any:
        return {"y": bind_inc(z=x).y}

    with pytest.raises(ag.UsageError) as info:
        typo.build()
    msg = info.value.message
    assert "bind_inc_1: unbound or unknown input of bind_inc(x: int)" in msg
    assert "got an unexpected keyword argument 'z'" in msg
    assert "missing a required argument: 'x'" in msg
    assert "did you mean x= instead of z=?" in msg


def test_agent_calls_name_the_unknown_keyword_and_the_missing_input(session: Session) -> None:
    @ag.graph_fn(name="bind_agent")
    async def agent(x: int, y: int = 0) -> dict[str, int]:
        return {"s": x + y}

    with pytest.raises(ag.UsageError) as info:
        agent(z=1)
    assert info.value.code == "bad_arguments"
    assert "got an unexpected keyword argument 'z'" in info.value.message
    assert "missing a required argument: 'x'" in info.value.message


@pytest.mark.parametrize("tool", [bind_inc, bind_ainc], ids=["sync", "async"])
def test_graph_fn_tool_calls_name_the_unknown_keyword(session: Session, tool: Any) -> None:
    @ag.graph_fn(name="bind_caller")
    async def caller(x: int) -> dict[str, Any]:
        return await tool(z=x)  # type: ignore[no-any-return]

    with pytest.raises(ag.RunFailed) as info:
        arun(caller(x=1))
    cause = info.value.__cause__
    assert isinstance(cause, ag.UsageError) and cause.code == "bad_arguments"
    assert "unexpected keyword argument 'z'" in cause.message


@ag.tool(outputs=["got"])
def bind_spread(a: int, /, *rest: int, **named: int) -> dict[str, Any]:
    return {"got": [a, list(rest), named]}


def test_graphify_nodes_pass_positional_only_star_args_and_kwargs_as_the_call_did(session: Session) -> None:
    """A node stored ``{"a": 1, "rest": [2, 3], "named": {"k": 4}}`` and called the tool with those as keywords:
    ``a`` was refused (positional-only) and, for a tool without one, ``rest``/``named`` landed in ``**named``."""

    @ag.graphify(name="bind_spread_graph", inputs=["x"], outputs=["got"])
    def spread(x: Any) -> Any:
        return {"got": bind_spread(x, 2, 3, k=4, a=5).got}

    assert arun(spread(x=1)) == {"got": [1, [2, 3], {"k": 4, "a": 5}]}


def test_a_schema_tools_extra_arguments_reach_it_from_a_graph(session: Session) -> None:
    """An MCP-style tool's arguments outside its named properties reached it nested under ``arguments``."""
    from aether_nb.runtime.schema_tool import SchemaTool

    async def call(arguments: dict[str, Any]) -> dict[str, Any]:
        return {"echo": arguments}

    echo = SchemaTool("bind_echo", {"properties": {"a": {"type": "integer"}}, "required": ["a"]}, call)

    @ag.graphify(name="bind_echo_graph", inputs=["x"], outputs=["echo"])
    def graph(x: Any) -> Any:
        return {"echo": echo(a=x, **{"my-key": 3}).echo}

    assert arun(graph(x=1)) == {"echo": {"a": 1, "my-key": 3}}


@ag.tool(outputs=["got"])
def bind_gap(a: int = 1, b: int = 2, /, *rest: int) -> dict[str, Any]:
    return {"got": [a, b, list(rest)]}


def test_graph_nodes_whose_inputs_skip_a_default_still_pass_the_rest_by_position(session: Session) -> None:
    """A graph loaded from JSON (or promoted) may leave a parameter at its default before a positional-only input
    or a ``*args``: those are still passed by position, the default filling the gap."""
    from aether_nb.runtime.taskgraph import NodeSpec, TaskGraph

    nodes = {
        "n1": NodeSpec("n1", "bind_gap", bind_gap.version, {"b": 5}, ()),
        "n2": NodeSpec("n2", "bind_gap", bind_gap.version, {"rest": [7, 8]}, ()),
    }
    outputs = {"p": {"$ref": ["n1", "got"]}, "q": {"$ref": ["n2", "got"]}}
    graph = TaskGraph.from_json(TaskGraph("bind_gap_graph", [], {}, outputs, nodes).dumps())
    assert arun(ag.run(graph, {})) == {"p": [1, 5, []], "q": [1, 2, [7, 8]]}


# -- the fuzz: calls of tools of every kind of signature, against Python's own binding --------------------------------


def fb_plain(a: Any, b: Any = 2, *, c: Any, d: Any = 4) -> dict[str, Any]:
    return {"got": [a, b, c, d]}


def fb_posonly(a: Any, b: Any = 2, /, c: Any = 3) -> dict[str, Any]:
    return {"got": [a, b, c]}


def fb_var(a: Any, *args: Any, k: Any = 1, **kw: Any) -> dict[str, Any]:
    return {"got": [a, list(args), k, kw]}


def fb_pkw(a: Any, /, b: Any, **kw: Any) -> dict[str, Any]:
    return {"got": [a, b, kw]}


def fb_podkw(a: Any, b: Any = 2, /, **kw: Any) -> dict[str, Any]:
    return {"got": [a, b, kw]}


def fb_star(*args: Any, **kw: Any) -> dict[str, Any]:
    return {"got": [list(args), kw]}


def fb_ctx(a: Any, *args: Any, context: Any, **kw: Any) -> dict[str, Any]:
    return {"got": [a, list(args), kw, context is not None]}


def _async_of(fn: Callable[..., Any]) -> Callable[..., Any]:
    async def body(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    body.__signature__ = inspect.signature(fn)  # type: ignore[attr-defined]
    body.__name__ = body.__qualname__ = f"{fn.__name__}_async"
    return body


_BODIES = [fb_plain, fb_posonly, fb_var, fb_pkw, fb_podkw, fb_star, fb_ctx]
_TOOLS = [ag.tool(outputs=["got"])(f) for f in _BODIES] + [ag.tool(outputs=["got"])(_async_of(f)) for f in _BODIES]
_PLAIN = _BODIES + _BODIES  # each tool's function, called directly (the oracle)

X = "X"
"""A value that stands for the graph's input ``x`` (a reference while a graph is built)."""

values = st.one_of(st.integers(-2, 40), st.just(X))
keywords = st.sampled_from(["a", "b", "c", "d", "k", "args", "kw", "z", "q"])
calls = st.tuples(
    st.integers(0, len(_TOOLS) - 1),
    st.lists(values, max_size=4),
    st.dictionaries(keywords, values, max_size=4),
)


def _oracle(i: int, args: list[Any], kwargs: dict[str, Any]) -> inspect.Signature:
    sig = inspect.signature(_PLAIN[i])
    return inspect.Signature([p for p in sig.parameters.values() if p.name != "context"])


def _with_x(value: Any, x: Any) -> Any:
    return x if value == X else value


def _direct(i: int, args: list[Any], kwargs: dict[str, Any], x: Any) -> Any:
    """What the tool's function gives called by Python itself (a TypeError when Python refuses the call)."""
    extra = {"context": "a context"} if _PLAIN[i] is fb_ctx else {}
    got = _PLAIN[i](*[_with_x(v, x) for v in args], **{k: _with_x(v, x) for k, v in kwargs.items()}, **extra)
    return got["got"]


def _json(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    return value


def _inspect_errs(sig: inspect.Signature, args: list[Any], kwargs: dict[str, Any]) -> bool:
    """Whether ``inspect`` before Python 3.12.4 refuses a call Python accepts (CPython gh-87106): a keyword named
    like a positional-only parameter with a default, not given by position, that ``**kwargs`` takes."""
    params = list(sig.parameters.values())
    if not any(p.kind is p.VAR_KEYWORD for p in params):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return any(p.kind is p.POSITIONAL_ONLY and p.name in kwargs for p in positional[len(args) :])


def _binds(i: int, args: list[Any], kwargs: dict[str, Any]) -> TypeError | None:
    """The oracle's verdict: None when Python accepts the call, else its own TypeError. ``inspect`` agrees on every
    call here but for the calls of its known bug (checked)."""
    try:
        _oracle(i, args, kwargs).bind(*args, **kwargs)
        ok = True
    except TypeError:
        ok = False
    try:
        _direct(i, args, kwargs, 0)
        direct = None
    except TypeError as exc:
        direct = exc
    assert ok == (direct is None) or _inspect_errs(_oracle(i, args, kwargs), args, kwargs), (args, kwargs, direct)
    return direct


def _names_the_problem(message: str, refused: TypeError, kwargs: dict[str, Any], i: int) -> None:
    """Our message names every argument Python's TypeError names, and every keyword the signature has no place for."""
    for name in re.findall(r"'(\w+)'", str(refused)):
        assert f"'{name}'" in message, (str(refused), message)
    sig = _oracle(i, [], kwargs)
    if not any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        for k in kwargs:
            if k not in sig.parameters or sig.parameters[k].kind is inspect.Parameter.VAR_POSITIONAL:
                assert f"'{k}'" in message, (k, message)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(calls, min_size=1, max_size=4), st.integers(-5, 5))
def test_graphify_binds_tool_calls_as_python_does(made: list[Any], x: int) -> None:
    verdicts = [_binds(i, a, k) for i, a, k in made]

    @ag.graphify(name="fb_graph", inputs=["x"], outputs=[f"o{n}" for n in range(len(made))])
    def graph(x: Any) -> Any:
        out = {}
        for n, (i, args, kwargs) in enumerate(made):
            h = _TOOLS[i](*[_with_x(v, x) for v in args], **{k: _with_x(v, x) for k, v in kwargs.items()}, _id=f"n{n}")
            out[f"o{n}"] = h.got
        return out

    with default_session():
        if any(v is not None for v in verdicts):
            with pytest.raises(ag.UsageError) as info:
                graph.build()
            for n, ((i, _, kwargs), refused) in enumerate(zip(made, verdicts, strict=True)):
                if refused is not None:
                    line = next(ln for ln in info.value.message.splitlines() if ln.strip().startswith(f"n{n}:"))
                    assert "unbound or unknown input" in line
                    _names_the_problem(line, refused, kwargs, i)
            return
        built = graph.build()
        ref = {"$ref": ["__inputs__", "x"]}
        for n, (i, args, kwargs) in enumerate(made):
            sig = _oracle(i, args, kwargs)
            if not _inspect_errs(sig, args, kwargs):
                expected = sig.bind(*[_with_x(v, ref) for v in args], **{k: _with_x(v, ref) for k, v in kwargs.items()})
                assert built.nodes[f"n{n}"].inputs == _json(dict(expected.arguments))
        outputs = arun(graph(x=x))
        assert outputs == {f"o{n}": _json(_direct(i, a, k, x)) for n, (i, a, k) in enumerate(made)}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(calls, min_size=1, max_size=4), st.integers(-5, 5))
def test_graph_fn_binds_tool_calls_as_python_does(made: list[Any], x: int) -> None:
    verdicts = [_binds(i, a, k) for i, a, k in made]

    @ag.graph_fn(name="fb_agent")
    async def agent(x: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for n, (i, args, kwargs) in enumerate(made):
            try:
                got = await _TOOLS[i](*[_with_x(v, x) for v in args], **{k: _with_x(v, x) for k, v in kwargs.items()})
                out[f"o{n}"] = got["got"]
            except ag.UsageError as exc:
                out[f"o{n}"] = exc
        return out

    with default_session():
        outputs = arun(agent(x=x))
    for n, ((i, args, kwargs), refused) in enumerate(zip(made, verdicts, strict=True)):
        got = outputs[f"o{n}"]
        if refused is None:
            assert _json(got) == _json(_direct(i, args, kwargs, x)), (args, kwargs)
        else:
            assert isinstance(got, ag.UsageError) and got.code == "bad_arguments", got
            _names_the_problem(got.message, refused, kwargs, i)


def test_tools_take_a_keyword_named_like_a_positional_only_parameter_into_their_kwargs(session: Session) -> None:
    """Python calls ``fb_podkw(1, b=3)`` with ``kw={'b': 3}``; inspect before Python 3.12.4 refuses it (gh-87106)."""
    podkw = _TOOLS[_BODIES.index(fb_podkw)]

    @ag.graphify(name="bind_podkw_graph", inputs=["x"], outputs=["got"])
    def graph(x: Any) -> Any:
        return {"got": podkw(x, b=3).got}

    @ag.graph_fn(name="bind_podkw_agent")
    async def agent(x: int) -> dict[str, Any]:
        return await podkw(x, b=3)  # type: ignore[no-any-return]

    assert arun(graph(x=1)) == {"got": [1, 2, {"b": 3}]}
    assert arun(agent(x=1)) == {"got": [1, 2, {"b": 3}]}


async def fa_plain(a: Any, b: Any = 2, /, c: Any = 3, *, d: Any, **kw: Any) -> dict[str, Any]:
    return {"got": [a, b, c, d, kw]}


async def fa_named(a: Any, b: Any = 2, *, c: Any = 3) -> dict[str, Any]:
    return {"got": [a, b, c]}


_AGENTS = [ag.graph_fn(name="fa_plain")(fa_plain), ag.graph_fn(name="fa_named")(fa_named)]
_AGENT_FNS = [fa_plain, fa_named]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(0, len(_AGENTS) - 1),
    st.lists(st.integers(-2, 40), max_size=4),
    st.dictionaries(st.sampled_from(["a", "b", "c", "d", "kw", "z"]), st.integers(-2, 40), max_size=4),
)
def test_agents_bind_their_calls_as_python_does(i: int, args: list[int], kwargs: dict[str, int]) -> None:
    fn = _AGENT_FNS[i]
    try:
        fn(*args, **kwargs).close()  # (Python binds the arguments when the coroutine is made)
        refused: TypeError | None = None
    except TypeError as exc:
        refused = exc
    try:
        inspect.signature(fn).bind(*args, **kwargs)
        assert refused is None, refused
    except TypeError:
        assert refused is not None or _inspect_errs(inspect.signature(fn), args, kwargs)
    with default_session():
        if refused is not None:
            with pytest.raises(ag.UsageError) as info:
                _AGENTS[i](*args, **kwargs)
            assert info.value.code == "bad_arguments"
            for name in re.findall(r"'(\w+)'", str(refused)):
                assert f"'{name}'" in info.value.message, (str(refused), info.value.message)
            return
        positional_only = {"a", "b"} if fn is fa_plain else set()
        if positional_only & set(kwargs):  # (Python puts it in **kw; a run's inputs are one dict by name)
            with pytest.raises(ag.UsageError, match="positional-only parameter"):
                _AGENTS[i](*args, **kwargs)
            return
        assert arun(_AGENTS[i](*args, **kwargs)) == {"got": arun(fn(*args, **kwargs))["got"]}
