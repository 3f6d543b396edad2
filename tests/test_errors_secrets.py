"""A secret passed where another value belongs is never quoted back in clear by an aether_nb error.

A key typed into the wrong argument (``ag.configure(durability=os.environ["OPENAI_API_KEY"])``) was quoted whole in
the ``UsageError``'s message: a cell's error output is saved with the notebook, and printed tracebacks reach logs,
while the store, the widget and the notebook redact secrets. Every aether_nb error's message is redacted when the
error is made (``aether_nb.errors``), and so are the exceptions it is raised from.
"""

from __future__ import annotations

import os
import pickle
import string
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aether_nb as ag
from aether_nb.errors import AetherError, StorageError, UsageError, shown
from aether_nb.services.llm_config import LLMProfile
from tests.conftest import default_session

ALNUM = string.ascii_letters + string.digits
ENV_NAME = "AETHER_NB_TEST_F5_SERVICE_TOKEN"
"""A credential-like environment variable (``*_TOKEN``): its value is a secret the store redacts as it is."""


def _text(alphabet: str, low: int, high: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=low, max_size=high)


def _not_a_word(s: str) -> bool:
    """Whether a password holds a digit. Hypothesis also draws string constants of the code under test: a password
    such as ``LLMOutputE`` is part of the error's own class name, which the shown text rightly holds."""
    return any(c.isdigit() for c in s)


# (how the secret is written, the part of it that must never be shown, whether it is an environment value)
SECRETS: st.SearchStrategy[tuple[str, str, bool]] = st.one_of(
    _text(ALNUM + "_-", 40, 80).map(lambda s: ("sk-proj-" + s, s, False)),
    _text(ALNUM, 48, 48).map(lambda s: ("sk-" + s, s, False)),
    _text(ALNUM, 36, 36).map(lambda s: ("ghp_" + s, s, False)),
    _text(string.ascii_uppercase + string.digits, 16, 16).map(lambda s: ("AKIA" + s, s, False)),
    _text(ALNUM, 30, 40).map(lambda s: ("hf_" + s, s, False)),
    _text(ALNUM, 10, 24).filter(_not_a_word).map(lambda s: (f"https://ada:{s}@db.example.org:5432/x", s, False)),
    _text(ALNUM + "-_", 16, 40).filter(_not_a_word).map(lambda s: (s, s, True)),
)
WRAPS: dict[str, Callable[[str], Any]] = {
    "as it is": lambda s: s,
    "in a sentence": lambda s: f"my key is {s}, use it",
    "under api_key": lambda s: {"api_key": s},
    "under another key": lambda s: {"where": s},
    "as a dict's key": lambda s: {s: 1},
    "in a list": lambda s: ["a", s],
    "in a tuple": lambda s: (3, s),
}


def _fn(x: int) -> int:
    return x


def _service(value: Any) -> None:
    ag.register_context_service(f"{value}?" if isinstance(value, str) else value, object())


CALLS: dict[str, Callable[[Any], object]] = {
    "configure(durability=)": lambda v: ag.configure(durability=v),
    "configure(store=)": lambda v: ag.configure(store={"path": v}),
    # (DuckDB's error, chained, quotes the path again, rewritten: "https:/ada:...")
    "configure(store=<a file in a missing folder>)": lambda v: ag.configure(store=f"/nonexistent-aether-f5/{v}/x"),
    "configure(max_live_waiting=)": lambda v: ag.configure(max_live_waiting=v),
    "configure(nested_sync=)": lambda v: ag.configure(nested_sync=v),
    "configure(widgets_per_cell=)": lambda v: ag.configure(widgets_per_cell=v),
    "configure(max_concurrency=)": lambda v: ag.configure(max_concurrency=v),
    "configure(executor=)": lambda v: ag.configure(executor=v),
    "configure(llm=base_url)": lambda v: ag.configure(llm={"model": "m", "base_url": f"no URL: {v}"}),
    "configure(llm=timeout_s)": lambda v: ag.configure(llm={"model": "m", "timeout_s": v}),
    "configure(llm=prices)": lambda v: ag.configure(llm={"model": "m", "prices": {"m": {"input": v}}}),
    "configure(llm=unknown)": lambda v: ag.configure(llm={"model": "m", "extra": v, f"x{v}": 1}),
    "runs(status=)": lambda v: ag.runs(status=v),
    "get_run()": lambda v: ag.get_run({"id": v}),
    # (a name that is not an identifier: some keys are identifiers, and such a name is accepted)
    "register_context_service()": _service,
    "tool(name=)": lambda v: ag.tool(name=f"{v}?")(_fn),
    "LLMProfile(max_retries=)": lambda v: LLMProfile(model="m", max_retries=v),
    "LLMProfile(model=)": lambda v: LLMProfile(model=[v]),
}


@contextmanager
def _environment(name: str, value: str | None) -> Iterator[None]:
    before = os.environ.get(name)
    if value is not None:
        os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def _chain(err: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    pending: list[BaseException | None] = [err]
    while pending:
        exc = pending.pop()
        if exc is not None and all(exc is not s for s in seen):
            seen.append(exc)
            pending += [exc.__cause__, exc.__context__]
    return seen


def _everything_shown(err: BaseException) -> str:
    """What a person or a log may see of ``err``: its str and repr, each chained exception's, the traceback."""
    parts = ["".join(traceback.format_exception(err))]
    for exc in _chain(err):
        parts += [str(exc), repr(exc)]
    return "\n".join(parts)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(secret=SECRETS, wrap=st.sampled_from(sorted(WRAPS)), call=st.sampled_from(sorted(CALLS)))
def test_a_secret_in_a_wrong_argument_is_never_shown_by_the_error(
    secret: tuple[str, str, bool], wrap: str, call: str
) -> None:
    written, core, from_env = secret
    value = WRAPS[wrap](written)
    with _environment(ENV_NAME, written if from_env else None), default_session():
        with pytest.raises(AetherError) as caught:
            CALLS[call](value)
        shown_text = _everything_shown(caught.value)
    assert core not in shown_text
    for start in range(0, len(core) - 12 + 1):  # no part of it either (a repr cut short showed the key's end)
        assert core[start : start + 12] not in shown_text


@pytest.mark.parametrize(
    ("label", "call"),
    [
        ("durability", lambda k: ag.configure(durability=k)),
        ("store", lambda k: ag.configure(store={"api_key": k})),
        ("runs", lambda k: ag.runs(status=k)),
        ("service", lambda k: ag.register_context_service(k, object())),
        ("tool", lambda k: ag.tool(name=k)(_fn)),
    ],
)
def test_the_reported_calls_no_longer_quote_the_key(label: str, call: Callable[[str], object]) -> None:
    key = "sk-proj-" + "A1b2C3d4E5" * 4
    with default_session(), pytest.raises(UsageError) as caught:
        call(key)
    assert key not in str(caught.value) and "A1b2C3d4E5" not in str(caught.value), label
    assert "[REDACTED]" in str(caught.value)


def test_a_password_in_a_store_url_is_not_quoted_back_nor_by_the_duckdb_error_it_comes_from(tmp_path: Any) -> None:
    password = "hunter2pw77"
    with default_session(), pytest.raises(StorageError) as caught:
        ag.configure(store=f"postgres://u:{password}@h/db")
    assert caught.value.__cause__ is not None  # (DuckDB's own error, chained)
    assert password not in _everything_shown(caught.value)
    assert "postgres://u:[REDACTED]@h/db" in str(caught.value)


def test_an_api_key_given_with_a_bad_setting_is_not_quoted_by_that_setting_s_error() -> None:
    """The key is a secret as soon as it is given: a key pasted as the base_url was quoted back."""
    plain = "zq9PLAINsecretXY77-f5"
    with default_session(), pytest.raises(UsageError) as caught:
        ag.configure(llm={"model": "x", "base_url": f"http//{plain}", "api_key": plain})
    assert plain not in str(caught.value) and "base_url" in str(caught.value)
    with default_session(), pytest.raises(UsageError) as caught:
        LLMProfile(model="x", api_key=plain + "-2", base_url=plain + "-2")
    assert plain not in str(caught.value)


def test_a_message_without_a_secret_is_unchanged_and_survives_pickling() -> None:
    """A message that says how to call (``'api_key': ...``) is no secret and reads as written."""
    message = (
        "call ag.configure(llm={'model': ..., 'base_url': ..., 'api_key': ...}) or set api_key=… first; "
        "the token 'wait-1' and key 'k' are fine"
    )
    err = UsageError(message, run_id="r1", node_id="n1", code="c")
    assert str(err) == err.message == message
    back = pickle.loads(pickle.dumps(err))
    assert (type(back), str(back), back.run_id, back.node_id, back.code) == (UsageError, message, "r1", "n1", "c")
    secret = pickle.loads(pickle.dumps(UsageError("got 'sk-proj-" + "Zz9Yy8Xx7W" * 4 + "'")))
    assert str(secret) == "got '[REDACTED]'"


def test_a_failing_redaction_never_replaces_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from aether_nb.store import redact

    def broken(text: str) -> str:
        raise StorageError("redaction is broken")  # (an aether_nb error: must not recurse either)

    monkeypatch.setattr(redact, "redact_message", broken)
    err = UsageError("durability must be 'async' or 'sync', got 'x'")
    assert str(err) == "durability must be 'async' or 'sync', got 'x'"
    assert shown("abc") == "'abc'"


def test_a_long_key_cut_short_by_shown_keeps_no_part_of_it() -> None:
    key = "sk-proj-" + "Q1w2E3r4T5" * 8
    text = shown({"nested": [key]}) + shown(key) + shown(type("Box", (), {"__repr__": lambda self: f"Box({key})"})())
    assert "[REDACTED]" in text and "Q1w2E3r4T5" not in text


def test_a_value_masked_for_its_name_is_masked_in_the_exception_the_error_is_raised_from() -> None:
    plain = "plainvalue-not-a-number"
    with pytest.raises(UsageError) as caught:
        try:
            int(plain)
        except ValueError as exc:
            raise UsageError(f"max_retries must be an int, got {{'api_key': {plain!r}}}") from exc
    assert plain not in _everything_shown(caught.value)
    assert str(caught.value) == "max_retries must be an int, got {'api_key': '[REDACTED]'}"
    assert isinstance(caught.value.__cause__, ValueError) and "[REDACTED]" in str(caught.value.__cause__)


def test_an_error_made_outside_an_except_block_or_without_a_secret_leaves_other_exceptions_alone() -> None:
    try:
        raise KeyError("sk-proj-" + "K1k2K3k4K5" * 4)
    except KeyError as exc:
        kept = exc
    UsageError("no secret here")
    assert "K1k2K3k4K5" in str(kept)
    try:
        raise ValueError("token=abc plain words")
    except ValueError as exc:
        UsageError("no secret here either")
        assert str(exc) == "token=abc plain words"
