"""No secret is ever persisted: API keys and Authorization headers are redacted from everything written."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import aether_nb as ag
from aether_nb.runtime import session as session_mod
from aether_nb.store import detectors as detectors_mod
from aether_nb.store.duckdb import DuckDBStore
from aether_nb.store.redact import MASK, contains_secret, redact_many, redact_text, register_secret
from tests.conftest import arun, make_session

ENV_KEY = "test-env-key-0123456789"
BEARER = "Bearer abcdefghijklmnopqrstuvwxyz0123"
SK = "sk-proj-AAAABBBBCCCCDDDDEEEE1234"
COOKIE = "planted-session-cookie-0f3a9c"
PASSWORD = "planted-pw-77x"
HTTP_LOG = (
    f'< HTTP/1.1 200 OK\n< Set-Cookie: sid={COOKIE}; Path=/; HttpOnly\n{{"user": "ada", "password": {PASSWORD}}}\n'
)
"""A text artifact and a log line as a tool's HTTP trace gives them: not JSON, so only the text rules apply."""


def test_redaction_rules() -> None:
    text = f'{{"api_key": "k-123", "Authorization": "{BEARER}", "note": "use {SK} here", "password": "hunter2"}}'
    out = redact_text(text)
    assert "k-123" not in out and "abcdefghij" not in out and SK not in out and "hunter2" not in out
    assert out.count(MASK) == 4 and '"note": "use [REDACTED] here"' in out
    register_secret("my-registered-secret-value")
    assert contains_secret("xx my-registered-secret-value yy")
    assert not contains_secret('{"token": "wait-token", "text": "hello"}')


@pytest.mark.parametrize("before", ["\n", "\t", "key%3D", "_", "x", "1", "Ω", "config: "])
@pytest.mark.parametrize(
    "key", ["sk-proj-Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0PpOoNnMm", "sk-Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0PpOoNnMmLlKkJj9H"]
)
def test_an_openai_key_glued_to_what_precedes_it_is_masked(before: str, key: str) -> None:
    """A config dump's key on its own line is ``\\nsk-...`` in the stored JSON: ``\\bsk-`` missed it (stored whole
    in nodes, events, KV and memory), as after ``%3D``, ``_`` or a letter."""
    for text in (before + key + " tail", json.dumps({"out": "loaded:" + before + key})):
        out = redact_text(text)
        assert key not in out and key[8:30] not in out and MASK in out


@pytest.mark.parametrize("word", ["task-runner-for-the-nightly-jobs", "disk-usage-monitoring-agent-v2", "ask-01234567"])
def test_words_ending_in_sk_dash_are_not_taken_for_keys(word: str) -> None:
    assert redact_text(f"use {word} here") == f"use {word} here"


def test_nothing_secret_reaches_the_duckdb_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    db = tmp_path / "nb.duckdb"
    store = DuckDBStore(db)
    s, _ = make_session(store, answers=[SK])
    previous = session_mod.set_default_session(s)
    calls: list[int] = []

    @ag.tool(outputs=["headers"])
    def leaky(url: str) -> dict[str, Any]:
        calls.append(1)
        return {"headers": {"Authorization": BEARER, "X-Api-Key": ENV_KEY}}

    @ag.graph_fn(outputs=["seen", "typed"])
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        h = await leaky("https://example.invalid")
        context.logger().warning("calling with key %s", ENV_KEY)
        await context.channel().send_text(f"my key is {ENV_KEY}")
        await context.channel().send_text("control-marker-visible-4242")
        await context.kv().set("creds", {"api_key": ENV_KEY})
        await context.memory().record("note", {"text": f"token {SK}"})
        await context.artifacts().save_text(HTTP_LOG, name="http.log")
        context.logger().warning("response: %s", HTTP_LOG)
        typed = await context.channel().ask_text("Paste your key")
        return {"seen": h["headers"]["X-Api-Key"], "typed": typed}

    try:
        out = arun(agent())
        assert out == {"seen": ENV_KEY, "typed": SK}  # the run itself got the real values
    finally:
        session_mod.set_default_session(previous)
    run_id = store.list_runs()[0].run_id
    warnings = [e for e in store.load_events(run_id) if e["kind"] == "warning"]
    assert any("secret" in w["message"] for w in warnings)
    assert all(e.name != "leaky" for e in store.load_journal(run_id))  # not journaled: it would hold the key
    store.close()
    raw = db.read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("nb.duckdb*") if p.is_file())
    for secret in (ENV_KEY, SK, "abcdefghijklmnopqrstuvwxyz0123", COOKIE, PASSWORD):
        assert secret.encode() not in raw, secret
    assert MASK.encode() in raw
    assert b"control-marker-visible-4242" in raw  # plain text does land in the file: the check above means something


@dataclasses.dataclass
class Login:
    """A user's object holding a key: stored pickled (base64), where no text rule looked."""

    user: str
    key: str


@pytest.mark.parametrize("durability", ["async", "sync"])
def test_secrets_inside_bytes_and_pickled_values_do_not_reach_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, durability: str
) -> None:
    monkeypatch.setenv("PAY_API_TOKEN", "zq9PAYtok3nValue77")
    register_secret("zq9PAYtok3nValue77")
    github = "ghp_" + "Zq7Kx2" * 6
    db = tmp_path / "nb.duckdb"
    store = DuckDBStore(db)
    s, _ = make_session(store)
    s.store.durability = durability
    previous = session_mod.set_default_session(s)

    @ag.graph_fn
    async def keeper(*, context: ag.NodeContext) -> None:
        kv = context.kv()
        await kv.set("raw", b"\xff\x00 token " + github.encode() + b" \x01")
        await kv.set("env", os.environ["PAY_API_TOKEN"].encode())
        await kv.set("login", Login("ada", github))
        await kv.set("plain", b"no secret \xff here")

    @ag.graph_fn(outputs=["raw", "login", "plain"])
    async def reader(*, context: ag.NodeContext) -> dict[str, Any]:
        kv = context.kv()
        return {"raw": await kv.get("raw"), "login": await kv.get("login"), "plain": await kv.get("plain")}

    try:
        arun(keeper())
        s.store.flush()
        out = arun(reader())
    finally:
        session_mod.set_default_session(previous)
    # what was kept: the bytes around the secret exactly, the object as a masked string, other bytes untouched
    assert out == {"raw": b"\xff\x00 token [REDACTED] \x01", "login": MASK, "plain": b"no secret \xff here"}
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("nb.duckdb*") if p.is_file())
    for secret in (github, "zq9PAYtok3nValue77"):
        for form in (secret.encode(), base64.b64encode(secret.encode())[:16]):
            assert form not in raw, secret


PLANTED = {
    "github": "ghp_" + "Zq7Kx2" * 6,
    "gitlab": "glpat-" + "Ab3dEf6hIj9kLm2nOp5q",
    "aws_key_id": "AKIA" + "QWERTYUIOP123456",
    "slack": "xoxb-" + "223344556677-8899001122334-" + "QwErTyUiOpAsDfGhJkLzXcVb",
    "jwt": "eyJhbGciOiJIUzI1NiJ9."
    + "eyJzdWIiOiJhZGEiLCJyb2xlIjoiYWRtaW4ifQ."
    + "c2lnbmF0dXJlLXBsYW50ZWQtMTIzNDU2Nzg5MA",
    "huggingface": "hf_" + "PlantedHuggingFaceToken1234567890ab",
    "stripe": "sk_live_" + "PlantedStripeKey12345678",
    "private_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0\n"
    "PLANTEDKEYBODYPLANTEDKEYBODY\n-----END OPENSSH PRIVATE KEY-----",
    "url_password": "postgres://ada:PlantedUrlPassw0rd@db.internal:5432/app",
    "npm": "//npm.example.invalid/:_authToken=npm_" + "PlantedNpmToken0123456789abcdefghijk",
    "npm_legacy": "//npm.example.invalid/:_authToken=" + "0123abcd-4567-89ef-0123-456789abcdef",
    "aws_secret_quoted": 'aws_secret_access_key = "' + "wJalrXUtnFEMI/K7MDENG/bPxRfiCYPLANTED123" + '"',
    "aws_secret_file": "[default]\naws_secret_access_key = " + "wJalrXUtnFEMI/K7MDENG/bPxRfiCYPLANTED456\n",
    "openai": "key_sk-proj-" + "PlantedOpenAiKey1234" + "T3BlbkFJ" + "PlantedOpenAiTail567",
    "github_fine_grained": "github_pat_11PLANTED0a1B2c3D4e5F6_" + "Z9y8X7w6V5u4T3s2R1q0" * 2 + "Pq1Rs2Tu3Vw4Xy5Za6b",
    "github_server": "ghs_" + "PlantedGithubServerToken0123456789ab",
    "anthropic": "key_sk-ant-api03-" + "PlantedAnthropicKey0123456789-abcdefXYZ",
    "google": "AIza" + "SyPlantedGoogleApiKey0123456789abcd",
    "google_oauth_secret": "GOCSPX-" + "PlantedGoogleOauthSecret1234",
    "google_oauth_token": "ya29." + "a0AfB_byPlantedAccessToken0123456789",
    "slack_app": "xapp-1-A0PLANTED12-1234567890123-" + "a1b2c3d4e5f6a7b8c9d0" * 3,
    "slack_webhook": "https://hooks.slack.com/services/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",
    "stripe_test": "sk_test_" + "PlantedStripeTestKey1234567890",
    "stripe_webhook": "whsec_" + "PlantedStripeWebhookSecret0123456789",
    "groq": "gsk_" + "PlantedGroqKey" + "0123456789" * 4,
    "xai": "xai-" + "PlantedXaiKey" + "0123456789" * 7,
    "perplexity": "pplx-" + "PlantedPerplexityKey" + "0123456789" * 3,
    "langsmith": "lsv2_pt_" + "0123456789abcdef" * 2 + "_" + "0123456789",
    "tavily": "tvly-dev-" + "PlantedTavilyKey0123456789abcdef",
    "shopify": "shpat_" + "0123456789abcdef" * 2,
    "digitalocean": "dop_v1_" + "0123456789abcdef" * 4,
}
"""One planted secret per format the README lists; each must be found nowhere in the store (the distinctive part
is what the file is scanned for)."""

NEEDLES = {k: (v.split("\n")[2] if k == "private_key" else v.split(":")[2].split("@")[0] if k == "url_password"
               else v.split("=")[1] if k.startswith("npm") else v.split("= ")[1].strip('"\n') if k.startswith("aws_s")
               else v)
           for k, v in PLANTED.items()}  # fmt: skip


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_every_listed_format_is_redacted(name: str) -> None:
    text = json.dumps({"note": f"look: {PLANTED[name]} (done)"})
    out = redact_text(text)
    assert NEEDLES[name] not in out and MASK in out
    assert json.loads(out)["note"].startswith("look: ")  # still valid JSON, the rest of the text kept


def test_planted_keys_of_every_format_reach_no_file(tmp_path: Path) -> None:
    db = tmp_path / "nb.duckdb"
    store = DuckDBStore(db)
    s, _ = make_session(store, answers=[f"here: {PLANTED['aws_key_id']}"])
    previous = session_mod.set_default_session(s)
    blob = "\n".join(PLANTED.values())

    @ag.tool(outputs=["echo"])
    def echo(text: str) -> dict[str, str]:
        return {"echo": text}

    @ag.graph_fn(outputs=["n"])
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        await echo(blob)
        context.logger().warning("log: %s", blob)
        await context.channel().send_text(blob)
        await context.kv().set("k", {"v": blob})
        await context.memory().record("note", {"text": blob})
        await context.artifacts().save_text(blob, name="notes.txt")
        await context.artifacts().save_json({"all": blob}, name="notes.json")
        await context.channel().ask_text("key?")
        return {"n": len(blob)}

    try:
        assert arun(agent()) == {"n": len(blob)}
    finally:
        session_mod.set_default_session(previous)
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    for name, needle in NEEDLES.items():
        assert needle.encode() not in raw, name
    assert MASK.encode() in raw


def test_aether_nb_log_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    from aether_nb.store.redact import logger

    log = logger("aether_nb.test")
    with caplog.at_level("WARNING", logger="aether_nb.test"):
        log.warning("failed with %s", PLANTED["github"])
        try:
            raise ValueError(PLANTED["slack"])
        except ValueError:
            log.exception("boom")
    text = caplog.text
    assert PLANTED["github"] not in text and PLANTED["slack"] not in text and MASK in text


@pytest.mark.parametrize("prefix", ["AKIA", "ghp_", "AIza"])
def test_a_text_of_one_prefix_repeated_is_masked_whole(prefix: str) -> None:
    """Matches every few characters inside one long token: masked as one token (and in linear time: these took
    minutes at ~100 KB when each match was widened to the end of the token; this checks the result only)."""
    text = f'{{"note": "{prefix * 5000}", "other": "plain words"}}'
    out = redact_text(text)
    assert prefix not in out and "plain words" in out
    assert json.loads(out)["note"] == "[REDACTED]"


NUMERIC_SECRET = 918273645501928
"""A credential that is all digits (a PIN-like password in a ``*_PASSWORD`` variable, a registered key)."""
_NUMBERISH = st.sampled_from(
    [NUMERIC_SECRET, -NUMERIC_SECRET, NUMERIC_SECRET * 10 + 7, float(NUMERIC_SECRET) + 0.5, f"pin {NUMERIC_SECRET}"]
)
_VALUES = st.recursive(
    _NUMBERISH | st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(value=_VALUES)
def test_a_numeric_secret_is_masked_and_the_json_stays_json(value: Any) -> None:
    """A secret written as a JSON number used to become a bare ``[REDACTED]``: invalid JSON, which made a whole
    batch of history unreadable. Masked, the text parses, and the secret's digits are gone."""
    register_secret(str(NUMERIC_SECRET))
    out = redact_text(json.dumps(value))
    json.loads(out)
    assert str(NUMERIC_SECRET) not in out


@pytest.mark.parametrize("kind", ["memory", "duckdb"])
def test_history_holding_a_numeric_secret_stays_readable(kind: str, tmp_path: Path) -> None:
    from aether_nb.store.memory import MemoryStore
    from aether_nb.store.records import HistoryBatch, JournalEntry

    register_secret(str(NUMERIC_SECRET))
    store = MemoryStore() if kind == "memory" else DuckDBStore(tmp_path / "s.duckdb")
    try:
        good = JournalEntry("r1", "k0", "step", "tool", "fp", {"ok": 1}, True, 1.0)
        holding = JournalEntry("r1", "k1", "step", "tool", "fp", {"pin": NUMERIC_SECRET}, True, 1.0)
        assert (
            store.write_history(HistoryBatch(journal=[good, holding], events=[("r1", {"pin": NUMERIC_SECRET})])) == []
        )
        for _ in range(2):  # the pending rows, then (DuckDB) the tables
            assert [(e.key, e.value) for e in store.load_journal("r1")] == [("k0", {"ok": 1}), ("k1", {"pin": MASK})]
            assert store.load_events("r1") == [{"pin": MASK}]
            if isinstance(store, DuckDBStore):
                store.sql("select 1")
    finally:
        store.close()


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ({"password": 12345678, "n": 1}, {"password": MASK, "n": 1}),
        ({"db_password": -1.5e3}, {"db_password": MASK}),
        ({"api_key": ["k-1", "k-2"], "x": [1]}, {"api_key": MASK, "x": [1]}),
        ({"secret": True, "ok": None}, {"secret": MASK, "ok": None}),
        ({"password": None}, {"password": None}),  # nothing to hide
    ],
)
def test_a_credential_key_masks_numbers_booleans_and_lists_too(value: Any, masked: Any) -> None:
    """Only a string under ``password``/``api_key``... was masked: a numeric password or a list of keys reached
    the store as they were."""
    assert json.loads(redact_text(json.dumps(value))) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ({"api_keys": ["k-1", "k-2"]}, {"api_keys": MASK}),
        ({"secrets": "s3", "passwords": 1}, {"secrets": MASK, "passwords": MASK}),
        (
            {"auth_token": "t", "id_token": "t", "session_tokens": ["a"]},
            {"auth_token": MASK, "id_token": MASK, "session_tokens": MASK},
        ),
        ({"private_key": "pk", "passphrase": "open sesame"}, {"private_key": MASK, "passphrase": MASK}),
        (
            {"credentials": {"user": "bob", "token": "abc", "n": 3, "ok": None}, "after": "seen"},
            {"credentials": {"user": MASK, "token": MASK, "n": MASK, "ok": None}, "after": "seen"},
        ),
        (
            {"secrets": [{"name": "gh", "value": "v1"}, {"name": "db", "nested": {"v": ["x", 2]}}], "k": 1},
            {"secrets": [{"name": MASK, "value": MASK}, {"name": MASK, "nested": {"v": [MASK, MASK]}}], "k": 1},
        ),
        (
            {"api_key": {"a}{": "]", 'q"': '"}'}, "tail": [1, "2"]},
            {"api_key": {"a}{": MASK, 'q"': MASK}, "tail": [1, "2"]},
        ),
        # ordinary data keeps its values: wait tokens, token counts, keys of a dict
        (
            {"token": "wait-1", "usage": {"prompt_tokens": 12, "total_tokens": 20}, "keys": ["a"]},
            {"token": "wait-1", "usage": {"prompt_tokens": 12, "total_tokens": 20}, "keys": ["a"]},
        ),
    ],
)
def test_plural_credential_keys_and_dicts_under_them_are_masked(value: Any, masked: Any) -> None:
    """``api_keys``, ``secrets`` or a dict under ``credentials`` reached the store as they were: only singular key
    names holding scalars were masked."""
    assert json.loads(redact_text(json.dumps(value))) == masked


def _scalars(v: Any) -> list[Any]:
    """Every number, string and boolean inside ``v``."""
    if isinstance(v, dict):
        return [s for x in v.values() for s in _scalars(x)]
    if isinstance(v, list):
        return [s for x in v for s in _scalars(x)]
    return [] if v is None else [v]


@settings(max_examples=200, deadline=None)
@given(
    inner=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids, max_size=3),
        max_leaves=8,
    ),
    key=st.sampled_from(["credentials", "secrets", "api_keys", "client_secret"]),
)
def test_whatever_sits_under_a_credential_key_leaves_json_with_no_scalar_of_it(inner: Any, key: str) -> None:
    """The text stays JSON, what sat beside the key is untouched, and no string or number from under it survives."""
    out = json.loads(redact_text(json.dumps({"before": "b", key: inner, "after": [1, "a"]})))
    assert out["before"] == "b" and out["after"] == [1, "a"]

    assert all(s == MASK for s in _scalars(out[key]))


_CREDENTIAL_RULE = (
    r"[a-z0-9_\-]*(api[_\-]?key|apikey|secret|password|passwd|passphrase|private[_\-]?key|credential)s?"
    r"|[a-z0-9_\-]*(access|refresh|auth|id|session|oauth|bearer|api|csrf|xsrf)[_\-]?tokens?"
    r"|authorization|proxy-authorization|x-api-key|bearer|cookies?|set-cookie"
)
"""The documented rule for credential keys (README, "Secrets"), restated here as the oracle."""
_KEY_PARTS = st.sampled_from(
    ["", "my", "db_", "x-", "prompt_", "id", "api", "_", "-", "wait", "idempotency_", "sub", "Auth", "SESSION", '"']
)
_KEY_TAILS = st.sampled_from(
    ["key", "keys", "token", "tokens", "api_key", "API-KEY", "apikey", "_token", "Token", "secret", "Passwd",
     "credentials", "authorization", "bearer", "x-api-key", "name", "kei", "passphrase", "private_key", "Cookie",
     "cookies", "set-cookie", "cookie_jar"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    names=st.lists(st.tuples(_KEY_PARTS, _KEY_TAILS).map("".join) | st.text(max_size=8), min_size=1, max_size=5),
    ordinary=st.sampled_from(["token", "prompt_tokens", "keys", "idempotency_key", "monkey"]),
)
def test_a_key_is_masked_exactly_when_it_names_a_credential(names: list[str], ordinary: str) -> None:
    """Beside ordinary keys ending in ``key``/``token`` (a wait's token, token counts: redaction skips its regexes
    for them, which made a pause ~2x faster), every credential key is still masked and no other key is."""
    import re

    value = {ordinary: "plain-1", **{name: f"v-{i}" for i, name in enumerate(names)}}
    out = json.loads(redact_text(json.dumps(value)))
    for key, original in value.items():
        # (a name holding a quote is masked when what follows its last quote is a credential name: in JSON text
        # that part reads as a quoted key too; masking errs on that side)
        credential = re.fullmatch(_CREDENTIAL_RULE, key.lower().rsplit('"', 1)[-1]) is not None
        assert out[key] == (MASK if credential else original), key


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    "value",
    [
        {"api_keys": [int("1" * 40), {"a": 1}]},
        {"credentials": [int("9" * 60), "x", -float("1" + "0" * 30), {"user": "bob"}]},
        {"secret": [1e300, 123456789012345678901234567890, "s"], "tail": "t"},
        {"passwords": ["a", 1, "b"] * 40 + [{"x": 1}]},
    ],
)
def test_long_numbers_in_a_list_under_a_credential_key_are_masked_in_linear_time(value: Any) -> None:
    """A 40-digit number in a list under ``api_keys`` (a hypothesis example) stalled redaction, and with it the
    history writer, for minutes: the list pattern tried every split of the digits into numbers."""
    out = json.loads(redact_text(json.dumps(value)))
    key = next(iter(value))

    assert _scalars(out[key]) and all(s == MASK for s in _scalars(out[key]))


@pytest.mark.timeout(20)
def test_a_long_token_of_many_sk_prefixes_is_redacted_in_linear_time() -> None:
    """detect-secrets' OpenAI pattern retried the rest of the token from every "sk-" in it: 16 KB took 0.2 s,
    160 KB 18 s, when the token held no key. A key after it is still masked."""
    key = "sk-proj-" + "A1" * 10 + "T3BlbkFJ" + "B2" * 10
    out = redact_text(json.dumps({"page": "T3BlbkFJ z" + "sk-ant-z" * 40_000 + " then " + key + " end"}))
    assert key not in out and "B2" * 10 not in out and out.endswith(' end"}')


@pytest.mark.timeout(20)
def test_a_long_run_of_jwt_prefixes_is_redacted_in_linear_time() -> None:
    """detect-secrets' JWT pattern read the rest of the run again from every "eyJ" in it when no "." followed:
    120 kB took 9.6 s (a tool returning it froze the kernel's loop), 240 kB 30 s; a token after it is still found."""
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJl"
    out = redact_text(json.dumps({"page": "eyJ" * 100_000 + " then " + jwt + " end", "b": "eyJa. " * 20_000}))
    assert jwt not in out and "eyJzdWIiOiJhZGEifQ" not in out and out.count("eyJ") == 100_000 + 20_000
    assert json.loads(out)["page"].endswith(" then [REDACTED] end")


@pytest.mark.timeout(20)
def test_private_key_headers_before_a_foreign_end_line_are_redacted_in_linear_time() -> None:
    """A private key's body was read again from every BEGIN line before an END line that did not close it
    (81 kB took 9 s, quadratic). Such a body is masked now too: a key is a key whatever line ends it."""
    body = "MIIEpAIBAAKCAQEA0PLANTEDBODY"
    text = json.dumps({"a": "-----BEGIN RSA PRIVATE KEY-----\n" * 6_000 + body + "\n-----END CERTIFICATE-----"})
    out = redact_text(text)
    assert body not in out and json.loads(out)["a"].startswith("[REDACTED]")


@pytest.mark.timeout(20)
def test_many_urls_beside_an_npm_hint_are_redacted_in_linear_time() -> None:
    """detect-secrets' npm pattern ran ".+" from every "//" of the text (one line, in JSON): 124 KB took 0.76 s,
    a batch of history full of URLs far longer."""
    token = "npm_" + "Q" * 36
    out = redact_text(json.dumps({"log": "_authToken " + "see https://a.example/x " * 6_000, "npmrc": token}))
    assert token not in out and out.count("https://a.example/x") == 6_000


@pytest.mark.timeout(20)
def test_plain_text_with_an_open_quote_under_a_credential_key_is_masked_in_linear_time() -> None:
    """Plain text (a prompt, a log line) is redacted too: 12,000 escaped quotes after an opening one took 1.7 s
    (each quote was tried as a string's start), 120,000 would take minutes. What is left open is masked to the end."""
    text = 'ask: "credentials": [' + '\\"' * 60_000 + " pw hunter22"
    out = redact_text(text)
    assert out.startswith('ask: "credentials": [') and "hunter22" not in out


_SECRET = "s3cr3tVALUEabc123XYZ"


@pytest.mark.parametrize(
    "text",
    [
        f"GET https://api.example.com/v1/items?access_token={_SECRET}&page=2",
        f"https://api.example.com/v1/items?api_key={_SECRET}",
        f"Authorization: Basic {_SECRET}",
        f"X-Api-Key: {_SECRET}",
        f"OPENAI_API_KEY={_SECRET}\nDEBUG=1",
        f"export GITHUB_TOKEN={_SECRET}",
        f"database:\n  host: db\n  password: {_SECRET}\n",
        f"{{'api_key': '{_SECRET}', 'n': 1}}",
        json.dumps({"api_key": _SECRET}),
        f'client = Client(api_key="{_SECRET}")',
        f"db_password = {_SECRET}",
        f"Cookie: theme=dark; sid={_SECRET}",
        f"HTTP/1.1 200 OK\r\nSet-Cookie: session={_SECRET}; Path=/; HttpOnly\r\n",
        f'"password": {_SECRET}',
    ],
)
def test_a_credential_given_a_value_in_text_is_masked(text: str) -> None:
    """Values under credential keys were masked only as JSON keys: an agent reading a URL, an .env file, a YAML
    config, headers, a Python repr or JSON inside a string stored the secret as it was."""
    stored = redact_text(json.dumps({"tool_output": text}))
    out = json.loads(stored)["tool_output"]
    assert _SECRET not in out and MASK in out
    assert redact_text(stored) == stored, "redaction is idempotent"


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (f'config: {{"user": "bob", "password": {_SECRET}}}', '"user": "bob"'),
        (f"> GET /me HTTP/1.1\n> Cookie: lang=en; sid={_SECRET}\n> Accept: */*", "> Accept: */*"),
        (f"< Set-Cookie: sid={_SECRET}; Path=/; Secure\n< Content-Type: text/html", "< Content-Type: text/html"),
        (json.dumps({"headers": {"Cookie": f"sid={_SECRET}"}, "url": "https://a.example/"}), '"url": "https://a.'),
        (json.dumps({"cookies": {"sid": _SECRET, "theme": "dark"}}), '"theme": '),
        (f"Cookie: note=it's; sid={_SECRET}\nHost: a.example", "\nHost: a.example"),
        (json.dumps({"header": f'Cookie: sid="{_SECRET}"; theme=dark', "n": "1"}), '"n": "1"'),
    ],
)
def test_a_cookie_or_a_bare_password_in_raw_text_is_masked(text: str, kept: str) -> None:
    """Text redacted as it is (a text artifact, a log line, a JSON document): a password after a quoted name that
    is not JSON (``"password": hunter22``) and the cookies of a ``Cookie:``/``Set-Cookie:`` header or under a
    ``cookie(s)`` key reached the store; the rest of the text stays as it was."""
    out = redact_text(text)
    assert _SECRET not in out and MASK in out and kept in out
    assert redact_text(out) == out
    if text.startswith("{"):
        assert json.loads(out).keys() == json.loads(text).keys()


@pytest.mark.parametrize(
    "text",
    [
        "The password: required field, at least 12 characters",
        "token: abc",
        "wait token=abc123",
        "usage prompt_tokens: 12, completion_tokens: 40",
        "cache_key=abc and sort_key=def",
        "idempotency_key: 123e4567-e89b",
        "api_key: null",
        "Set the Authorization: header yourself",
        "The cookie: chocolate chip",
        "Accept cookies: yes",
        '{"password": null}',
    ],
)
def test_text_that_only_names_a_credential_is_left_as_it_is(text: str) -> None:
    """Prose and ordinary data stay: a step whose result redaction changes is not journaled (it would run again on
    resume), so a sentence about passwords must not count as one."""
    assert json.loads(redact_text(json.dumps({"v": text})))["v"] == text
    assert not contains_secret(json.dumps({"v": text}))


_WORDS = st.sampled_from(
    ["api_key", "password", "token", "GITHUB_TOKEN", "x-api-key", "Authorization", "Basic", "=", ":", ": ", '"', "'",
     "\\", "\\\"", " ", "\n", "&", ",", "{", "}", "[", "]", "12345678", "s3cr3t-v4lue", "null", "https://a/?", "key",
     "Cookie:", "set-cookie: ", "sid=", ";", "cookies"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(_WORDS, min_size=1, max_size=12),
    key=st.sampled_from(["note", "api_key", "credentials", "headers"]),
)
def test_redacted_json_stays_json_whatever_the_text_holds(pieces: list[str], key: str) -> None:
    """Whatever text sits in a value (credential names, separators, quotes, escapes in any order), the redacted
    JSON still parses, keeps its keys, and redacting it again changes nothing."""
    value = {key: "".join(pieces), "n": [1, "".join(reversed(pieces))]}
    stored = redact_text(json.dumps(value))
    assert set(json.loads(stored)) == {key, "n"}
    assert redact_text(stored) == stored


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(_WORDS, min_size=1, max_size=6),
    value=st.one_of(
        st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.none(), st.text(max_size=8)
    ),
)
@example(pieces=["user ", "password"], value=1234)
@example(pieces=["\\", "password"], value=5)
def test_redacted_json_stays_json_whatever_its_keys_hold(pieces: list[str], value: Any) -> None:
    """A key that holds a credential word without being a credential name (``{"user password": 1234}``): its number
    was masked bare (``"user password": [REDACTED]``), text no JSON reader takes, and the record and the batch
    with it could not be read back. Whatever a key holds, the redacted JSON parses with the same shape (a key may
    be masked itself: ``Cookie:api_key``), and redacting it again changes nothing."""
    data = {"".join(pieces): value, "n": [1, {"".join(reversed(pieces)): value}]}
    stored = redact_text(json.dumps(data))
    back = json.loads(stored)
    assert len(back) == 2 and back["n"][0] == 1 and len(back["n"][1]) == 1
    assert redact_text(stored) == stored


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(st.one_of(_WORDS, st.just("[REDACTED]")), min_size=1, max_size=14))
@example(pieces=["Cookie:", "=", "'", "sid="])
def test_redacting_raw_text_again_changes_nothing(pieces: list[str]) -> None:
    """Text that is not JSON (a text artifact, a log line) redacted once is left as it is by a second pass: a mask
    is never read as a new value to mask (``Cookie:=...`` once became ``Cookie:[REDACTED]...``, which the cookie
    rule then took for a header)."""
    once = redact_text("".join(pieces))
    assert redact_text(once) == once


_GATE_PIECES = st.one_of(
    _WORDS,
    st.sampled_from(["Bearer abcdefghijklmn0123", "SK-", "sk-abcdefghijklmnop0123", "PASSWORD", "Secret", "KeY",
                     "ghp_" + "a" * 36, "AKIA" + "B" * 16, "xoxb-12-34-abc", "zq8-Registered-Value-77",
                     "ZQ8-REGISTERED-VALUE-77", "api_key=abcdefgh12345678", '"auth_token": "abcdefgh12345678"',
                     "GITHUB_TOKEN=ghx12345678abcdefgh", '"run_id": "run-1", ', "node_ran", "Cookie: sid=abc123",
                     "set-COOKIE:", '"password": hunter22']),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=10),
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(_GATE_PIECES, max_size=10))
def test_ascii_text_is_redacted_as_text_that_takes_every_search(pieces: list[str]) -> None:
    """ASCII text is first searched once (RE2) for anything that could make redaction change it; other text takes
    every search. The two ways give the same result: the same text behind a non-ASCII line takes the long way."""
    register_secret("zq8-Registered-Value-77")
    text = "".join(pieces)
    assert text.isascii()
    long_way = redact_text("é\n" + text)
    assert long_way.startswith("é\n")
    assert redact_text(text) == long_way[2:]


@pytest.mark.parametrize(
    "text",
    [
        "see api_key=abcdefgh12345678 here",  # a credential name (ends in key) given a value
        '{"auth_token": "abcdefgh12345678"}',  # ... ends in token
        '{"Passphrase": "abcdefgh12345678"}',  # a stem
        "GITHUB_TOKEN=ghx12345678abcdefgh",  # an environment-style name
        "call it with Bearer abcdefghijklmn0123",
        "use sk-abcdefghijklmnop0123 now",
        "token ghp_" + "a" * 36,
        "a registered value zq8-Registered-Value-77 inside",
        "< Set-Cookie: sid=abcdefgh12345678; Path=/",
        '{"password": hunter22}',
    ],
)
def test_ascii_text_holding_one_kind_of_secret_is_masked(text: str) -> None:
    """Each kind of trigger alone gets its text past the first search (RE2) and masked."""
    register_secret("zq8-Registered-Value-77")
    assert contains_secret(text), text


@settings(max_examples=200, deadline=None)
@given(texts=st.lists(st.lists(_GATE_PIECES, max_size=6).map("".join), max_size=8))
def test_a_batch_of_texts_is_redacted_as_each_text_alone(texts: list[str]) -> None:
    """A batch's texts are redacted together (one search finds the texts that could hold a secret; only those
    take the other searches): each comes out as redacting it alone gives, and the list itself comes back when
    nothing changed (the caller keeps its rows)."""
    register_secret("zq8-Registered-Value-77")
    alone = [redact_text(t) for t in texts]
    together = redact_many(texts)
    assert together == alone
    assert (together is texts) == (alone == texts)


_FILLER = '{"kind":"node_ran","node_id":"inc_7","outputs":{"y":7},"status":"DONE","parents":["inc_6"]}' * 4


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(_GATE_PIECES, max_size=10), where=st.integers(0, 3))
def test_a_short_text_is_redacted_as_in_a_long_batch(pieces: list[str], where: int) -> None:
    """A short text is searched first with Python's ``re`` (RE2 hands the GIL over for each search), a long batch
    with RE2: a text comes out the same either way, wherever it sits in the batch."""
    register_secret("zq8-Registered-Value-77")
    text = "".join(pieces)
    assert len(_FILLER) > 256
    batch = [_FILLER] * 3
    batch.insert(where, text)
    assert redact_many(batch)[where] == redact_text(text)


def test_a_wait_token_in_a_batch_leaves_the_rest_of_the_batch_to_the_first_search(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A pause's batch always holds a ``"token"`` key (its wait_opened event): only that text takes the long way
    (the detectors' searches), in a short batch and in a long one, wherever the event is."""
    event = '{"kind":"wait_opened","token":"AMJ6Q50unEIbcQdz3M1_jA","node_id":"ask_1"}'
    others = [f'{{"kind":"node_ran","node_id":"inc_{i}","outputs":{{"y":{i}}}}}' for i in range(50)]
    seen: list[str] = []
    original = detectors_mod.redact
    monkeypatch.setattr(detectors_mod, "redact", lambda text, mask: seen.append(text) or original(text, mask))
    for texts in ([*others, event], [event, *others], [others[0], event], [event, *others, event]):
        seen.clear()
        assert redact_many(texts) is texts
        assert seen == [t for t in texts if t == event]


@pytest.mark.parametrize("password", ["pässwort-2024", 'hunt"er2xyz', "hunt\\er2xyz", "пароль-секрет"])
def test_an_environment_secret_with_a_quote_a_backslash_or_an_accent_reaches_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, password: str
) -> None:
    """Plain-text columns (a memory note, a chat turn, a text artifact, a run's error) hold a secret as it is, JSON
    text escapes it, bytes hold its UTF-8: only the JSON-escaped form was searched, so such a password was stored
    in clear everywhere but in JSON values."""
    monkeypatch.setenv("DB_PASSWORD", password)
    db = tmp_path / "nb.duckdb"
    store = DuckDBStore(db)
    s, _ = make_session(store)
    previous = session_mod.set_default_session(s)

    @ag.tool(outputs=["y"])
    def login() -> dict[str, Any]:
        raise ValueError(f"login failed for password {password}")

    @ag.graph_fn(outputs=["out"])
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        await context.artifacts().save_text(f"connect with {password}", name="notes.txt")
        await context.memory().record("note", {"text": f"connect with {password}"})
        await context.channel().send_text(f"connecting with {password}")
        await context.kv().set("raw", f"{password} in bytes".encode())
        await context.kv().set("text", f"connect with {password}")
        await login()
        return {"out": 1}

    try:
        with pytest.raises(ag.errors.RunFailed) as failed:
            arun(agent())
        assert password not in str(failed.value)
    finally:
        session_mod.set_default_session(previous)
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    forms = {password, json.dumps(password)[1:-1], json.dumps(password, ensure_ascii=False)[1:-1]}
    for form in forms:
        for encoded in {form.encode(), form.encode("utf-16-le")}:
            assert encoded not in raw, form
    assert MASK.encode() in raw
