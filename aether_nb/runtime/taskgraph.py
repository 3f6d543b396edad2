"""TaskGraph: a static DAG of tool calls — its spec (JSON round trip) and the per-run state of its nodes.

Tools are referenced by their registered name plus a version fingerprint of their code, never by a late-bound
``__main__`` path: a graph built before a tool was redefined in a later notebook cell says so by name when it runs,
instead of silently running the new code.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from dataclasses import dataclass, field
from typing import Any, NoReturn

from aether_nb.errors import UsageError, shown
from aether_nb.runtime.arguments import node_tool
from aether_nb.runtime.codec import NotEncodable, decode, encode, pickled
from aether_nb.runtime.registry import lookup, lookup_version
from aether_nb.store.records import JSON

INPUTS = "__inputs__"
"""The pseudo-node whose outputs are the graph's inputs."""


class _Required:
    """The marker of a required input in ``@graphify(inputs={...})`` (``ag.REQUIRED``)."""

    def __repr__(self) -> str:
        return "ag.REQUIRED"

    def __reduce__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
"""``@graphify(inputs={"x": ag.REQUIRED, "limit": 10})``: ``x`` must be given, ``limit`` defaults to 10."""

NODE_STATUSES = (
    "PENDING",
    "RUNNING",
    "WAITING_HUMAN",
    "WAITING_EXTERNAL",
    "WAITING_TIME",
    "WAITING_EVENT",
    "DONE",
    "FAILED",
    "FAILED_TIMEOUT",
    "SKIPPED",
    "CANCELLED",
)


@dataclass(frozen=True)
class Ref:
    """A reference to a future value: output ``key`` of node ``node`` (or graph input ``key`` of ``INPUTS``)."""

    node: str
    key: str

    def to_json(self) -> dict[str, list[str]]:
        return {"$ref": [self.node, self.key]}

    def _as_value(self, how: str, instead: str) -> NoReturn:
        what = f"graph input {self.key!r}" if self.node == INPUTS else f"{self.node}.{self.key}"
        raise UsageError(
            f"{what} was {how} while the graph was built (in a @graphify body); it has no value until the graph "
            f"runs. {instead}, or use a graph_fn, where values are real",
            code="handle_as_value",
        )

    def __format__(self, spec: str) -> str:
        # f"Forecast: {f.forecast}" in a @graphify body would otherwise put "Ref(node=...)" into a prompt or a
        # message, silently: the value exists only when the graph runs
        self._as_value(
            "formatted into text (an f-string or format())",
            "Build the text in a tool that takes it as an argument (a @ag.tool returning {'text': f'...'})",
        )

    def __bool__(self) -> bool:
        # `if x:` in a @graphify body was silently always true (a handle is an object): the branch was traced once
        self._as_value(
            "used as a condition (if, while, and, or, not)",
            "Decide when the graph runs: give the node that depends on it "
            "_condition={'op': 'truthy', 'value': <it>} (or 'eq', 'ne', 'in', 'not', 'and', 'or')",
        )

    def __str__(self) -> str:
        # str(ref) and "%s" % ref put "Ref(node=...)" into text as f-strings did (repr stays, for messages)
        self._as_value(
            "turned into text (str() or %-formatting)",
            "Build the text in a tool that takes it as an argument (a @ag.tool returning {'text': f'...'})",
        )

    def __eq__(self, other: object) -> bool:
        # Two references compare (the runtime and promotion hold them in sets and dicts); `x == 0` or `x in [1, 2]`
        # in a body was silently False (the branch was traced once), so a comparison with a value is an error.
        if isinstance(other, Ref):
            return self.node == other.node and self.key == other.key
        self._as_value(
            "compared with a value (==, !=, in)",
            "Decide when the graph runs: give the node that depends on it _condition={'op': 'eq', 'left': <it>, "
            "'right': <value>} (or 'ne', 'in', 'not_in')",
        )

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash((self.node, self.key))

    def __contains__(self, item: object) -> bool:
        self._as_value(
            "searched with `in`",
            "Decide when the graph runs: give the node that depends on it _condition={'op': 'in', 'left': <value>, "
            "'right': <it>}",
        )

    def _as_list(self, *_: Any) -> NoReturn:
        # `for v in xs`, `len(xs)`, `xs[0]` in a body were raw TypeErrors ("'Ref' object is not iterable"): a
        # graph's shape is fixed when it is built, so it cannot follow a list's length at run time
        self._as_value(
            "used as a list (iterated, len(), indexed or unpacked)",
            "A static graph's shape is fixed when it is built: loop in a tool that takes the whole list as an "
            "argument (a @ag.tool looping over it), loop over a list known while building (a Python constant), "
            "or take one element when the graph runs with input_item(of=<it>, at=[0]).value "
            "(from aether_nb.runtime.promote_items)",
        )

    def _as_number(self, *_: Any) -> NoReturn:
        self._as_value(
            "used as a number (int(), float(), round(), an index or a range)",
            "Compute in a tool that takes it as an argument",
        )

    __iter__ = __len__ = __getitem__ = __reversed__ = _as_list
    __index__ = __int__ = __float__ = __complex__ = __round__ = __trunc__ = __floor__ = __ceil__ = _as_number

    def _compared(self, other: Any) -> bool:
        self._as_value(
            "compared (<, <=, >, >=)",
            "Compare in a tool that takes it as an argument (a @ag.tool returning {'ok': x > 100}) and give the "
            "node that depends on it _condition={'op': 'truthy', 'value': <that tool's ok>}",
        )

    def _computed(self, *_: Any) -> Any:
        self._as_value("used in arithmetic", "Compute in a tool that takes it as an argument")

    __lt__ = __le__ = __gt__ = __ge__ = _compared
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _computed
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = __pow__ = __rpow__ = _computed
    __neg__ = __pos__ = __abs__ = __invert__ = __matmul__ = __rmatmul__ = __divmod__ = __rdivmod__ = _computed
    __and__ = __rand__ = __or__ = __ror__ = __xor__ = __rxor__ = __lshift__ = __rlshift__ = _computed
    __rshift__ = __rrshift__ = _computed


_new_object = object.__new__


def make_ref(node: str, key: str) -> Ref:
    """``Ref(node, key)``, its fields set in its ``__dict__``: a frozen dataclass's ``__init__`` sets each through an
    ``object.__setattr__`` call, and a graph's build makes one reference per ``handle.output`` it reads (a
    1,000-node chain: a thousand). The same object in every way (fields, equality, hash, pickling)."""
    ref = _new_object(Ref)
    fields = ref.__dict__
    fields["node"] = node
    fields["key"] = key
    return ref


def is_ref_json(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "$ref" in value


def encode_refs(value: Any) -> Any:
    """Turn Refs nested in lists/dicts into their JSON form."""
    if isinstance(value, Ref):
        return value.to_json()
    if isinstance(value, dict):
        return {k: encode_refs(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode_refs(v) for v in value]
    return value


def refs_in(value: Any) -> list[Ref]:
    """Every reference inside a JSON value (in order)."""
    if is_ref_json(value):
        node, key = value["$ref"]
        return [Ref(node, key)]
    if isinstance(value, dict):
        return [r for v in value.values() for r in refs_in(v)]
    if isinstance(value, list):
        return [r for v in value for r in refs_in(v)]
    return []


def resolve(value: Any, results: dict[str, dict[str, Any] | None]) -> Any:
    """Replace references by values (a reference to a skipped node resolves to None)."""
    if is_ref_json(value):
        node, key = value["$ref"]
        outputs = results.get(node)
        return None if outputs is None else outputs.get(key)
    if isinstance(value, dict):
        return {k: resolve(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, results) for v in value]
    return value


def tool_version(tool: Any) -> str:
    """A fingerprint of a tool's code, to notice that a notebook cell redefined it."""
    parts: list[str] = []
    for fn in (getattr(tool, "fn", None), getattr(tool, "setup", None), getattr(tool, "on_resume", None)):
        code = getattr(fn, "__code__", None)
        if code is not None:
            parts.append(code.co_code.hex() + repr(code.co_consts) + repr(code.co_names))
    if not parts:
        try:
            parts.append(inspect.getsource(tool))
        except (OSError, TypeError):
            parts.append(repr(tool))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]


def origin(tool: Any) -> tuple[str, str]:
    """Where a tool was defined (module and qualified name) — the same for a function redefined in a cell."""
    fn = getattr(tool, "fn", tool)
    return (getattr(fn, "__module__", ""), getattr(fn, "__qualname__", ""))


@dataclass(frozen=True)
class NodeSpec:
    """One node: which tool, with which inputs (values and references), after which nodes, under what condition."""

    id: str
    tool: str
    tool_version: str
    inputs: JSON
    deps: tuple[str, ...]
    condition: JSON = None
    outputs: tuple[str, ...] | None = None
    timeout_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tool": self.tool,
            "tool_version": self.tool_version,
            "inputs": self.inputs,
            "deps": list(self.deps),
            "condition": self.condition,
            "outputs": None if self.outputs is None else list(self.outputs),
            "timeout_s": self.timeout_s,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NodeSpec:
        outs = data.get("outputs")
        return cls(
            id=data["id"],
            tool=data["tool"],
            tool_version=data["tool_version"],
            inputs=data["inputs"],
            deps=tuple(data["deps"]),
            condition=data.get("condition"),
            outputs=None if outs is None else tuple(outs),
            timeout_s=data.get("timeout_s"),
        )


def make_spec(
    node_id: str,
    tool: str,
    tool_version: str,
    inputs: JSON,
    deps: tuple[str, ...],
    condition: JSON,
    outputs: tuple[str, ...] | None,
    timeout_s: float | None,
) -> NodeSpec:
    """``NodeSpec(...)`` with every field given, set in its ``__dict__`` in the fields' order (see :func:`make_ref`:
    eight ``object.__setattr__`` calls were ~30 % of a node's build)."""
    spec = _new_object(NodeSpec)
    fields = spec.__dict__
    fields["id"] = node_id
    fields["tool"] = tool
    fields["tool_version"] = tool_version
    fields["inputs"] = inputs
    fields["deps"] = deps
    fields["condition"] = condition
    fields["outputs"] = outputs
    fields["timeout_s"] = timeout_s
    return spec


def dependency_problems(nodes: dict[str, NodeSpec]) -> list[str]:
    """What no run could order: a dependency on a node the graph does not have, and cycles (a node depending on
    itself is one). ``build()`` and :meth:`TaskGraph.from_json` both refuse a graph with any."""
    problems: list[str] = []
    indeg: dict[str, int] = {}
    dependents: dict[str, list[str]] = {n: [] for n in nodes}
    for n, s in nodes.items():  # (one pass, no generator per node: a graph is checked at each build)
        k = 0
        for d in s.deps:
            if d in dependents:
                dependents[d].append(s.id)
                k += 1
            else:
                problems.append(f"{s.id}: depends on unknown node {d!r}")
        indeg[n] = k
    ready = [n for n, k in indeg.items() if k == 0]
    seen = 0
    while ready:
        n = ready.pop()
        seen += 1
        for m in dependents[n]:
            indeg[m] -= 1
            if indeg[m] == 0:
                ready.append(m)
    if seen != len(nodes):
        problems.append(f"cycle among nodes {sorted(n for n, k in indeg.items() if k > 0)}")
    return problems


def _spec_problems(graph: TaskGraph, key: str, spec: NodeSpec) -> list[str]:
    """What is wrong with one node of a loaded graph (its fields' types, references, timeout)."""
    if not isinstance(spec.id, str) or not spec.id or spec.id != key:
        return [f"node id {shown(spec.id)}: node ids are non-empty strings, each used once"]
    where = spec.id
    problems = []
    if not isinstance(spec.tool, str) or not spec.tool:
        problems.append(f"{where}: tool must be a tool's name, got {shown(spec.tool)}")
    if not all(isinstance(d, str) for d in spec.deps):
        problems.append(f"{where}: deps must be node ids, got {shown(list(spec.deps))}")
    if spec.outputs is not None and not all(isinstance(o, str) for o in spec.outputs):
        problems.append(f"{where}: outputs must be names, got {shown(list(spec.outputs))}")
    t = spec.timeout_s
    if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float)) or not t > 0):
        problems.append(f"{where}: timeout_s must be a positive number of seconds or None, got {shown(t)}")
    for what, value in (("input", spec.inputs), ("_condition", spec.condition)):
        for ref in refs_in(value):
            if ref.node == INPUTS:
                if ref.key not in graph.required and ref.key not in graph.optional:
                    problems.append(f"{where}: {what} refers to graph input {ref.key!r}, which the graph does not take")
            elif ref.node not in spec.deps:
                problems.append(
                    f"{where}: {what} refers to node {ref.node!r}, which is not among its deps {list(spec.deps)}"
                )
    return problems


@dataclass
class TaskGraph:
    """A built graph: ``spec`` fields plus the last known ``state`` of each node (status, outputs, error)."""

    name: str
    required: list[str]
    optional: dict[str, Any]
    outputs: dict[str, JSON]
    nodes: dict[str, NodeSpec]
    state: dict[str, dict[str, Any]] = field(default_factory=dict)
    promoted_from: dict[str, Any] | None = None
    """For a graph promoted from a run: ``{"run": id, "inputs": {...}, "computed": [names]}`` — the optional inputs
    named in ``computed`` hold values the run computed in Python for those run inputs (see :meth:`check_inputs`)."""
    tools: dict[tuple[str, Any], Any] = field(default_factory=dict, repr=False, compare=False)
    """The tools ``build()`` found the nodes calling, by name and code version: the ones :meth:`resolve_tool` runs.
    Not saved (a graph loaded from JSON finds its tools by name and code version): two tools of one name and code
    (a factory's) would otherwise both be found as the one defined last."""

    kind = "graphify"

    def check_inputs(self, given: dict[str, Any]) -> None:
        """Refuse a call that would use a promoted graph's computed defaults with other inputs than the run's.

        A value the run computed in Python between calls (``double(a["y"] + 1)``) is an input of the promoted graph,
        its default the run's value; with other inputs that default is stale, so it must be passed explicitly.
        """
        origin = self.promoted_from
        if not origin:
            return
        changed = [k for k, v in (origin.get("inputs") or {}).items() if k in given and given[k] != v]
        stale = [k for k in origin.get("computed") or [] if k not in given]
        if changed and stale:
            raise UsageError(
                f"graph {shown(self.name)} was promoted from run {origin.get('run')}, where {', '.join(stale)} "
                f"{'was' if len(stale) == 1 else 'were'} computed in Python from the run's inputs; with other "
                f"values for {', '.join(changed)} the run's value{'s' if len(stale) > 1 else ''} would be stale. "
                f"Pass {', '.join(f'{k}=...' for k in stale)}, or compute {'it' if len(stale) == 1 else 'them'} in a "
                "tool of the original agent and promote again",
                code="stale_computed_inputs",
            )

    def node(self, node_id: str) -> NodeSpec:
        try:
            return self.nodes[node_id]
        except KeyError:
            raise KeyError(f"no node {shown(node_id)} in graph {shown(self.name)}; nodes: {list(self.nodes)}") from None

    def topological_order(self) -> list[str]:
        """Node ids, each after all of its dependencies (ties in the order nodes were added)."""
        order: list[str] = []
        waiting = {n: sum(1 for d in s.deps if d in self.nodes) for n, s in self.nodes.items()}
        dependents = self.dependents()
        ready = [n for n, k in waiting.items() if k == 0]
        while ready:
            n = ready.pop(0)
            order.append(n)
            for m in dependents[n]:
                waiting[m] -= 1
                if waiting[m] == 0:
                    ready.append(m)
        return order

    def dependents(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {n: [] for n in self.nodes}
        for spec in self.nodes.values():
            for d in spec.deps:
                if d in out:
                    out[d].append(spec.id)
        return out

    def problems(self) -> list[str]:
        """Every reason this graph cannot run as written (empty for a graph ``build()`` made): checked when a graph
        is loaded or run, since a hand-edited one would otherwise "succeed" with None where values were missing."""
        problems = [p for key, spec in self.nodes.items() for p in _spec_problems(self, key, spec)]
        problems += dependency_problems(self.nodes)
        for name, value in self.outputs.items():
            for ref in refs_in(value):
                if ref.node != INPUTS and ref.node not in self.nodes:
                    problems.append(f"output {name!r} refers to unknown node {ref.node!r}")
        return problems

    # -- JSON ---------------------------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The graph as JSON: its constants (node inputs, defaults, outputs, node states) in the form the runtime's
        codec stores values in (a numpy value or a tuple tagged, other objects pickled), which :meth:`from_json`
        restores. A constant that form cannot hold (a lambda, an open file) is a :class:`UsageError` naming it.
        """
        where = "the graph's inputs' defaults"
        try:
            optional = encode(dict(self.optional))
            nodes = []
            for n in self.nodes.values():
                where = f"node {n.id}'s inputs or _condition"
                nodes.append(encode(n.to_json()))
            where = "the graph's outputs"
            outputs = encode(dict(self.outputs))
            where = "the nodes' last outputs (state)"
            state = encode(self.state)
            where = "promoted_from"
            promoted_from = encode(self.promoted_from)
        except NotEncodable as exc:
            raise UsageError(
                f"graph {shown(self.name)} cannot be saved as JSON: {where} hold(s) a value it cannot keep ({exc}). "
                "Pass that value as a graph input instead of building it into the graph, or make it a plain value "
                "(numbers, strings, lists, dicts)",
                code="graph_not_saveable",
            ) from None
        return {
            "name": self.name,
            "inputs": {"required": list(self.required), "optional": optional},
            "outputs": outputs,
            "nodes": nodes,
            "state": state,
            "promoted_from": promoted_from,
        }

    def dumps(self) -> str:
        """:meth:`to_json` as a string. A constant JSON holds only as a pickle (a numpy array, an object) makes
        the file one :meth:`from_json` loads only with ``allow_pickle=True``: unpickling runs code the file names."""
        return json.dumps(self.to_json())

    @classmethod
    def from_json(cls, data: dict[str, Any] | str, *, allow_pickle: bool = False) -> TaskGraph:
        """The graph ``dumps()`` / ``to_json()`` wrote; anything else (a damaged or hand-edited file) is a
        :class:`UsageError` saying what is wrong. Its tools are looked up when it runs (a cell may define them later).

        ``allow_pickle``: a graph whose constants were pickled (numpy arrays, objects) is refused unless this is
        true, as ``numpy.load`` refuses pickles: a graph file is shared, and unpickling a hand-made one runs its code.
        """
        try:
            if isinstance(data, str):
                data = json.loads(data)
            if isinstance(data, dict):
                if not allow_pickle and pickled(data):
                    raise UsageError(
                        "this graph file holds pickled constants (a numpy array or an object built into the graph): "
                        "loading them runs code the file names. If you trust the file, load it with "
                        "TaskGraph.from_json(..., allow_pickle=True); else pass such values as graph inputs",
                        code="graph_pickled",
                    )
                data = decode(data)  # (constants as to_json() encoded them)
            if not isinstance(data, dict):
                raise TypeError(f"expected a JSON object, got {type(data).__name__}")
            nodes = [NodeSpec.from_json(n) for n in data["nodes"]]
            graph = cls(
                name=data["name"],
                required=list(data["inputs"]["required"]),
                optional=dict(data["inputs"]["optional"]),
                outputs=dict(data["outputs"]),
                nodes={n.id: n for n in nodes},
                state=dict(data.get("state") or {}),
                promoted_from=data.get("promoted_from"),
            )
            ids = [n.id for n in nodes]
            problems = [
                f"node id {i!r} is used by {ids.count(i)} nodes" for i in dict.fromkeys(ids) if ids.count(i) > 1
            ]
            problems += graph.problems()
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            what = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
            raise UsageError(
                f"TaskGraph.from_json: this is not a graph written by TaskGraph.dumps() ({type(exc).__name__}: "
                f"{shown(what, 200)}); load the file it wrote, unedited",
                code="bad_graph_json",
            ) from exc
        if problems:
            raise UsageError(
                f"TaskGraph.from_json: graph {shown(graph.name)} has {len(problems)} problem(s):\n  "
                + "\n  ".join(problems)
                + "\nload the file TaskGraph.dumps() wrote, unedited, or build the graph again",
                code="bad_graph_json",
            )
        return graph

    # -- tools ---------------------------------------------------------------------------------------------------------
    def resolve_tool(self, spec: NodeSpec) -> Any:
        """The tool a node was built with (the one ``build()`` called, when this graph holds it), refusing one whose
        code was redefined since the graph was built.

        Tools are found by name and code version, so two modules may each have a tool of the same name; but when
        the definition a graph was built with has been replaced by a newer one of the same function (a notebook
        cell run again with changed code), running the old code silently would surprise: it is an error naming
        the tool.
        """
        latest = lookup("tool", spec.tool)
        held = self.tools.get((spec.tool, spec.tool_version))
        if held is not None:
            exact = held  # the tool the build called (another of its name and code may have been defined since)
        else:
            exact = lookup_version("tool", spec.tool, spec.tool_version)
            if exact is None and latest is not None and tool_version(latest) == spec.tool_version:
                exact = latest
        if (
            latest is None
            or exact is None
            or (latest is not exact and origin(latest) == origin(exact) and latest.version != exact.version)
        ):
            raise UsageError(
                f"tool {shown(spec.tool)} was redefined after graph {shown(self.name)} was built (node {spec.id}); "
                "build the graph again to use the new code"
                if latest is not None
                else f"node {spec.id} of graph {shown(self.name)} needs tool {shown(spec.tool)}, which is not defined "
                "in this process: run the cell that defines it",
                node_id=spec.id,
                code="tool_redefined" if latest is not None else "tool_missing",
            )
        return node_tool(exact)  # (positional-only, *args and **kwargs inputs go back as the call passed them)

    # -- display --------------------------------------------------------------------------------------------------
    def to_graph_dict(self) -> dict[str, Any]:
        """The run-graph shape (``RunGraph.to_dict``) of this graph and its state, for widgets and SVG."""
        nodes = [
            {
                "id": n.id,
                "name": n.tool,
                "kind": "tool",
                "status": self.state.get(n.id, {}).get("status", "PENDING"),
                "parent": None,
                "started_at": None,
                "ended_at": None,
                "inputs": n.inputs,
                "outputs": self.state.get(n.id, {}).get("outputs"),
                "error": self.state.get(n.id, {}).get("error"),
            }
            for n in self.nodes.values()
        ]
        edges = [[d, n.id] for n in self.nodes.values() for d in n.deps if d in self.nodes]
        return {"run_id": "", "name": self.name, "status": "built", "nodes": nodes, "edges": edges}

    def visualize(self, *, timeout_s: float = 5.0) -> str | None:
        """SVG of the graph via Graphviz ``dot`` (in a subprocess with a timeout; a cheap layout if slow)."""
        from aether_nb.runtime.dot import render_svg_sync

        return render_svg_sync(self.to_graph_dict(), timeout_s=timeout_s)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle: dict[str, Any] = {"text/plain": repr(self)}
        svg = self.visualize()
        if svg is not None:
            bundle["image/svg+xml"] = svg
        return bundle

    def __repr__(self) -> str:
        return f"TaskGraph({self.name!r}, nodes={list(self.nodes)}, outputs={list(self.outputs)})"
