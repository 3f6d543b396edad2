"""How ``run.promote()`` traces an argument's value back to where it came from (see
:mod:`~aether_nb.runtime.promote` for the rules): by value, among the run's tool outputs (an approval's answer
among them), its inputs and their elements, the constants of the agent's code and the values its questions and LLM
calls produced. A value held more than once in one container (a call's arguments, a list) by several outputs takes
them in the run's order, one each (see ``Tracer.among``).

Values are compared as one truth value whatever they are (:func:`values_equal`): a NumPy array a tool returned or
was passed compared elementwise, and the promotion failed with a bare ValueError. A value that is not JSON is
recorded among a node's inputs by its preview only (a NumPy array's repr), so it is also found by its preview; the
promotion's check replays the graph with the real values and says when that was a coincidence.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable, Iterable
from typing import Any

from aether_nb.runtime.codec import preview
from aether_nb.runtime.taskgraph import INPUTS, Ref
from aether_nb.store.redact import contains_secret, redact_text

__all__ = [
    "NOT_FOUND",
    "Tracer",
    "has_ref",
    "holds_secret",
    "is_secret",
    "same_value",
    "short",
    "trivial",
    "values_equal",
]


def is_secret(value: Any) -> bool:
    """Whether ``value`` is a string holding a secret (never written into the promoted source)."""
    return isinstance(value, str) and contains_secret(value)


def holds_secret(value: Any) -> bool:
    """Whether ``value`` is, or a list or dict holding, a string with a secret."""
    if isinstance(value, list):
        return any(holds_secret(v) for v in value)
    if isinstance(value, dict):
        return any(holds_secret(v) for v in value.values())
    return is_secret(value)


def trivial(value: Any) -> bool:
    """None, a bool, or an empty string, list or dict: a value many origins could have at once, so it is traced
    with the run's data flow first and by exact type only (see ``Tracer._trivial``). By type and length:
    ``value in ("", [], {})`` compared a NumPy array elementwise (a bare ValueError)."""
    return value is None or isinstance(value, bool) or (isinstance(value, (str, list, dict)) and len(value) == 0)


def short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Tracer:
    """Traces argument values back to their origin (see the module docstring)."""

    def __init__(
        self,
        inputs: dict[str, Any],
        constants: list[Any],
        step_values: list[tuple[str, Any]],
        read: set[str] | None = None,
        returned: list[tuple[str, Any]] | None = None,
        element: Callable[[Any], Ref | None] | None = None,
    ) -> None:
        self.inputs = inputs
        self.read = read  # the names the agents' code reads (None: its source is unknown)
        self.constants = constants
        self.step_values = step_values  # (answer, LLM reply or step, what it produced): kept as literals
        # (step, what it returned): a nested agent's result, a context call's; a computed input equal to one is
        # named for it (it is the run's value of that step, not a value computed between the agent's calls)
        self.returned = returned or []
        self.produced: list[tuple[str, str, Any]] = []  # (node_id, key, value), in completion order
        self.computed: dict[str, Any] = {}
        self.sources: dict[str, str] = {}  # computed input -> the step that returned its value
        self.notes: list[str] = []
        # an element of a run input (``skus[0]``): a reference to a node taking it (see promote_items), or None
        self.element = element
        # (name, value, step): a value a step the graph does not make produced, kept as the literal it was
        self.frozen: list[tuple[str, Any, str]] = []
        # the values held more than once in the container being traced, each with the outputs holding it that are
        # still free, in the run's order (see ``among``)
        self._shared: list[tuple[Any, list[Ref]]] = []

    def origin(self, value: Any, parents: set[str], name: str, fallback: Any = None) -> Any:
        """A Ref, a literal, or a Ref to a new computed input named ``name``; structures element by element.
        ``fallback`` (when not None) is returned instead of making a computed input: a tool's parameter holding its
        default value is that default, not a value the agent computed."""
        found = self._whole(value, parents)
        if found is not NOT_FOUND and not has_ref(found) and not trivial(value):
            # a constant of the code that an LLM reply or an answer also produced (``label == "urgent"`` then
            # ``return {"label": label}``) is that step's value: kept as the literal it is, and named by the warning
            step = next((s for s, produced in self.step_values if values_equal(produced, value)), None)
            if step is not None:
                return self._frozen(name, value, step)
        if found is not NOT_FOUND and not (is_secret(found)):
            self._note_ambiguous(value, found, name)
            return found
        if is_secret(value):
            # a key is never written into the source, even when it is a constant of the agent's code
            return self._computed_input(name, value)
        if isinstance(value, (list, dict)) and value:
            outer = self._shared
            self.among(value if isinstance(value, list) else value.values())
            try:
                if isinstance(value, list):
                    items = [self._whole(v, parents) for v in value]
                    if all(i is not NOT_FOUND for i in items) and any(has_ref(i) for i in items):
                        return items
                else:
                    items_d = {k: self._whole(v, parents) for k, v in value.items()}
                    if all(i is not NOT_FOUND for i in items_d.values()) and any(has_ref(i) for i in items_d.values()):
                        return items_d
            finally:
                self._shared = outer
        for step, produced in self.step_values:
            if values_equal(produced, value):
                return self._frozen(name, value, step)
        if fallback is not None:
            return fallback
        return self._computed_input(name, value)

    def _frozen(self, name: str, value: Any, step: str) -> Any:
        """``value``, what ``step`` (an answer, an LLM reply) produced, kept as a literal: noted and listed."""
        self.notes.append(redact_text(f"{step} produced {value!r} during the run: kept as a literal"))
        self.frozen.append((name, value, step))
        return value

    def among(self, values: Iterable[Any]) -> None:
        """Trace the values of one container next (a call's arguments, the run's outputs, a list): a value held
        there more than once, and by several outputs, is taken from those outputs in the run's order, one each.
        Each was traced alone, to the latest output holding it, so ``[p["price"] for p in prices]`` with two equal
        prices read the second call twice: with other inputs the graph gave the second price in both places."""
        groups: list[list[Any]] = []
        for v in values:
            if trivial(v) or is_secret(v):
                continue
            group = next((g for g in groups if _same(g[0], v)), None)
            if group is None:
                groups.append([v, 1])
            else:
                group[1] += 1
        self._shared = []
        for v, n in groups:
            holders = [Ref(node_id, key) for node_id, key, held in self.produced if _same(held, v)]
            if n > 1 and len(holders) > 1:
                self._shared.append((v, holders))
                named = ", ".join(f"{r.node}.{r.key}" for r in holders)
                self.notes.append(
                    redact_text(
                        f"{short(v, 60)} is passed {n} times and is the output of {named}: each place takes one of "
                        "them, in the run's order — if the agent used others, edit them"
                    )
                )

    def chosen(self, value: Any, name: str) -> Any:
        """An argument an LLM chose for a tool call (``run_tools``): the literal it was, as any LLM reply taken
        during the run (an equal output or input elsewhere is a coincidence a static graph must not turn into a
        dependency); a secret becomes a computed input, never source text."""
        if is_secret(value):
            return self._computed_input(name, value)
        return value

    def _computed_input(self, name: str, value: Any) -> Ref:
        """A new input of the promoted graph holding ``value``, named ``name`` unless a run input has that name.
        ``name`` as a Python name: it is a parameter of the source's body (a schema tool's argument ``my-key``,
        or a ``**kwargs`` key, made ``sp_echo_1_my-key``, which did not parse)."""
        name = re.sub(r"\W", "_", name)
        chosen, n = name, 1
        while chosen in self.inputs or chosen in self.computed:
            n += 1
            chosen = f"{name}_{n}"
        self.computed[chosen] = value
        step = next((label for label, v in self.returned if not trivial(value) and values_equal(v, value)), None)
        if step is not None:
            self.sources[chosen] = step
        return Ref(INPUTS, chosen)

    def _note_ambiguous(self, value: Any, chosen: Any, name: str) -> None:
        """Origins are found by value: when another origin holds the same value (a run input equal to a constant
        of the code, or to an earlier tool output), the source says which one it took, so it can be edited."""
        small = trivial(value)
        equal = _same if small else values_equal  # (a trivial value only by type: True is no 1, None no "")
        others: list[str] = []
        for k, v in self.inputs.items():
            if equal(v, value) and chosen != Ref(INPUTS, k) and not (small and not self._reads(k)):
                others.append(f"input {k}")
        for node_id, key, v in self.produced:
            if equal(v, value) and chosen != Ref(node_id, key):
                others.append(f"{node_id}.{key}")
        if isinstance(chosen, Ref) and any(_same(c, value) for c in self.constants):
            others.append(f"the constant {short(value, 60)} of the agent's code")
        if not small:  # (an LLM reply equal to a constant or an output was taken for it, with no word)
            others += [f"what {step} produced" for step, v in self.step_values if values_equal(v, value)]
        if isinstance(chosen, Ref) and chosen.node == INPUTS and self.read is not None and chosen.key not in self.read:
            # (the agent is found by name: a notebook that redefined it may show other code, so this only warns)
            others.append(f"a value computed in Python (the agent's code does not read input {chosen.key})")
        if others:
            taken = (
                f"{chosen.key}"
                if isinstance(chosen, Ref) and chosen.node == INPUTS
                else (f"{chosen.node}.{chosen.key}" if isinstance(chosen, Ref) else f"the constant {chosen!r}")
            )
            self.notes.append(
                redact_text(
                    f"{name}: its value {short(value, 60)} is also {', '.join(dict.fromkeys(others))}; the graph "
                    f"takes {taken} — if the agent used another, edit that argument"
                )
            )

    def _whole(self, value: Any, parents: set[str]) -> Any:
        """The origin of ``value`` as a whole: the first equal one in the order of the module docstring, of the
        same type first (``2.0`` is a float a tool returned, not the input ``count=2`` it equals: taking the input
        made the promoted graph return ``count`` where the agent returned the tool's result)."""
        if trivial(value):
            return self._trivial(value, parents)
        shared = next((refs for held, refs in self._shared if refs and _same(held, value)), None)
        if shared is not None:  # (held more than once in this container: see ``among``)
            return shared.pop(0)
        candidates = list(reversed(self.produced))
        for same in (_same, _equal):
            for node_id, key, v in candidates:
                if node_id in parents and same(v, value):
                    return Ref(node_id, key)
            for k, v in self.inputs.items():
                if same(v, value):
                    return Ref(INPUTS, k)
            for node_id, key, v in candidates:
                if same(v, value):
                    return Ref(node_id, key)
        # an element of an input (a loop over ``skus`` passes each one): taken from the input when the graph runs,
        # before a constant of the code (as a whole input is)
        element = self.element(value) if self.element is not None else None
        if element is not None:
            return element
        if any(_same(c, value) for c in self.constants):
            return value
        # a value that is not JSON (a NumPy array, a set) is recorded as an argument by its preview only: the value
        # whose preview it is, the check then confirms with the real values (a coincidence fails it, said)
        for node_id, key, v in candidates:
            if node_id in parents and _previewed(v, value):
                return Ref(node_id, key)
        for k, v in self.inputs.items():
            if _previewed(v, value):
                return Ref(INPUTS, k)
        for node_id, key, v in candidates:
            if _previewed(v, value):
                return Ref(node_id, key)
        return NOT_FOUND

    def _trivial(self, value: Any, parents: set[str]) -> Any:
        """The origin of a trivial value (None, a bool, an empty string, list or dict). Many origins hold one at
        once, so it is matched by exact type only (``True`` is no ``1``) and with the run's data flow first: an
        output of a call the run made just before, then an input the agent's code reads, then any earlier output,
        then a constant of the code; else it was computed (``d["y"] > 10``). It used to be a literal whatever its
        origin, so a tool's ``urgent=True`` passed on was frozen and other inputs took the run's route silently.
        When several origins hold it, the source names the others (see ``_note_ambiguous``)."""
        candidates = list(reversed(self.produced))
        for node_id, key, v in candidates:
            if node_id in parents and _same(v, value):
                return Ref(node_id, key)
        for k, v in self.inputs.items():
            if self._reads(k) and _same(v, value):
                return Ref(INPUTS, k)
        for node_id, key, v in candidates:
            if _same(v, value):
                return Ref(node_id, key)
        if any(_same(c, value) for c in self.constants):
            return value
        return NOT_FOUND

    def _reads(self, name: str) -> bool:
        """Whether the agent's code may read input ``name`` (True when its source is unknown)."""
        return self.read is None or name in self.read


NOT_FOUND = object()


def same_value(a: Any, b: Any) -> bool:
    """Equal, and of the same type (containers compared the same way, item by item)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    return values_equal(a, b)


_same = same_value


def _equal(a: Any, b: Any) -> bool:
    return values_equal(a, b)


def values_equal(a: Any, b: Any) -> bool:
    """``a == b`` as one truth value, for any two values a run kept: a NumPy array's ``==`` is an array of
    booleans, whose truth is a bare ValueError (``The truth value of an array ... is ambiguous``), and
    ``run.promote()`` of a run that passed one failed with it. Containers are compared item by item the same way;
    values compared elementwise (NumPy arrays, pandas frames) are equal when of one type and shape with every
    element equal; a comparison that raises is not equal."""
    if a is b:
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(values_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return (
            isinstance(a, tuple) == isinstance(b, tuple)
            and len(a) == len(b)
            and all(values_equal(x, y) for x, y in zip(a, b, strict=True))
        )
    if _kind(a) != _kind(b):  # (``1 == True == 1.0``: a bool, an int and a float are different values here)
        return False
    try:
        answer = a == b
        if isinstance(answer, bool):
            return answer
        if getattr(answer, "shape", ()) == ():  # one truth value (a NumPy scalar's np.bool_)
            return bool(answer)
        equals = getattr(a, "equals", None)  # (pandas: NaN in the same places counts as equal)
        if callable(equals):
            return bool(equals(b))
        same_shape = type(a) is type(b) and getattr(a, "shape", None) == getattr(b, "shape", None)
        return same_shape and bool(answer.all())
    except Exception:  # (a comparison that raises, or an answer with no single truth value)
        return False


def _kind(value: Any) -> str | None:
    """Which of bool, int and float ``value`` is (NumPy's scalars too), or None: Python's ``1 == True`` and
    ``1 == 1.0`` made an agent's count 1 the bool an earlier tool returned, in the source and in its check."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return "bool"
    if isinstance(value, numbers.Integral):
        return "int"
    if isinstance(value, numbers.Real):
        return "float"
    if isinstance(value, numbers.Complex):
        return "complex"
    return None


def _previewed(value: Any, recorded: Any) -> bool:
    """Whether ``recorded`` (an argument as the run's node recorded it) is the preview of ``value``, a value that is
    not JSON (its preview is not itself: a NumPy array's is its repr, a set's a list)."""
    shown = preview(value)
    return not _same(shown, value) and _same(shown, recorded)


def has_ref(value: Any) -> bool:
    """Whether ``value`` is a Ref or a list or dict holding one."""
    if isinstance(value, Ref):
        return True
    if isinstance(value, list):
        return any(has_ref(v) for v in value)
    if isinstance(value, dict):
        return any(has_ref(v) for v in value.values())
    return False
