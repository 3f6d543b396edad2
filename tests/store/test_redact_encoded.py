"""Secrets hidden by an encoding are masked as in plain text: JSON escapes next to non-ASCII characters (typographic
quotes, CJK, Cyrillic, accents) and numpy text (UTF-32) inside pickled values."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import aether_nb as ag
from aether_nb.runtime import codec
from aether_nb.store.protocol import Store
from aether_nb.store.redact import MASK, clears_gate, contains_secret, redact_many, redact_text
from tests.conftest import arun, default_session

GITLAB = "glpat-abcdefghij1234567890"
BEARER = "Bearer abcdefghijklmnop1234567890"
BASIC = "dXNlcjpzM2NyZXRwYXNzd29yZA=="
LLM_TEXTS = {
    "gitlab_zh": f"令牌{GITLAB}谢谢",
    "gitlab_ja": f"キーは{GITLAB}です",
    "gitlab_ru": f"ключ{GITLAB}ок",
    "bearer_zh": f"请求头是{BEARER}。",
    "bearer_fr": f"clé{BEARER}",
    "bearer_curly": f"send the header “{BEARER}” with each call",
    "basic_curly": f"use “Authorization: Basic {BASIC}”",
    "cookie_curly": "send “Cookie: sid=s3ss10nV4lue99xyz” back",
    "env_curly": "set “DEPLOY_SERVICE_TOKEN=Zq8vW2mN5pL0rT7yQ” first",
    "bearer_tab": "header:\tBearer\tabcdefghijklmnop1234567890\n",
}
"""Texts as LLMs and tools write them, each holding a secret; the same secrets between spaces were always masked."""
CORES = ("abcdefghij1234567890", "abcdefghijklmnop1234567890", BASIC[:20], "s3ss10nV4lue99xyz", "Zq8vW2mN5pL0rT7yQ")

ENCODINGS: dict[str, Callable[[Any], str]] = {
    "json_ascii": json.dumps,
    "json_unicode": lambda v: json.dumps(v, ensure_ascii=False),
    "orjson": lambda v: orjson.dumps(v).decode(),
}
"""How stored JSON is written: ``json.dumps`` (kv, memory: ASCII escapes), and orjson for run history's plain values
(raw UTF-8)."""


def _holds_core(text: str) -> bool:
    return any(core in text for core in CORES)


@pytest.mark.parametrize("name", sorted(LLM_TEXTS))
def test_a_secret_next_to_non_ascii_text_is_masked_in_plain_text_and_in_every_json_form(name: str) -> None:
    """``“Bearer ...”`` was masked in plain text but not in stored JSON (``\\u201cBearer``: no word start after the
    escape's hex digit); ``请求头是Bearer ...`` and ``令牌glpat-...谢谢`` were masked in neither (a letter of any
    script counted as a word character)."""
    text = LLM_TEXTS[name]
    assert not _holds_core(redact_text(text))
    for encode in ENCODINGS.values():
        for value in (text, {"y": text}, [{"note": text, "n": 1}]):
            stored = encode(value)
            out = redact_text(stored)
            assert not _holds_core(out), out
            assert MASK in json.dumps(json.loads(out))  # still JSON, with the mask in the string
            assert redact_many([stored, json.dumps("other")])[0] == out
            assert not clears_gate(stored)


SECRETS = [
    (BEARER, "abcdefghijklmnop1234567890"),
    (f"Authorization: Basic {BASIC}", BASIC[:20]),
    ("Cookie: sid=s3ss10nV4lue99xyz", "s3ss10nV4lue99xyz"),
    ("DEPLOY_SERVICE_TOKEN=Zq8vW2mN5pL0rT7yQ", "Zq8vW2mN5pL0rT7yQ"),
    ("api_key=Zq8vW2mN5pL0rT7yQ", "Zq8vW2mN5pL0rT7yQ"),
    ("sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123", "AbCdEfGhIjKlMnOpQrSt"),
    ("sk-" + "Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0PpOoNnMmLlKkJj9H", "Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2"),
    ("sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv", "AbCdEfGhIjKlMnOpQrSt"),
    (GITLAB, "abcdefghij1234567890"),
    ("ghp_" + "Zq7Kx2" * 6, "Zq7Kx2" * 3),
    ("github_pat_" + "11ABCDEFG0" * 4, "11ABCDEFG0" * 3),
    ("AKIA" + "QWERTYUIOP123456", "QWERTYUIOP123456"),
    ("xoxb-223344556677-8899001122334-QwErTyUiOpAsDfGhJkLzXcVb", "QwErTyUiOpAsDfGhJkLz"),
    ("hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123", "AbCdEfGhIjKlMnOpQrSt"),
    ("AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", "SyA1b2C3d4E5f6G7h8I9"),
    ("npm_" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", "AbCdEfGhIjKlMnOpQrSt"),
    ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGEiLCJyb2xlIjoiYWRtaW4ifQ.c2lnbmF0dXJl", "eyJzdWIiOiJhZGEiLCJyb2xl"),
    ("https://bob:hunter2pass@example.com/x", "hunter2pass"),
    (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAplanted\n-----END RSA PRIVATE KEY-----",
        "MIIEowIBAAKCAQEAplanted",
    ),
]
"""One secret of each kind of rule (text around it included where the rule needs it) and the part that must go."""

_TOKEN_CHARS = frozenset("_-.+/=~:@%!#$^*&?|`")
NEIGHBOURS = st.text(
    st.characters(codec="utf-8").filter(lambda c: not (c.isascii() and (c.isalnum() or c in _TOKEN_CHARS))),
    max_size=4,
)
"""What may stand next to a secret: any character but what would make it part of a longer word or token (ASCII
letters, digits, the characters tokens are made of): non-ASCII letters, CJK, typographic quotes, controls, quotes,
backslashes."""


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SECRETS), NEIGHBOURS, NEIGHBOURS)
@example(SECRETS[0], "“", "”")
@example(SECRETS[1], "\u00e9", "")
@example(SECRETS[8], "令牌", "谢谢")
@example(SECRETS[0], "\\", '"')
@example(SECRETS[3], "İİ", "")  # (lower case longer than the text: a name's position was read off by one each)
@example(SECRETS[3], "\u212a", "")  # (the Kelvin sign lowers to "k": it joined the name)
def test_stored_json_never_holds_a_secret_whatever_stands_next_to_it(
    secret: tuple[str, str], before: str, after: str
) -> None:
    """The masking of JSON text is that of the plain strings inside it, whatever the escapes (``\\uXXXX``, ``\\n``,
    ``\\"``, ``\\\\``), for every rule: json.dumps with and without ASCII escapes, and orjson."""
    text, core = secret
    s = f"{before}{text}{after}"
    assert core not in redact_text(s)
    for encode in ENCODINGS.values():
        for value in (s, {"out": s}):
            out = redact_text(encode(value))
            assert core not in out and core not in json.dumps(json.loads(out), ensure_ascii=False)
            assert core not in redact_many([encode(value), encode({"n": 1})])[0]


def test_json_without_a_secret_is_left_as_it_is() -> None:
    for text in ("“quoted” prose, 请求头是 ok", 'a "token" and \\n a \\"key\\"', "clé Bearer"):
        for encode in ENCODINGS.values():
            stored = encode({"note": text, "token": "wait-1"})
            assert redact_text(stored) == stored
            assert redact_many([stored]) == [stored]


@pytest.fixture
def session_over(store: Store) -> Any:
    with default_session(store) as s:
        yield s


def test_llm_texts_with_secrets_reach_no_table(store: Store, session_over: Any) -> None:
    """Tool results, KV values, memory notes and chat messages (events): each table, in memory and in DuckDB."""

    @ag.tool(outputs=["y"])
    def echo(s: str) -> dict[str, str]:
        return {"y": s}

    @ag.graph_fn(outputs=["n"])
    async def writer(*, context: ag.NodeContext) -> dict[str, int]:
        for key, text in LLM_TEXTS.items():
            await echo(text)
            await context.kv().set(key, text)
            await context.memory().record("note", {"t": text})
            await context.channel().send_text(text)
        return {"n": len(LLM_TEXTS)}

    @ag.graph_fn(outputs=["kv"])
    async def reader(*, context: ag.NodeContext) -> dict[str, Any]:
        return {"kv": {k: await context.kv().get(k) for k in LLM_TEXTS}}

    assert arun(writer()) == {"n": len(LLM_TEXTS)}
    store.flush()
    kv = arun(reader())["kv"]
    assert all(MASK in v for v in kv.values()), kv
    run_id = next(r.run_id for r in store.list_runs() if r.graph == "writer")
    seen = [
        json.dumps(kv, ensure_ascii=False),
        json.dumps(store.load_events(run_id), ensure_ascii=False),
        repr(store.list_nodes(run_id)),
        repr(store.load_journal(run_id)),
        repr(store.memory_query("notebook")),
    ]
    for text in seen:
        assert not _holds_core(text), text[:2000]


KEY = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdEFGH"


@pytest.mark.parametrize(
    "value",
    [np.array(["user", KEY]), np.str_(KEY), np.array([[KEY]], dtype=">U60"), np.array(["x", KEY], dtype="S")],
    ids=["str_array", "np_str", "big_endian", "bytes_array"],
)
def test_numpy_text_holding_a_key_counts_as_a_secret(value: Any) -> None:
    """numpy pickles ``str`` arrays and ``np.str_`` as UTF-32, four bytes a character: searched as Latin-1 only, the
    key was found in none of them, and the pickle was stored with the key readable from its base64."""
    text = json.dumps(codec.encode(value))
    assert contains_secret(text)
    assert json.loads(redact_text(text)) == {"__aether__": "redacted", "type": json.loads(text)["type"]}


def test_utf16_and_utf32_bytes_holding_a_key_are_masked() -> None:
    for encoding in ("utf-16-le", "utf-16-be", "utf-32", "utf-32-be"):
        text = json.dumps(codec.encode(f"config: {KEY}\n".encode(encoding)))
        assert codec.decode(json.loads(redact_text(text))) == MASK


@pytest.mark.parametrize(
    "value", [np.array(["user", "plain text"]), np.arange(1000.0), np.str_("hello"), "no key".encode("utf-16")]
)
def test_numpy_values_without_a_secret_are_kept(value: Any) -> None:
    """A pickled ``np.arange(1000.0)``'s base64 holds ``ACCA`` and 16 capitals and digits (an AWS key id's shape): it
    was masked inside the payload, and the value could not be read back ("pickle data was truncated")."""
    text = json.dumps(codec.encode(value))
    assert redact_text(text) == text
    batch = [text, json.dumps({"api_key": "k-1"})]
    assert redact_many(batch)[0] == text


def test_a_numpy_key_from_a_tool_is_not_journaled_and_reads_back_masked(store: Store, session_over: Any) -> None:
    """README: a pickled object holding a secret is stored as "[REDACTED]" and its step is not journaled (it runs
    again on resume)."""

    @ag.tool(outputs=["cols"])
    def read_config_column() -> dict[str, Any]:
        return {"cols": np.array(["user", KEY])}

    @ag.graph_fn(outputs=["n"])
    async def keeper(*, context: ag.NodeContext) -> dict[str, int]:
        cols = (await read_config_column())["cols"]
        await context.kv().set("cols", cols)
        await context.kv().set("one", np.str_(KEY))
        return {"n": len(cols)}

    @ag.graph_fn(outputs=["cols", "one"])
    async def reader(*, context: ag.NodeContext) -> dict[str, Any]:
        return {"cols": await context.kv().get("cols"), "one": await context.kv().get("one")}

    assert arun(keeper()) == {"n": 2}
    store.flush()
    out = arun(reader())
    assert [type(v) for v in out.values()] == [str, str] and out == {"cols": MASK, "one": MASK}
    run_id = next(r.run_id for r in store.list_runs() if r.graph == "keeper")
    assert all(e.name != "read_config_column" for e in store.load_journal(run_id))
