"""The promotion check: a promoted graph replayed against the run's journal, and the source run as text first.

A promotion is checked by replaying a graph against the run's journal (:func:`check`). When that graph was built
from the analysis rather than from the source handed to the user, source that defines another graph (an input
hiding the tool it calls, a variable overwriting an input) passed the check and failed in the notebook. So the
source is executed here (:func:`trace_source`) in a namespace built like the notebook's (each tool bound to the name
the source calls it by, an MCP connection for each server it reaches, ``ag`` standing for ``aether_nb``) and its
body is called once with placeholders, as ``@graphify`` does, while a recording hook turns each tool call into a
node, its arguments bound as ``@graphify`` binds them; that graph is the one replayed.

The recorder is not ``graphify``'s builder: graphify imports the run module, whose ``Run.promote`` imports
promotion, so using it would close an import cycle; and the check's ``ag.graphify`` must not register a graph under
the user's name as a side effect. The recorder binds a call's arguments with :func:`~aether_nb.runtime.arguments.
bound_arguments`, as ``@graphify`` does, so what it records is what ``@graphify`` builds from the same text.
"""

from __future__ import annotations

import builtins
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aether_nb.errors import UsageError, shown
from aether_nb.runtime.arguments import bound_arguments, node_signature
from aether_nb.runtime.codec import NotEncodable, decode, fingerprint
from aether_nb.runtime.promote_trace import values_equal
from aether_nb.runtime.taskgraph import INPUTS, REQUIRED, NodeSpec, Ref, TaskGraph, encode_refs, refs_in, resolve
from aether_nb.runtime.tools import build_hook

if TYPE_CHECKING:
    from aether_nb.runtime.run import Run


class _Connection:
    """Stands for an MCP connection in the check's namespace: ``calc.add`` and ``calc.tools['add']`` are its tools."""

    def __init__(self, tools: dict[str, Any]) -> None:
        self.tools = tools

    def __getattr__(self, name: str) -> Any:
        try:
            return self.tools[name]
        except KeyError:
            raise AttributeError(name) from None


class _Captured:
    """What the check's ``ag.graphify(...)`` decorator leaves in the namespace: the body and its declaration."""

    def __init__(self, fn: Callable[..., Any], options: dict[str, Any]) -> None:
        self.fn = fn
        self.options = options


def _graphify(**options: Any) -> Callable[[Callable[..., Any]], _Captured]:
    def wrap(fn: Callable[..., Any]) -> _Captured:
        return _Captured(fn, options)

    return wrap


class _Handle:
    """A recorded node's result while the body runs: ``h.y`` is a reference to output ``y``."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id

    def __getattr__(self, key: str) -> Ref:
        if key.startswith("__"):
            raise AttributeError(key)
        return Ref(self.node_id, key)


class _Recorder:
    """The build hook of the check: each tool call becomes a :class:`NodeSpec` (ids, references and control keywords
    as ``@graphify`` makes them)."""

    def __init__(self) -> None:
        self.nodes: dict[str, NodeSpec] = {}
        self.counters: dict[str, int] = {}

    def __call__(self, tool: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Handle:
        name = str(getattr(tool, "name", None) or getattr(tool, "tool_name", ""))
        given = dict(kwargs)
        node_id, after, condition = given.pop("_id", None), given.pop("_after", None), given.pop("_condition", None)
        try:  # (bound as @graphify binds: positional-only arguments, *args and **kwargs as Python does)
            given = bound_arguments(node_signature(tool), args, given)
        except TypeError as exc:
            raise UsageError(f"{name}(...): {exc}") from None
        if node_id is None:
            self.counters[name] = self.counters.get(name, 0) + 1
            node_id = f"{name}_{self.counters[name]}"
        if node_id in self.nodes:
            raise UsageError(f"two nodes have the id {node_id}")
        if any(isinstance(v, _Handle) for v in given.values()):
            raise UsageError(f"{node_id}: a whole handle was passed as an argument")
        inputs = encode_refs(given)
        cond = encode_refs(condition)
        deps = [r.node for r in refs_in(inputs) + refs_in(cond) if r.node != INPUTS]
        deps += [a.node_id if isinstance(a, _Handle) else str(a) for a in (after or [])]
        outputs = getattr(tool, "outputs", None) or getattr(tool, "tool_outputs", None)
        version = getattr(tool, "version", "")
        self.nodes[node_id] = NodeSpec(
            node_id, name, version, inputs, tuple(dict.fromkeys(deps)), cond, tuple(outputs) if outputs else None
        )
        return _Handle(node_id)


def namespace(tools: dict[str, Any]) -> dict[str, Any]:
    """A namespace like the notebook's for promoted source: ``tools`` maps the name (or, for an MCP tool, the
    expression such as ``calc.tools['add']``) the source calls each tool by to the tool."""
    servers: dict[str, dict[str, Any]] = {}
    ns: dict[str, Any] = {}
    for written, tool in tools.items():
        server, server_tool = getattr(tool, "server", None), getattr(tool, "server_tool", None)
        if isinstance(server, str) and isinstance(server_tool, str) and not written.isidentifier():
            servers.setdefault(server, {})[server_tool] = tool
        else:
            ns[written] = tool
    connections = {server: _Connection(found) for server, found in servers.items()}
    ns.update({server: conn for server, conn in connections.items() if server.isidentifier()})
    mcp = types.SimpleNamespace(servers=lambda: connections)
    recording = types.SimpleNamespace(graphify=_graphify, REQUIRED=REQUIRED, mcp=mcp)
    # no ``ag`` is bound: the source imports it, as it must in a notebook that did ``from aether_nb import tool``
    # (its ``import aether_nb`` gives this recording stand-in; every other import is the real one)
    ns["__builtins__"] = {**vars(builtins), "__import__": _importer(recording)}
    return ns


def _importer(recording: Any) -> Callable[..., Any]:
    """``__import__`` for the check's namespace: ``import aether_nb`` (no names from it) gives ``recording``."""

    def _import(
        name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0
    ) -> Any:  # (the signature of builtins.__import__)
        if name == "aether_nb" and level == 0 and not fromlist:
            return recording
        return builtins.__import__(name, globals, locals, fromlist, level)

    return _import


def trace_source(source: str, name: str, tools: dict[str, Any]) -> TaskGraph:
    """The graph ``source`` defines under ``name`` when executed in :func:`namespace` ``(tools)``.

    Raises:
        UsageError: the source does not execute or its body does not build (``promotion_check``).
    """
    ns = namespace(tools)
    recorder = _Recorder()
    try:
        exec(compile(source, f"<promoted {name}>", "exec"), ns)  # (the source promotion has just written)
        captured = ns.get(name)
        if not isinstance(captured, _Captured):
            raise UsageError(f"it does not define the graph {name}")
        declared = captured.options.get("inputs") or []
        if isinstance(declared, dict):
            required = [k for k, v in declared.items() if v is REQUIRED]
            optional = {k: v for k, v in declared.items() if v is not REQUIRED}
        else:
            required, optional = list(declared), {}
        token = build_hook.set(recorder)
        try:
            returned = captured.fn(**{k: Ref(INPUTS, k) for k in [*required, *optional]})
        finally:
            build_hook.reset(token)
        if not isinstance(returned, dict):
            raise UsageError(f"the body returned {type(returned).__name__}, not a dict of outputs")
        outputs = encode_refs(returned)
    except Exception as exc:  # any failure of the text is the promotion's own bug, reported as such
        raise UsageError(
            f"promotion check failed: the promoted source of {name} does not define the graph it should "
            f"({type(exc).__name__}: {exc}). This is a bug of run.promote(): please report it with the agent's code",
            code="promotion_check",
        ) from exc
    return TaskGraph(name, required, optional, outputs, recorder.nodes)


def check(
    run: Run,
    graph: TaskGraph,
    answers: dict[str, tuple[dict[str, Any] | None, dict[str, Any]]] | None = None,
    inputs: dict[str, Any] | None = None,
) -> None:
    """Replay ``graph`` on the run's inputs against the run's journal and compare the outputs (nothing executes).

    Each node's arguments are resolved from the run's inputs and the results of the nodes before it; its result is
    the journal entry of a call to the same tool with the same arguments. A node with no such entry, or outputs
    that differ from the run's, means the promotion would not reproduce the run. A node that was no tool call of
    the run (an approval carried over, a ``read_env`` node) takes its result from ``answers`` (node id ->
    the arguments it must be called with, or None, and its outputs); ``inputs`` adds inputs the graph does not hold
    a default for (a secret the source asks for).
    """
    entries: dict[tuple[str, str], list[Any]] = {}
    for e in run.session.store.load_journal(run.id):
        if e.kind == "tool":
            entries.setdefault((e.name, e.fingerprint), []).append(decode(e.value))
    results: dict[str, dict[str, Any] | None] = {INPUTS: {**graph.optional, **(inputs or {}), **run.inputs}}
    for node_id in graph.topological_order():
        spec = graph.nodes[node_id]
        kwargs = resolve(spec.inputs, results)
        if answers is not None and node_id in answers:
            expected, outputs = answers[node_id]
            if expected is not None and not values_equal(kwargs, expected):
                raise UsageError(
                    f"promotion check failed: node {node_id} would call {spec.tool}({_short(kwargs)}) where run "
                    f"{run.id} asked {_short(expected)}",
                    run_id=run.id,
                    node_id=node_id,
                    code="promotion_check",
                )
            results[node_id] = outputs
            continue
        tool = graph.resolve_tool(spec)
        try:
            view, _ = tool.prepare((), dict(kwargs))
            key = (spec.tool, fingerprint(view))
        except (UsageError, NotEncodable) as exc:
            raise UsageError(f"promotion check: node {node_id} cannot be called with {shown(kwargs)}: {exc}") from exc
        found = entries.get(key)
        if not found:
            raise UsageError(
                f"promotion check failed: node {node_id} would call {spec.tool}({_short(kwargs)}), a call run "
                f"{run.id} never made, so the promoted graph would not reproduce the run (an argument may have been "
                "cut short in the run's record, or be a value that is not JSON: a NumPy array or another object the "
                "run's code computed is recorded only by its repr; compute it in a tool, so the graph takes it from "
                "that tool's output)",
                run_id=run.id,
                node_id=node_id,
                code="promotion_check",
            )
        results[node_id] = found.pop(0)
    outputs = resolve(graph.outputs, results)
    if not values_equal(outputs, run.outputs or {}):  # (a NumPy array's == is no truth value)
        raise UsageError(
            f"promotion check failed: the promoted graph gives {_short(outputs)} where run {run.id} gave "
            f"{_short(run.outputs)}",
            run_id=run.id,
            code="promotion_check",
        )


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
