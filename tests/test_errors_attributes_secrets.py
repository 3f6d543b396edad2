"""An aether_nb error's attributes hold no secret, and the exception it is raised from is never changed.

Two leaks and one surprise the redaction of error messages (``tests/test_errors_secrets.py``) left:

* ``GraphBuildError.problems``, ``ToolInvocationError.tool_kwargs``, ``LLMOutputError.text``/``problems``,
  ``GraphRecursionError.path``, ``node_id`` and any attribute set on an error kept what the caller or the model
  passed in clear (printed, shown in a variable inspector) while the message showed ``[REDACTED]``. They are redacted
  as they are set, keeping their types and shape.
* An error made in an ``except`` block redacted the handled exception's ``args`` in place: the caller's own exception
  object changed under them. Now it is left as it is, and the error's ``__cause__``/``__context__`` read as a
  redacted copy of it (same type), which is what tracebacks show.
"""

from __future__ import annotations

import collections
import pickle
import traceback
from collections.abc import Callable
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aether_nb.errors import AetherError, LLMOutputError, RunFailed, UsageError
from aether_nb.flow.tool_errors import ToolInvocationError
from aether_nb.flow.types import GraphBuildError, GraphRecursionError
from tests.test_errors_secrets import ENV_NAME, SECRETS, WRAPS, _environment, _everything_shown


def _no_part_of(core: str, text: str) -> None:
    assert core not in text
    for start in range(0, len(core) - 12 + 1):
        assert core[start : start + 12] not in text


# (the error, the attribute that holds the value, whether that attribute holds the value itself: its shape is kept)
MAKERS: dict[str, Callable[[Any], tuple[AetherError, str, bool]]] = {
    "ToolInvocationError.tool_kwargs": lambda v: (
        ToolInvocationError("Invalid arguments for lookup", tool_name="lookup", tool_kwargs=v),
        "tool_kwargs",
        True,
    ),
    "ToolInvocationError.tool_name": lambda v: (ToolInvocationError("bad call", tool_name=repr(v)), "tool_name", False),
    "LLMOutputError.text": lambda v: (LLMOutputError("not JSON", text=repr(v)), "text", False),
    "LLMOutputError.problems": lambda v: (LLMOutputError("bad reply", problems=[repr(v)]), "problems", False),
    "GraphBuildError.problems": lambda v: (GraphBuildError([f"node a: bad value {v!r}", "fine"]), "problems", False),
    "GraphRecursionError.path": lambda v: (GraphRecursionError("too many steps", [["a", repr(v)]]), "path", False),
    "node_id": lambda v: (UsageError("bad node", node_id=repr(v)), "node_id", False),
    "an attribute set later": lambda v: (_with_details(v), "details", True),
}


def _with_details(value: Any) -> AetherError:
    err = RunFailed("the run failed")
    err.details = value  # type: ignore[attr-defined]
    return err


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(secret=SECRETS, wrap=st.sampled_from(sorted(WRAPS)), maker=st.sampled_from(sorted(MAKERS)))
def test_a_secret_in_an_error_s_attribute_is_never_shown_and_the_attribute_keeps_its_shape(
    secret: tuple[str, str, bool], wrap: str, maker: str
) -> None:
    written, core, from_env = secret
    given_value = WRAPS[wrap](written)
    with _environment(ENV_NAME, written if from_env else None):
        err, attribute, whole = MAKERS[maker](given_value)
        value = getattr(err, attribute)
        shown = "\n".join([repr(value), str(value), repr(vars(err)), repr(err), _everything_shown(err)])
        if isinstance(err, GraphBuildError):
            shown += repr(pickle.loads(pickle.dumps(err)).problems)
    _no_part_of(core, shown)
    assert "[REDACTED]" in shown
    if whole:  # a dict stays a dict of as many keys, a tuple a tuple of as many items...
        assert type(value) is type(given_value)
        if isinstance(given_value, (dict, list, tuple)):
            assert len(value) == len(given_value)
    assert type(err.problems if isinstance(err, GraphBuildError) else value) in (str, list, dict, tuple)


class Point(NamedTuple):
    x: str
    y: int


def test_values_under_a_credential_name_are_masked_and_a_clean_value_is_the_same_object() -> None:
    kwargs: dict[str, Any] = {"password": "hunter2", "q": "weather in Paris", "max_tokens": 5, "token": "wait-1"}
    err = ToolInvocationError("Invalid arguments for login", tool_name="login", tool_kwargs=kwargs)
    assert err.tool_kwargs == {"password": "[REDACTED]", "q": "weather in Paris", "max_tokens": 5, "token": "wait-1"}
    assert kwargs["password"] == "hunter2"  # (the caller's dict is left as it was)

    nested = {"credentials": {"user": "ada", "pin": 1234}, "where": [1, ("sk-proj-" + "Q9w8E7r6T5" * 4, 2)]}
    err = ToolInvocationError("bad call", tool_kwargs=collections.OrderedDict(nested))
    assert type(err.tool_kwargs) is collections.OrderedDict
    assert err.tool_kwargs == {
        "credentials": {"user": "[REDACTED]", "pin": "[REDACTED]"},
        "where": [1, ("[REDACTED]", 2)],
    }

    point = Point("sk-proj-" + "Z1x2C3v4B5" * 4, 3)
    err = UsageError("bad point")
    err.point = point  # type: ignore[attr-defined]
    assert err.point == Point("[REDACTED]", 3) and type(err.point) is Point  # type: ignore[attr-defined]

    clean = {"q": "weather", "n": [1, 2, {"a": "b"}]}
    assert ToolInvocationError("bad call", tool_kwargs=clean).tool_kwargs is clean
    assert ToolInvocationError("bad call", tool_name="lookup").tool_name == "lookup"
    cyclic: list[Any] = ["sk-proj-" + "C1c2C3c4C5" * 4]
    cyclic.append(cyclic)
    err = ToolInvocationError("bad call", tool_kwargs=cyclic)
    assert err.tool_kwargs[0] == "[REDACTED]"


def test_a_value_masked_for_its_name_in_the_message_is_masked_in_the_attributes_too() -> None:
    """``{'api_key': 'plain...'}`` in the message masks ``plain...`` for its name; an attribute quoting it without
    that name (set before the message was made, as ``GraphBuildError.problems``, or after) is masked too."""
    plain = "plainvalue-not-a-number"
    err = GraphBuildError([f"node a: got {{'api_key': {plain!r}}}", f"node b: {plain} again"])
    assert plain not in repr(err.problems) and plain not in str(err)
    err2 = LLMOutputError(f"the reply gave {{'api_key': {plain!r}}}", text=f"the key is {plain}", problems=[plain])
    assert plain not in err2.text and plain not in repr(err2.problems)


def test_run_id_and_code_are_kept_as_given() -> None:
    err = UsageError("x", run_id="run-abc", code="bad_thing")
    assert (err.run_id, err.code) == ("run-abc", "bad_thing")


class Refused(Exception):
    """A caller's exception whose constructor takes other arguments than its message."""

    def __init__(self, url: str, status: int) -> None:
        super().__init__(f"{url} refused the call with {status}")
        self.url = url
        self.status = status


def _raise_mine(kind: str, secret: str) -> BaseException:
    """The caller's exception holding ``secret`` (raised once, so it has a traceback)."""
    mine: BaseException
    if kind == "args":
        mine = ValueError(f"could not parse {secret}")
    elif kind == "note":
        mine = KeyError("missing")
        mine.add_note(f"the key was {secret}")
    elif kind == "attribute":
        mine = Refused(f"https://ada:{secret}@api.example.org/v1", 401)
    elif kind == "oserror":
        mine = FileNotFoundError(2, "No such file or directory", f"/data/{secret}/x")
    else:  # "its own cause": the secret is one level further down the chain
        try:
            try:
                raise ValueError(f"token {secret}")
            except ValueError as inner:
                raise RuntimeError("lookup failed") from inner
        except RuntimeError as outer:
            return outer
    try:
        raise mine
    except BaseException as exc:
        return exc


def _snapshot(exc: BaseException) -> tuple[Any, ...]:
    chain = [exc, exc.__cause__]
    return tuple(
        (e, e.args, str(e), list(getattr(e, "__notes__", [])), dict(vars(e)), getattr(e, "filename", None))
        for e in chain
        if e is not None
    )


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(secret=SECRETS, kind=st.sampled_from(["args", "note", "attribute", "oserror", "its own cause"]))
def test_the_caller_s_exception_is_never_changed_and_the_chain_shown_is_redacted(
    secret: tuple[str, str, bool], kind: str
) -> None:
    written, core, from_env = secret
    with _environment(ENV_NAME, written if from_env else None):
        mine = _raise_mine(kind, written)
        before = _snapshot(mine)
        with pytest.raises(UsageError) as caught:
            try:
                raise mine
            except BaseException as exc:
                raise UsageError("the call failed: see the error it was raised from") from exc
        shown = _everything_shown(caught.value)
        after = _snapshot(mine)
    assert after == before  # the same objects, args, notes and attributes: the caller may hold it and compare
    _no_part_of(core, shown)
    cause = caught.value.__cause__
    assert type(cause) is type(mine) and cause is caught.value.__cause__ and cause is caught.value.__context__
    cause.add_note("added to what was shown")  # (the ToolNode / turn code notes the cause it re-raises)
    assert _snapshot(mine) == before


def test_ipython_s_traceback_shows_the_chain_redacted() -> None:
    from IPython.core.ultratb import AutoFormattedTB

    key = "sk-proj-" + "I1p2Y3t4H5" * 4
    mine = _raise_mine("attribute", key)
    try:
        try:
            raise mine
        except Refused as exc:
            raise UsageError("the call was refused") from exc
    except UsageError as err:
        lines = AutoFormattedTB(mode="Context", theme_name="nocolor").structured_traceback(
            type(err), err, err.__traceback__
        )
    text = "\n".join(lines)
    assert "Refused" in text and "I1p2Y3t4H5" not in text
    assert "I1p2Y3t4H5" in str(mine)


def test_a_chain_without_a_secret_is_the_caller_s_own_objects_and_a_cause_put_back_is_kept() -> None:
    mine = _raise_mine("args", "nothing secret here")
    with pytest.raises(UsageError) as caught:
        try:
            raise mine
        except ValueError as exc:
            raise UsageError("bad value") from exc
    assert caught.value.__cause__ is mine and caught.value.__context__ is mine

    secret = _raise_mine("args", "sk-proj-" + "P1u2T3b4A5" * 4)
    try:
        raise secret
    except ValueError:
        err = UsageError("bad value")
    err.__cause__ = secret
    shown = err.__cause__
    assert shown is not secret and "P1u2T3b4A5" not in str(shown)
    err.__cause__ = None  # (the notebook's printer detaches a cause and puts it back)
    assert err.__cause__ is None
    err.__cause__ = shown
    assert err.__cause__ is shown and "P1u2T3b4A5" in str(secret)


def test_a_cause_given_outside_an_except_block_is_the_object_given() -> None:
    """``RunFailed``'s cause is the run's own exception (what shows it, the notebook and the store, redacts it)."""
    theirs = _raise_mine("args", "sk-proj-" + "R1u2N3f4D5" * 4)
    err = RunFailed("the run failed")
    err.__cause__ = theirs
    assert err.__cause__ is theirs


def test_an_exception_that_cannot_be_copied_is_shown_by_a_stand_in_of_its_name() -> None:
    class Picky(Exception):
        def __new__(cls, *args: Any) -> Picky:
            if len(args) != 2:
                raise TypeError("Picky takes two arguments")
            return super().__new__(cls, *args)

        def __str__(self) -> str:
            return f"{self.args[0]} / {self.args[1]}"

    key = "ghp_" + "G1h2P3k4L5" * 3 + "abcdef"
    original = Picky(f"token {key}", 3)
    try:
        raise original
    except Picky as exc:
        err = UsageError("failed")
        err.__cause__ = exc
    shown = err.__cause__
    assert shown is not None and type(shown).__name__ == "Picky" and "G1h2P3k4L5" not in str(shown)
    assert "G1h2P3k4L5" in str(original)
    assert "G1h2P3k4L5" not in "".join(traceback.format_exception(err))
