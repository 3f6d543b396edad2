"""What the store can hold, checked where a value enters: names, ids and keys, and how deep a value may nest.

A value the store cannot hold must be refused when the user hands it over, with a message that says where in the
value the problem is, never later when a batch of history is written (where it would take other records with it).
The limits (README, "Limits"):

* ids, keys and names are strings without NUL characters or lone surrogates (text the store keeps as UTF-8);
* run ids are at most :data:`MAX_ID` characters and contain no ``/``; KV keys at most :data:`MAX_KEY`;
* values nest at most :data:`MAX_DEPTH` levels as stored (see :func:`nesting`): deeper data belongs in an artifact;
  and a value that contains itself (a list appended to itself) is refused, as no encoding can write it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aether_nb.errors import UsageError, shown

MAX_DEPTH = 200
"""How deep a stored value (a tool's inputs or outputs, a KV value, an answer...) may nest."""
MAX_ID = 200
"""The longest run id."""
MAX_KEY = 1024
"""The longest KV key, memory kind or tag."""


def lone_surrogate(text: str) -> int | None:
    """The index of the first lone surrogate in ``text`` (a code point UTF-8 cannot encode), or None."""
    if text.isascii():
        return None
    for i, ch in enumerate(text):
        if "\ud800" <= ch <= "\udfff":
            return i
    return None


def utf8_safe(value: Any) -> Any:
    """``value`` (strings, lists, dicts) with each lone surrogate written as its escape (``\\udce9``): for what goes
    out as UTF-8 (an LLM request, a terminal) and came from bytes decoded with ``surrogateescape`` (a file name) or
    half an emoji. Values without one come back as they are."""
    if isinstance(value, str):
        return value if lone_surrogate(value) is None else value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, list):
        return [utf8_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: utf8_safe(v) for k, v in value.items()}
    return value


def check_text(value: Any, what: str, *, max_len: int = MAX_KEY, empty: bool = False) -> str:
    """``value`` as a name/key/id the store can keep, or a :class:`UsageError` saying what is wrong and where."""
    if not isinstance(value, str):
        raise UsageError(f"{what} must be a string, got {type(value).__name__}", code="bad_text")
    if not empty and not value.strip():
        raise UsageError(f"{what} must be a non-empty string, got {shown(value)}", code="bad_text")
    if len(value) > max_len:
        raise UsageError(f"{what} is {len(value)} characters long; the limit is {max_len}", code="bad_text")
    nul = value.find("\x00")
    if nul >= 0:
        raise UsageError(f"{what} contains a NUL character at position {nul}; remove it", code="bad_text")
    bad = lone_surrogate(value)
    if bad is not None:
        raise UsageError(
            f"{what} contains a lone surrogate {shown(value[bad])} at position {bad}, which is not valid Unicode text "
            "(it usually comes from decoding bytes with errors='surrogateescape'); clean it up first",
            code="bad_text",
        )
    return value


HASHED = "a hash of the secret, hashlib.sha256(key.encode()).hexdigest()[:16], tells values apart"


def check_no_secret(value: str, what: str, instead: str = f"one without it ({HASHED})") -> str:
    """``value`` (an id or name the store keeps as it is: a KV key, a memory kind or tag, an artifact name, a run id,
    a thread id, a node name), or a :class:`UsageError` when it holds a secret. Values are redacted where they are
    stored, but an id or a name cannot be: masked, two would become one, and a lookup would find neither. The
    message never repeats the value; ``instead`` says what to use."""
    from aether_nb.store.redact import contains_secret

    if contains_secret(value):
        raise UsageError(
            f"{what} holds a secret (an API key or credential), and ids and names are stored as they are: use "
            f"{instead}",
            code="secret_in_name",
        )
    return value


def check_declared_inputs(declared: Any, actual: list[str], where: str) -> None:
    """AetherGraph's ``inputs=[...]`` on a decorator (which it requires): here the inputs come from the signature,
    so a declaration is accepted when it names exactly the parameters, and refused, saying which, otherwise."""
    if declared is None:
        return
    if (
        isinstance(declared, str)
        or not isinstance(declared, (list, tuple))
        or not all(isinstance(x, str) for x in declared)
    ):
        raise UsageError(f"{where}: inputs= takes a list of parameter names, got {shown(declared)}", code="bad_inputs")
    if sorted(declared) != sorted(actual):
        raise UsageError(
            f"{where}: inputs={list(declared)} does not match the function's parameters {actual}; inputs come from "
            "the signature here, so inputs= may be left out",
            code="bad_inputs",
        )


def check_run_id(value: Any) -> str:
    """A run id users may give: a short string without ``/``, NUL, lone surrogates or a secret (stored as it is in
    every table of the run's history)."""
    text = check_text(value, "run_id", max_len=MAX_ID)
    if "/" in text:
        raise UsageError(f"run_id must not contain '/', got {shown(text)}", code="bad_run_id")
    return check_no_secret(text, "run_id", RUN_ID_INSTEAD)


RUN_ID_INSTEAD = f"an id without it ({HASHED}), and let the agent read the key itself (os.environ)"
"""What to use instead of an id that holds a secret (a run id, a thread id)."""


def key_repr(key: Any) -> str:
    """``repr(key)`` for a path in a message, never raising: an int too long for decimal text (Python refuses the
    repr of one over ``sys.get_int_max_str_digits()`` digits, a dict key the store keeps exactly) is named by its
    size, a key whose ``__repr__`` raises by its type. Why: a message built for such a key raised a bare
    ValueError where the value was fine."""
    try:
        return repr(key)
    except Exception:
        if isinstance(key, int):
            return f"<int of {key.bit_length()} bits>"
        return f"<{type(key).__name__}>"


_Path = tuple[Any, str, Any] | None
"""Where the walk of :func:`nesting_problem` is: None (the value), or (the container's path, how it is reached:
``"item"``, ``"index"`` or ``"key"``, the key or index). Text only when a problem is reported (see
:func:`_path_text`): built for every entry, a key's repr cost every value checked, and raised for a key that has
none."""


def _path_text(path: _Path) -> str:
    steps: list[str] = []
    while path is not None:
        path, how, key = path
        steps.append(f" key {key_repr(key)}" if how == "key" else f"[{key if how == 'index' else key_repr(key)}]")
    return "".join(reversed(steps))


@dataclass(frozen=True)
class NestingProblem:
    """Why a value cannot be stored as it nests: too deep at ``where``, or (``cycle``) holding at ``where`` a
    container it is inside, which no encoding can write (it would nest forever)."""

    where: str
    cycle: bool
    limit: int

    def __str__(self) -> str:
        where = self.where if len(self.where) <= 80 else self.where[:40] + "…" + self.where[-36:]
        if self.cycle:
            return f"{where or 'the value'}, which holds a value it is inside (a reference cycle)"
        return f"{where or 'the value'} (more than {self.limit} levels)"


def nesting_problem(value: Any, limit: int = MAX_DEPTH) -> NestingProblem | None:
    """Where ``value`` nests deeper than ``limit`` levels, or contains itself; None when it does neither.

    Levels are counted as the store writes them (see :func:`nesting`): a tuple or a set is two, a dict with a key
    that is not a string three. Counted one each, 150 nested tuples passed this check and the store then dropped
    the record they were in (300 levels of JSON, past its limit): the value was lost, not refused.

    Why cycles are looked for here: a container met again was once skipped ("the encoder reports it"), but the
    store's encoder reports a cycle only when the record is written, in a batch, where it dropped the record (a
    wait whose schema held itself was shown, and gone after a restart). A container met again *below itself* is a
    cycle; one met again elsewhere (a value shared by two keys) is walked again only when met deeper than before,
    so a shared value cannot hide its depth under the first, shallower place it was seen.

    Iterative, so it works on values far deeper than Python's recursion limit.
    """
    stack: list[tuple[Any, int, _Path] | int] = [(value, 0, None)]  # (an int: leaving the container of that id)
    inside: set[int] = set()  # the containers the walk is in now
    walked: dict[int, int] = {}  # the deepest level each container was walked from, finding nothing
    while stack:
        entry = stack.pop()
        if isinstance(entry, int):
            inside.discard(entry)
            continue
        item, depth, path = entry
        levels = nesting(item)
        if not levels:
            continue
        key = id(item)
        if key in inside:
            return NestingProblem(_path_text(path), True, limit)
        if depth + levels > limit:
            return NestingProblem(_path_text(path), False, limit)
        if walked.get(key, -1) >= depth:
            continue
        walked[key] = depth
        inside.add(key)
        stack.append(key)
        inner = depth + levels
        if isinstance(item, dict):
            stack.extend((v, inner, (path, "item", k)) for k, v in item.items())
            if levels > 1:  # (keys that are not strings are written as values: a tuple key nests too)
                stack.extend((k, inner, (path, "key", k)) for k in item if nesting(k))
        else:
            stack.extend((v, inner, (path, "index", i)) for i, v in enumerate(item))
    return None


def depth_problem(value: Any, limit: int = MAX_DEPTH) -> str | None:
    """:func:`nesting_problem` as text (a path like ``["a"][0]...`` and what is wrong there), or None."""
    problem = nesting_problem(value, limit)
    return None if problem is None else str(problem)


_TAG = "__aether__"


def nesting(item: Any) -> int:
    """How many levels of JSON the store's encoding of container ``item`` adds (0: not a container): a list or a
    dict of string keys is one; a tuple or a set is written as ``{"__aether__": ..., "items": [...]}`` (two); a
    dict with another key (or the tag's own name) as ``{"__aether__": "dict", "items": [[k, v], ...]}`` (three)."""
    if isinstance(item, list):
        return 1
    if isinstance(item, dict):  # (a Counter, an OrderedDict: tagged around their map, one level more)
        if all(type(k) is str for k in item) and _TAG not in item:
            return 1 if type(item) is dict else 2
        return 3
    if isinstance(item, (tuple, set, frozenset)):
        return 2
    return 0


def check_depth(value: Any, what: str, limit: int = MAX_DEPTH) -> Any:
    """``value`` unchanged, or a :class:`UsageError` naming where it nests too deep (code ``too_deep``) or holds
    itself (code ``self_reference``)."""
    problem = nesting_problem(value, limit)
    if problem is None:
        return value
    if problem.cycle:
        raise UsageError(
            f"{what} contains itself at {problem}: it cannot be written as JSON or stored (it would nest forever). "
            "Pass a value without the cycle: build the inner list or dict anew instead of putting the outer one "
            "inside it",
            code="self_reference",
        )
    raise UsageError(
        f"{what} nests too deep at {problem}; the store keeps values up to {limit} levels deep (a tuple or "
        "a set counts two, a dict with keys that are not strings three). "
        "Flatten it, or save it as an artifact (context.artifacts().save_bytes/save_json) and pass its uri",
        code="too_deep",
    )
