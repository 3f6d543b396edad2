"""@graphify: trace a plain function once with placeholders to build a static :class:`TaskGraph`.

Inside the body, tool calls add nodes and return :class:`NodeHandle`s; ``handle.y`` (or ``handle["y"]``) is a
reference to a future output. Nothing is parsed from source, so bodies defined in notebook cells, assigned handles
(``a = double(x=x); double(x=a.y)``) and tools from anywhere all work. Control keywords on tool calls:
``_id`` (node id), ``_after`` (extra ordering), ``_condition`` (run only when true; see :mod:`scheduler`).
Problems found while tracing are collected and reported together.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import keyword
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, NoReturn, overload

from aether_nb.errors import UsageError, shown
from aether_nb.runtime.arguments import bound_arguments, node_signature
from aether_nb.runtime.build_calls import KnownTool, bound_inputs
from aether_nb.runtime.build_checks import GraphTools, condition_problems, refuse_non_body, signature_inputs
from aether_nb.runtime.checks import nesting_problem
from aether_nb.runtime.direct_calls import direct_coroutine
from aether_nb.runtime.executors import Executor
from aether_nb.runtime.graph_inputs import check_body_takes, check_graph_inputs
from aether_nb.runtime.handle_classes import handle_class
from aether_nb.runtime.keyword_binding import KeywordPlan, keyword_bind, keyword_plan
from aether_nb.runtime.launch import check_resume_mode, start_run
from aether_nb.runtime.registry import register
from aether_nb.runtime.run import Run
from aether_nb.runtime.scheduler import RetryPolicy, check_cap, run_taskgraph
from aether_nb.runtime.session import Session
from aether_nb.runtime.storable import STARTED_FROM_GRAPH
from aether_nb.runtime.taskgraph import (
    INPUTS,
    REQUIRED,
    NodeSpec,
    Ref,
    TaskGraph,
    dependency_problems,
    encode_refs,
    make_ref,
    make_spec,
    refs_in,
)
from aether_nb.runtime.tools import Tool, build_hook, check_outputs_decl, signature_text

_CONTROL_KWARGS = frozenset({"_id", "_after", "_condition", "_timeout_s"})


_UNSET: Any = object()
"""The default of a run option not passed: a resume compares only the options a caller gave (see launch)."""


def _asked(**given: Any) -> dict[str, Any]:
    """The run options passed explicitly, in their stored form (a RetryPolicy as its JSON)."""
    asked = {k: v for k, v in given.items() if v is not _UNSET}
    if not isinstance(asked.get("stop_on_first_error", True), bool):
        raise UsageError(f"stop_on_first_error must be True or False, got {shown(asked['stop_on_first_error'])}")
    if isinstance(asked.get("retry"), RetryPolicy):
        asked["retry"] = asked["retry"].to_json()
    return asked


class NodeHandle:
    """What a tool call returns while a graph is being built: ``h.key`` / ``h["key"]`` refer to its outputs."""

    __slots__ = ("_builder", "_outputs", "node_id")

    def __init__(self, builder: GraphBuilder, node_id: str, outputs: Sequence[str] | None) -> None:
        self._builder = builder
        self.node_id = node_id
        self._outputs = list(outputs) if outputs is not None else None

    def _ref(self, key: str) -> Ref:
        if self._outputs is not None and key not in self._outputs:
            self._builder.errors.append(f"{self.node_id}.{key}: unknown output (outputs: {self._outputs})")
        return make_ref(self.node_id, key)

    def __getattr__(self, key: str) -> Ref:
        if key.startswith("__"):
            raise AttributeError(key)
        return self._ref(key)

    def __getitem__(self, key: str) -> Ref:
        return self._ref(key)

    def _as_value(self, *_: Any) -> NoReturn:
        raise UsageError(
            f"the result of {self.node_id} was used as a value while building the graph; while building, tool calls "
            f"return handles: pass `{self.node_id}.<output>` to other tools instead of computing with it"
            + self._builder.pending_errors(),
            node_id=self.node_id,
            code="handle_as_value",
        )

    __bool__ = __iter__ = __len__ = __index__ = __int__ = __float__ = __format__ = __contains__ = _as_value
    __add__ = __radd__ = __sub__ = __mul__ = __lt__ = __gt__ = __le__ = __ge__ = __str__ = _as_value

    def __eq__(self, other: object) -> bool:
        # `if h == 0` was silently False (an object); a handle only equals itself (kept in sets and dicts)
        if isinstance(other, NodeHandle):
            return self is other
        self._as_value()

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"<node {self.node_id} outputs={self._outputs}>"


class GraphBuilder:
    """Collects nodes while a graphify body is traced."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.nodes: dict[str, NodeSpec] = {}
        self.counters: dict[str, int] = {}
        self.errors: list[str] = []
        self.tools = GraphTools()  # one tool per name (see build_checks)
        # id of a tool called -> (the tool, kept alive for its id; its node signature; how calls to it bind): both
        # are made once per tool anyway, found here without a weak dictionary's lookup per node
        self._signatures: dict[int, tuple[Any, inspect.Signature, KeywordPlan | None]] = {}
        self._known: dict[int, KnownTool] = {}  # id of a @tool called before -> what its next calls reuse
        # Whether every node's dependencies were nodes already added, none added twice: then the insertion order is
        # a topological one and dependency_problems could find nothing (finish() skips it).
        self.ordered = True

    def pending_errors(self) -> str:
        return "".join(f"\n  also: {e}" for e in self.errors)

    def add(self, tool: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> NodeHandle:
        known = self._known.get(id(tool))
        if known is not None and not args and _CONTROL_KWARGS.isdisjoint(kwargs):
            arguments = known.bind(tool, kwargs)
            if arguments is not None:  # (a tool called before, the usual way: see build_calls)
                name = known.name
                n = self.counters.get(name, 0) + 1
                self.counters[name] = n
                node_id = f"{name}_{n}"
                nodes = self.nodes
                if node_id in nodes:
                    self.errors.append(f"{node_id}: two nodes have this id (set _id= to tell them apart)")
                    self.ordered = False
                inputs, deps = bound_inputs(arguments, node_id, self.encode)
                if self.ordered and deps and not all(map(nodes.__contains__, deps)):
                    self.ordered = False
                nodes[node_id] = make_spec(
                    node_id,
                    name,
                    known.version,
                    inputs,
                    tuple(deps) if len(deps) < 2 else tuple(dict.fromkeys(deps)),
                    None,
                    known.declared,
                    None,
                )
                return known.handle(self, node_id, known.outputs)  # type: ignore[no-any-return]
        return self._add(tool, args, kwargs)

    def _add(self, tool: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> NodeHandle:
        """:meth:`add`, the general way: any tool, any call (the first of each tool, control keywords, positional
        arguments, calls that do not bind)."""
        node_id = after = condition = timeout_s = None
        if not _CONTROL_KWARGS.isdisjoint(kwargs):
            kwargs = dict(kwargs)
            node_id = kwargs.pop("_id", None)
            after = kwargs.pop("_after", None)
            condition = kwargs.pop("_condition", None)
            timeout_s = kwargs.pop("_timeout_s", None)
        if isinstance(tool, Tool):
            name, outputs = tool.name, tool.outputs
        else:
            name, outputs = tool.tool_name, tool.tool_outputs
        if node_id is None:
            n = self.counters.get(name, 0) + 1
            self.counters[name] = n
            node_id = f"{name}_{n}"
        elif not isinstance(node_id, str) or not node_id.isidentifier():
            self.errors.append(f"_id={node_id!r}: node ids must be identifiers")
            node_id = f"{name}_{len(self.nodes) + 1}"
        if node_id in self.nodes:
            self.errors.append(f"{node_id}: two nodes have this id (set _id= to tell them apart)")
        clash = self.tools.problem(tool, name, node_id)
        if clash is not None:
            self.errors.append(clash)
        if timeout_s is not None and (
            isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not timeout_s > 0
        ):
            self.errors.append(f"{node_id}: _timeout_s must be a positive number of seconds, got {timeout_s!r}")
            timeout_s = None
        inputs, deps = self._bind(tool, name, node_id, args, kwargs)
        for a in () if after is None else after if isinstance(after, (list, tuple)) else [after]:
            dep = a.node_id if isinstance(a, NodeHandle) else a
            if not isinstance(dep, str):
                self.errors.append(f"{node_id}: _after takes handles or node ids, got {a!r}")
                continue
            deps.append(dep)
        cond_json = None
        if condition is not None:
            problem = nesting_problem(condition)
            if problem is not None:  # (one that held itself was a RecursionError out of the build)
                says = "contains itself at" if problem.cycle else "nests too deep at"
                self.errors.append(f"{node_id}: _condition {says} {problem}")
            else:
                cond_json = self.encode(condition, f"{node_id}: _condition")
                self.errors.extend(condition_problems(node_id, cond_json))
                deps.extend(r.node for r in refs_in(cond_json) if r.node != INPUTS)
        declared = None if outputs is None else tuple(outputs)
        if self.ordered and (node_id in self.nodes or not all(map(self.nodes.__contains__, deps))):
            self.ordered = False
        self.nodes[node_id] = make_spec(
            node_id,
            name,
            tool.version,  # computed once when the tool was defined
            inputs,
            tuple(deps) if len(deps) < 2 else tuple(dict.fromkeys(deps)),  # (in order, each once)
            cond_json,
            declared,
            timeout_s,
        )
        handle = NodeHandle if declared is None else handle_class(NodeHandle, declared)
        plan = self._signatures[id(tool)][2]
        if isinstance(tool, Tool) and plan is not None and id(tool) not in self._known:
            # its tool checks are done (see build_calls): its next calls the usual way reuse what this one found
            self._known[id(tool)] = KnownTool(tool, plan, declared, handle)
        return handle(self, node_id, outputs)

    def _bind(
        self, tool: Any, name: str, node_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[dict[str, Any], list[str]]:
        """The node's inputs in their JSON form, and the nodes they refer to (in order, repeats kept)."""
        known = self._signatures.get(id(tool))
        if known is None or known[0] is not tool:
            sig = node_signature(tool)
            known = self._signatures[id(tool)] = (tool, sig, keyword_plan(sig))
        sig = known[1]
        arguments = None if args else keyword_bind(known[2], kwargs)
        if arguments is None:
            try:
                arguments = bound_arguments(sig, args, kwargs)
            except TypeError as exc:  # (it names every problem: inspect's named a missing input, not a misspelt one)
                self.errors.append(f"{node_id}: unbound or unknown input of {signature_text(name, sig)}: {exc}")
                given = encode_refs(kwargs)
                return given, [r.node for r in refs_in(given) if r.node != INPUTS]
        # (a 1,000-node graph is built again at each call: this was ~15 % of a W1 graphify step, see build_calls)
        return bound_inputs(arguments, node_id, self.encode)

    def encode(self, value: Any, where: str, *, output: bool = False) -> Any:
        """``value`` in its JSON form, references included at any depth (lists, tuples, dict values).

        What would otherwise reach a tool or the outputs as a Python object is settled here: a whole handle
        nested in a graph output stands for its first output, as one at the top of the returned dict does; in a
        tool's input (or a condition) it is a build error, as at the top. A coroutine is an async function (an
        agent, a graph) called in the body: its value does not exist while building, so it is an error too."""
        if isinstance(value, Ref):
            return value.to_json()
        if isinstance(value, NodeHandle):
            first = (value._outputs or ["result"])[0]
            if output:
                return value._ref(first).to_json()
            self.errors.append(
                f"{where}: a whole handle ({value.node_id}) was passed; pass one output, e.g. {value.node_id}.{first}"
            )
            return None
        if inspect.iscoroutine(value):
            value.close()  # never awaited on purpose: no "coroutine was never awaited" warning on top of the error
            self.errors.append(
                f"{where}: a coroutine ({value.__qualname__}) was passed: an async function or agent was called "
                "while the graph was built, so it has no value; make it a node (an async @ag.tool), or call it in "
                "a tool"
            )
            return None
        if isinstance(value, dict):
            return {k: self.encode(v, where, output=output) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.encode(v, where, output=output) for v in value]
        return value

    def finish(self, outputs_decl: list[str] | None, returned: Any) -> dict[str, Any]:
        """The graph's outputs from what the body returned, checked against ``outputs=`` when it was given: a
        returned key it does not name, or a name no key has, is a build error (an undeclared key used to become an
        output silently, as a tool's would not)."""
        outputs: dict[str, Any] = {}
        if isinstance(returned, NodeHandle):
            keys = returned._outputs or ["result"]
            if outputs_decl is not None and len(outputs_decl) == 1 and len(keys) == 1:
                returned = {outputs_decl[0]: returned._ref(keys[0])}  # as a tool's one value is its one output
            else:
                returned = {k: returned._ref(k) for k in keys}
        if isinstance(returned, dict):
            for k, v in returned.items():
                if not isinstance(k, str):
                    self.errors.append(f"the body returned output name {shown(k)}: output names are strings")
                    continue
                outputs[k] = self.encode(v, f"output {k!r}", output=True)
        elif returned is not None:
            if not outputs_decl or len(outputs_decl) != 1:
                self.errors.append("the body returned one value: declare exactly one output, or return a dict")
                if inspect.iscoroutine(returned):
                    returned.close()
            else:
                outputs[outputs_decl[0]] = self.encode(returned, f"output {outputs_decl[0]!r}", output=True)
        if outputs_decl is not None:
            self._check_declared(outputs_decl, outputs, returned)
        for ref in refs_in(list(outputs.values())):
            if ref.node != INPUTS and ref.node not in self.nodes:
                self.errors.append(f"output refers to unknown node {ref.node}")
        self._check_graph()
        return outputs

    def _check_declared(self, declared: list[str], outputs: dict[str, Any], returned: Any) -> None:
        """Build errors for returned outputs ``outputs=`` does not name, and for names no returned output has."""
        undeclared = [k for k in outputs if k not in declared]
        missing = [k for k in declared if k not in outputs]
        got = "nothing" if returned is None else f"the keys {list(outputs)}"
        if undeclared:
            self.errors.append(
                f"the body returned undeclared output(s) {undeclared} (outputs={declared}): declare them in "
                "@graphify(outputs=[...]) or do not return them"
            )
        if missing:
            self.errors.append(
                f"declared outputs {missing} are not returned by the body (it returned {got}): return a dict with "
                "those keys, or drop them from @graphify(outputs=[...])"
            )

    def _check_graph(self) -> None:
        if not self.ordered:  # (else each node's dependencies came before it: no unknown node, no cycle)
            self.errors.extend(dependency_problems(self.nodes))


START_OPTIONS = ("run_id", "session", "max_concurrency", "retry", "stop_on_first_error", "resume_mode", "executor")
"""The keywords of :meth:`GraphifyFn.start`, which no input may be named after."""


class GraphifyFn:
    """A graph defined with :func:`graphify`: ``build()`` it, or ``await`` it with inputs."""

    kind = "graphify"

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None,
        inputs: Sequence[str] | dict[str, Any] | None,
        outputs: Sequence[str] | None,
        promoted_from: dict[str, Any] | None = None,
    ) -> None:
        refuse_non_body(fn)
        self.fn = fn
        chosen = name or getattr(fn, "__name__", "")
        if not isinstance(chosen, str) or not chosen.isidentifier() or keyword.iskeyword(chosen):
            raise UsageError(f"graph name must be an identifier, got {shown(chosen)}")
        self.name: str = chosen
        if inputs is None:
            self.required, self.optional = signature_inputs(fn, self.name)
        elif isinstance(inputs, dict):
            self.required = [k for k, v in inputs.items() if v is REQUIRED]
            self.optional = {k: v for k, v in inputs.items() if v is not REQUIRED}
        elif isinstance(inputs, str):
            raise UsageError(f"inputs must be a list of names, e.g. inputs=[{shown(inputs)}]")
        elif isinstance(inputs, (list, tuple)):
            self.required, self.optional = list(inputs), {}
        else:
            raise UsageError(f"@graphify inputs must be a list of names or a dict of defaults, got {shown(inputs)}")
        for k in [*self.required, *self.optional]:
            if not isinstance(k, str) or not k.isidentifier() or keyword.iskeyword(k):
                raise UsageError(f"@graphify {self.name}: input name {shown(k)} must be a Python identifier")
            if k in START_OPTIONS:
                # start(session=...) takes the keyword itself: such an input could never be passed
                raise UsageError(
                    f"@graphify {self.name}: input name {shown(k)} is reserved by start() (its options: "
                    f"{', '.join(START_OPTIONS)}); rename it",
                    code="reserved_input",
                )
        if inputs is not None:
            check_body_takes(fn, self.name, [*self.required, *self.optional])
        self.outputs = check_outputs_decl(outputs, f"@graphify {self.name}")
        if promoted_from is not None and not isinstance(promoted_from, dict):
            raise UsageError(f"promoted_from must be a dict (written by run.promote()), got {shown(promoted_from)}")
        self.promoted_from = promoted_from
        functools.update_wrapper(self, fn)
        register(self)
        self._built: dict[str, TaskGraph] = {}  # run id -> the graph start() built for it

    def build(self) -> TaskGraph:
        """Trace the body once with placeholders and return the graph (every build error reported together)."""
        builder = GraphBuilder(self.name)
        token = build_hook.set(builder.add)
        try:
            placeholders = {k: make_ref(INPUTS, k) for k in [*self.required, *self.optional]}
            returned = self.fn(**placeholders)
        finally:
            build_hook.reset(token)
        outputs = builder.finish(self.outputs, returned)
        if builder.errors:
            raise UsageError(
                f"graph {shown(self.name)} has {len(builder.errors)} problem(s):\n  " + "\n  ".join(builder.errors),
                code="build_errors",
            )
        graph = TaskGraph(self.name, list(self.required), dict(self.optional), outputs, builder.nodes)
        graph.promoted_from = self.promoted_from
        graph.tools = builder.tools.tools
        return graph

    def _inputs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        if self.promoted_from:
            TaskGraph(self.name, [], {}, {}, {}, promoted_from=self.promoted_from).check_inputs(kwargs)
        check_graph_inputs(self.name, self.required, self.optional, kwargs)
        return {**self.optional, **kwargs}

    async def run_root(self, scope: Any, inputs: dict[str, Any]) -> dict[str, Any]:
        graph = self._built.pop(scope.run.id, None) or self.build()  # a resume builds again: tools may differ
        return await _run_with_stored_options(scope, graph, inputs)

    def start(
        self,
        /,
        *,
        run_id: str | None = None,
        session: Session | None = None,
        max_concurrency: int | None = _UNSET,
        retry: RetryPolicy | None = _UNSET,
        stop_on_first_error: bool = _UNSET,
        resume_mode: str | None = None,
        executor: Executor | None = None,
        **inputs: Any,
    ) -> Run:
        """Run the graph as a task; ``resume_mode="failed_nodes"`` re-runs only what failed in run ``run_id``.

        ``max_concurrency`` caps how many nodes of this run execute at once (default: no cap — tools waiting on I/O
        overlap freely; set one for CPU-bound or rate-limited tools). A sync body holds its slot until its thread
        really ends. ``executor`` runs sync tool bodies elsewhere (e.g. an ``ag.DaskExecutor``)."""
        asked = _asked(max_concurrency=max_concurrency, stop_on_first_error=stop_on_first_error, retry=retry)
        check_cap(asked.get("max_concurrency"))
        retry_failed = check_resume_mode(resume_mode)
        if retry not in (None, _UNSET) and not isinstance(retry, RetryPolicy):
            raise UsageError(f"retry must be an ag.RetryPolicy, got {type(retry).__name__}")
        graph = self.build()  # fail early, before a run exists (and once: the run uses this build)
        options = {"max_concurrency": None, "retry": None, "stop_on_first_error": True, **asked}
        run = start_run(
            self,
            self._inputs(inputs),
            run_id=run_id,
            session=session,
            hint=f"asyncio.run({self.name}(...))",
            meta={"options": options},
            retry_failed=retry_failed,
            executor=executor,
            asked=asked,
        )
        if run.live:
            self._built[run.id] = graph  # taken by run_root when the task starts, in this loop iteration's wake
        return run

    def __call__(self, /, **inputs: Any) -> Coroutine[Any, Any, dict[str, Any]]:
        """Run the graph with ``inputs`` (await it); while another graph is being built, a :class:`UsageError`."""
        if build_hook.get() is not None:
            raise UsageError(
                f"graph {shown(self.name)} was called while another @graphify graph was being built: graphs do not "
                "nest as nodes (the call would put a coroutine in the graph). To reuse its steps, move them into a "
                "plain function that calls the tools: called in a @graphify body, it adds its nodes to that graph",
                code="nested_graph",
            )
        return direct_coroutine(self._run(inputs), self.name, "a graph")  # (a sync tool's body may drop it)

    async def _run(self, inputs: dict[str, Any]) -> dict[str, Any]:
        run = self.start(**inputs)
        try:
            return await run.result()
        except asyncio.CancelledError as exc:
            await run.stop_with_caller(exc)  # the caller owned this run (an interrupt, a timeout): it ends too
            raise

    def __repr__(self) -> str:
        return f"<graphify {self.name}({', '.join(self.required + list(self.optional))}) -> {self.outputs}>"


@overload
def graphify(fn: Callable[..., Any], /) -> GraphifyFn: ...
@overload
def graphify(
    fn: None = None,
    /,
    *,
    name: str | None = None,
    inputs: Sequence[str] | dict[str, Any] | None = None,
    outputs: Sequence[str] | None = None,
    promoted_from: dict[str, Any] | None = None,
) -> Callable[[Callable[..., Any]], GraphifyFn]: ...
def graphify(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    inputs: Sequence[str] | dict[str, Any] | None = None,
    outputs: Sequence[str] | None = None,
    promoted_from: dict[str, Any] | None = None,
) -> GraphifyFn | Callable[[Callable[..., Any]], GraphifyFn]:
    """Make a plain function a static graph: ``@graphify(name="pipeline", inputs=["x"], outputs=["answer"])``.

    ``inputs`` as a list are required; as a dict, optional with defaults (``ag.REQUIRED`` marks a required one;
    default: the function's parameters, those with a default optional). ``promoted_from`` is written by
    ``run.promote()``: it names the inputs whose defaults were computed for the run's inputs (``check_inputs``)."""

    def wrap(f: Callable[..., Any]) -> GraphifyFn:
        return GraphifyFn(f, name=name, inputs=inputs, outputs=outputs, promoted_from=promoted_from)

    return wrap if fn is None else wrap(fn)


async def _run_with_stored_options(scope: Any, graph: TaskGraph, inputs: dict[str, Any]) -> dict[str, Any]:
    """Run ``graph`` with the options recorded on the run when it started, so a resume uses the same ones."""
    options = dict((scope.run.record.meta or {}).get("options") or {})
    return await run_taskgraph(
        scope,
        graph,
        inputs,
        max_concurrency=options.get("max_concurrency"),
        retry=RetryPolicy.from_json(options["retry"]) if options.get("retry") else None,
        stop_on_first_error=options.get("stop_on_first_error", True),
    )


class _GraphTarget:
    """A built TaskGraph as a run target (``ag.run(g, inputs)``); resumes through the graphify of its name."""

    kind = "graphify"

    def __init__(self, graph: TaskGraph) -> None:
        self.graph = graph
        self.name = graph.name

    async def run_root(self, scope: Any, inputs: dict[str, Any]) -> dict[str, Any]:
        return await _run_with_stored_options(scope, self.graph, inputs)


async def run(
    graph: TaskGraph,
    inputs: dict[str, Any] | None = None,
    *,
    max_concurrency: int | None = _UNSET,
    stop_on_first_error: bool = _UNSET,
    run_id: str | None = None,
    session: Session | None = None,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """Execute a built :class:`TaskGraph` with ``inputs``; its outputs (``executor``: where sync bodies run)."""
    if not isinstance(graph, TaskGraph):
        raise UsageError(f"ag.run takes a TaskGraph (from pipeline.build()), got {type(graph).__name__}")
    if inputs is not None and not isinstance(inputs, dict):
        raise UsageError(f"ag.run(graph, inputs): inputs must be a dict of input names, got {type(inputs).__name__}")
    inputs = dict(inputs or {})
    problems = graph.problems()  # (a graph edited by hand since it was built or loaded)
    if problems:
        raise UsageError(f"graph {shown(graph.name)} cannot run:\n  " + "\n  ".join(problems), code="build_errors")
    graph.check_inputs(inputs)
    check_graph_inputs(graph.name, graph.required, graph.optional, inputs)
    asked = _asked(max_concurrency=max_concurrency, stop_on_first_error=stop_on_first_error)
    check_cap(asked.get("max_concurrency"))
    options = {"max_concurrency": None, "stop_on_first_error": True, **asked}
    r = start_run(
        _GraphTarget(graph),
        {**graph.optional, **inputs},
        run_id=run_id,
        session=session,
        executor=executor,
        hint="asyncio.run(ag.run(graph, inputs))",
        meta={"options": options, "started_from": STARTED_FROM_GRAPH},
        asked=asked,
    )
    return await r.result()
