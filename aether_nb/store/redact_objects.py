"""Secrets redacted out of Python objects, keeping their shape: an error's attributes and the exceptions it chains.

:mod:`aether_nb.store.redact` works on text, which is all the store, the logs and the widget ever receive. An error
raised to a person is an object: ``GraphBuildError.problems`` (a list), ``ToolInvocationError.tool_kwargs`` (a dict
the model wrote), ``LLMOutputError.text``, and the exception it was raised from are printed, shown in a traceback and
handed to the user's code as they are. Here such values are walked and rebuilt with the same rules, so a dict stays
a dict and a ``ValueError`` stays a ``ValueError``, only without the secret:

* :func:`redact_object`: a value (strings, bytes, dicts, lists, tuples, sets, dataclasses, nested) with every string
  redacted and every value under a credential-named key masked, as the store masks ``{"api_key": ...}``;
* :func:`redacted_chain`: an exception, or a copy of it whose messages, attributes and notes are redacted, chained to
  copies of its causes that are. The exception given is never changed: a person's own exception object (caught
  again later, compared) must stay as they made it.

Both give back the very object they were given when it holds nothing to redact (no copy, no cost but the searches),
and never raise for what they cannot copy: they leave it as it is.
"""

from __future__ import annotations

import builtins
import copy
import dataclasses
import json
import types
from collections.abc import Callable
from typing import Any

from aether_nb.store.redact import MASK, redact_text

__all__ = ["credential_key", "redact_object", "redacted_chain"]

Scrub = Callable[[str], str]
"""How one string is redacted (an error's rule: :func:`aether_nb.errors.redacted` and the secrets its message had)."""

MAX_ITEMS = 10_000
"""Strings and containers one :func:`redact_object` looks at: a value past them (a huge list in an error's
attribute) is left as it is rather than make raising an error cost seconds."""
MAX_DEPTH = 64
MAX_CHAIN = 32
"""Exceptions of one chain (causes and contexts) :func:`redacted_chain` copies; past them the chain is kept."""
_ELIDED = ("...", "\u2026")
_CAUSE = BaseException.__dict__["__cause__"]
_CONTEXT = BaseException.__dict__["__context__"]
_ARGS = BaseException.__dict__["args"]
_TRACEBACK = BaseException.__dict__["__traceback__"]
_credential_keys: dict[str, bool] = {}


def credential_key(name: str) -> bool:
    """Whether the store masks a dict's value under ``name`` whatever it is (``api_key``, ``password``,
    ``{"user password": ...}``; not a bare ``token`` nor ``prompt_tokens``): asked of the store's own rule, so an
    object and its stored JSON agree."""
    known = _credential_keys.get(name)
    if known is None:
        probe = json.dumps({name: 0})
        known = redact_text(probe).endswith(f': "{MASK}"}}')
        if len(name) <= 64:
            if len(_credential_keys) >= 4096:
                _credential_keys.clear()
            _credential_keys[name] = known
    return known


class _Walk:
    """One walk of a value: its string rule, what it has looked at, the containers it is inside (cycles)."""

    def __init__(self, scrub: Scrub) -> None:
        self.scrub = scrub
        self.budget = MAX_ITEMS
        self.inside: set[int] = set()

    def value(self, value: Any, depth: int = 0) -> Any:
        if value is None or isinstance(value, (bool, int, float, complex)):
            return value
        self.budget -= 1
        if self.budget < 0 or depth > MAX_DEPTH:
            return value
        if isinstance(value, str):
            clean = self.scrub(value)
            return value if clean == value else clean
        if isinstance(value, (bytes, bytearray)):
            text = bytes(value).decode("latin-1")  # (one character per byte: all but a secret comes back as it was)
            clean = self.scrub(text)
            return value if clean == text else type(value)(clean.encode("latin-1", "replace"))
        if id(value) in self.inside:
            return value
        self.inside.add(id(value))
        try:
            return self._container(value, depth + 1)
        finally:
            self.inside.discard(id(value))

    def _container(self, value: Any, depth: int) -> Any:
        if isinstance(value, dict):
            items = [(self.value(k, depth), self._under(k, v, depth)) for k, v in value.items()]
            if all(nk is k and nv is v for (nk, nv), (k, v) in zip(items, value.items(), strict=True)):
                return value
            return _rebuilt_dict(value, items)
        if isinstance(value, (list, tuple, set, frozenset)):
            items = [self.value(v, depth) for v in value]
            if all(new is old for new, old in zip(items, value, strict=True)):
                return value
            return _rebuilt_sequence(value, items)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            changed = {}
            for f in dataclasses.fields(value):
                old = getattr(value, f.name, None)
                new = self.value(old, depth)
                if new is not old:
                    changed[f.name] = new
            if changed:
                try:
                    return dataclasses.replace(value, **changed)
                except Exception:  # (a field set by __post_init__, a validating __init__: left as it is)
                    return value
        return value

    def _under(self, key: Any, value: Any, depth: int) -> Any:
        """``value`` as the store keeps it under ``key``: masked whole under a credential's name."""
        if isinstance(key, str) and value is not None and credential_key(key):
            return _masked(value, depth)
        return self.value(value, depth)


def _masked(value: Any, depth: int = 0) -> Any:
    """``value`` under a credential's name: every value in it ``[REDACTED]`` (the keys of a dict in it kept), as the
    store masks ``{"credentials": {"user": ..., "token": ...}}``; ``None`` and an elided ``...`` stay."""
    if value is None or (isinstance(value, str) and value in _ELIDED):
        return value
    if depth > MAX_DEPTH:
        return MASK
    if isinstance(value, dict):
        return _rebuilt_dict(value, [(k, _masked(v, depth + 1)) for k, v in value.items()])
    if isinstance(value, (list, tuple, set, frozenset)):
        return _rebuilt_sequence(value, [_masked(v, depth + 1) for v in value])
    return MASK


def _rebuilt_dict(value: dict[Any, Any], items: list[tuple[Any, Any]]) -> dict[Any, Any]:
    """A dict of ``value``'s type (an ``OrderedDict``, a ``defaultdict`` with its factory) holding ``items``."""
    if type(value) is not dict:
        try:
            new = copy.copy(value)
            new.clear()
            new.update(items)
            return new
        except Exception:  # (a subclass that cannot be copied or cleared: a plain dict, the same items)
            pass
    return dict(items)


def _rebuilt_sequence(value: Any, items: list[Any]) -> Any:
    """A list, tuple, set or frozenset of ``value``'s type (a named tuple too) holding ``items``."""
    kind = type(value)
    if kind in (list, tuple, set, frozenset):
        return kind(items)
    try:
        return kind(*items) if isinstance(value, tuple) and hasattr(value, "_fields") else kind(items)
    except Exception:  # (a subclass whose constructor takes something else)
        for base in (list, tuple, set, frozenset):
            if isinstance(value, base):
                return base(items)
        return value


def redact_object(value: Any, scrub: Scrub) -> Any:
    """``value`` with every string redacted by ``scrub`` and every value under a credential-named key masked, of the
    same types and shape (a dict stays a dict, a tuple a tuple); ``value`` itself when nothing in it changes.

    Objects other than strings, bytes, dicts, lists, tuples, sets and dataclasses are left as they are: their fields
    may be anything, and copying them could run their code."""
    return _Walk(scrub).value(value)


# -- exceptions ------------------------------------------------------------------------------------------------------
_members: dict[type, tuple[str, ...]] = {}


def _member_names(kind: type) -> tuple[str, ...]:
    """The C-level fields of ``kind``'s built-in bases that its ``str`` may read (``OSError.filename``,
    ``SyntaxError.text``, ``UnicodeError.object``...): a copy made without calling ``__init__`` must get them."""
    names = _members.get(kind)
    if names is None:
        found: list[str] = []
        for klass in kind.__mro__:
            if klass.__module__ != "builtins" or klass is builtins.object:
                continue
            for name, attr in vars(klass).items():
                getset = isinstance(attr, (types.MemberDescriptorType, types.GetSetDescriptorType))
                if getset and not name.startswith("__") and name != "args" and name not in found:
                    found.append(name)
        names = _members[kind] = tuple(found)
    return names


@dataclasses.dataclass
class _Parts:
    """What a copy of one exception is made of: its args, its C-level fields and its ``__dict__``, redacted."""

    args: tuple[Any, ...]
    members: dict[str, Any]
    state: dict[str, Any]
    changed: bool


def _parts(exc: BaseException, walk: _Walk) -> _Parts:
    args = exc.args
    new_args = walk.value(args)
    changed = new_args is not args
    members: dict[str, Any] = {}
    for name in _member_names(type(exc)):
        try:
            old = getattr(exc, name)
        except Exception:  # (OSError.characters_written when unset)
            continue
        members[name] = walk.value(old)
        changed = changed or members[name] is not old
    state: dict[str, Any] = {}
    for name, old in vars(exc).items():
        if name.startswith("_aether"):
            continue  # (an aether_nb error's own bookkeeping: the copy keeps its own)
        state[name] = walk.value(old)
        changed = changed or state[name] is not old
    if isinstance(state.get("__notes__"), list):
        state["__notes__"] = list(state["__notes__"])  # (a note added to the copy must not reach the original)
    return _Parts(tuple(new_args), members, state, changed)


def _stand_in(exc: BaseException, scrub: Scrub) -> BaseException:
    """An exception of ``exc``'s name and module whose ``str`` is ``exc``'s redacted: the copy of one that cannot be
    made without its constructor (or whose ``str`` then fails)."""
    kind = type(exc)
    try:
        text = scrub(str(exc))
    except Exception:
        text = f"<{kind.__name__}: its message could not be read>"
    body = {"__module__": kind.__module__, "__qualname__": kind.__qualname__, "__str__": lambda self: text}
    stand_in: type[Exception] = type(kind.__name__, (Exception,), body)
    return stand_in(text)


def _copy(exc: BaseException, parts: _Parts, scrub: Scrub) -> BaseException:
    kind = type(exc)
    try:
        new = kind.__new__(kind, *parts.args)  # (not __init__: it may take other arguments, or do something)
        if type(new) is not kind:
            raise TypeError("__new__ made another type")
        _ARGS.__set__(new, parts.args)
        for name, value in parts.members.items():
            try:
                if getattr(new, name, None) is not value:  # (None set is not unset: OSError's str reads as given)
                    setattr(new, name, value)
            except Exception:  # (a read-only field, given by __new__)
                continue
        vars(new).update(parts.state)
        str(new)
    except Exception:
        new = _stand_in(exc, scrub)
    _TRACEBACK.__set__(new, exc.__traceback__)
    return new


def redacted_chain(exc: BaseException, scrub: Scrub) -> BaseException:
    """``exc`` itself when neither it nor what it was raised from (its ``__cause__`` and ``__context__``, all the way
    down) holds a secret; else a copy of it, of the same type, with its args, fields, attributes and notes redacted
    by ``scrub``, chained to such copies of its causes (the ones that hold nothing are chained as they are).

    Nothing given is changed: the copy is made with the type's ``__new__`` and filled in (its ``__init__``, which
    may take other arguments, is not called); a type that cannot be copied so is stood in for by an exception of
    its name whose ``str`` is the redacted text of the original."""
    walk = _Walk(scrub)
    nodes: list[BaseException] = []
    index: dict[int, int] = {}
    pending: list[BaseException | None] = [exc]
    while pending and len(nodes) < MAX_CHAIN:
        e = pending.pop()
        if e is None or id(e) in index:
            continue
        index[id(e)] = len(nodes)
        nodes.append(e)
        pending += [_CONTEXT.__get__(e), _CAUSE.__get__(e)]
    parts = [_parts(e, walk) for e in nodes]
    changed = {i for i, p in enumerate(parts) if p.changed}
    grew = bool(changed)
    while grew:  # an exception raised from one that changes changes too: it must chain to the copy
        grew = False
        for i, e in enumerate(nodes):
            links = (_CAUSE.__get__(e), _CONTEXT.__get__(e))
            if i not in changed and any(x is not None and index.get(id(x)) in changed for x in links):
                changed.add(i)
                grew = True
    if not changed:
        return exc
    copies = {i: _copy(nodes[i], parts[i], scrub) for i in changed}
    for i in changed:
        original, new = nodes[i], copies[i]
        for link in (_CAUSE, _CONTEXT):
            target = link.__get__(original)
            j = index.get(id(target)) if target is not None else None
            link.__set__(new, copies[j] if j is not None and j in copies else target)
        new.__suppress_context__ = original.__suppress_context__  # (setting a cause set it)
    return copies[0]
