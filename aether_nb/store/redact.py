"""Secrets never reach the store: the last filter every serialised value passes through before it is written.

It works on JSON text (one regex pass, cheap enough for every event) and removes:

* values under keys that name credentials (``api_key``, ``authorization``, ``password``, ``secret``, ...);
* ``Bearer ...`` credentials and OpenAI-style ``sk-...`` keys anywhere in a string;
* the token formats of :mod:`aether_nb.store.detectors` (GitHub, GitLab, AWS key ids, Slack, JWTs, Stripe, SendGrid,
  PyPI, npm, Azure, Hugging Face, Google, Anthropic and other LLM providers' keys, private key blocks, passwords in
  URLs...), from the maintained detect-secrets catalogue and our own patterns;
* the literal values of credential-like environment variables (``*_KEY``, ``*_TOKEN``, ``*_SECRET``,
  ``*_PASSWORD``, ``*_CREDENTIALS``) and of secrets registered with :func:`register_secret` (the LLM service
  registers its key).

The same rule covers everything that leaves the kernel or reaches disk: the store, aether_nb's log records, the run
widget's state and its saved fallback output, and text artifacts.

The runtime checks :func:`contains_secret` before journaling a value: a step whose result holds a secret is not
journaled (it runs again on resume) rather than replayed with ``[REDACTED]`` in place of its data.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import json
import logging
import os
import re
import threading
from collections.abc import Iterator
from typing import Any, cast

from aether_nb.errors import StorageError
from aether_nb.store import detectors
from aether_nb.store.detectors import compiled_on_first_use
from aether_nb.store.redact_encoded import redact_escaped_strings, redact_with_blobs
from aether_nb.store.values import json_dumps

MASK = "[REDACTED]"
_KEY_NAMES = (
    r"(?:[A-Za-z0-9_\-]*(?:api[_\-]?key|apikey|secret|password|passwd|passphrase|private[_\-]?key|credential)s?"
    r"|[A-Za-z0-9_\-]*(?:access|refresh|auth|id|session|oauth|bearer|api|csrf|xsrf)[_\-]?tokens?"
    r"|authorization|proxy-authorization|x-api-key|bearer|cookies?|set-cookie)"
)
"""Keys whose value is a credential, with their plurals (``api_keys``, ``secrets``, ``credentials``), and HTTP
cookies (``cookie``, ``cookies``, ``set-cookie``: a session cookie is a credential). A bare ``token`` is not one:
run wait tokens and an LLM's ``prompt_tokens`` count are ordinary data."""
_STRING_VALUE = r'"(?:[^"\\]|\\[\s\S])*+(?:"|\\?\Z)'
"""A JSON string; in plain text (a log line, a prompt) one left open runs to the text's end. Possessive, and an
open one matched whole: with a closing quote required, a text of many escaped quotes after an opening one was
tried again from each of them (quadratic: 12,000 characters took 1.7 s)."""
_SCALAR_VALUE = _STRING_VALUE + r"|-?[0-9][0-9.eE+\-]*+|-?Infinity|NaN|true|false"
_LIST_ITEM = r"(?:" + _SCALAR_VALUE + r"|null)"
_KEYED_VALUE = compiled_on_first_use(
    rf'("{_KEY_NAMES}"\s*:\s*)(?:{_SCALAR_VALUE}|\[\s*(?:{_LIST_ITEM}(?:\s*,\s*{_LIST_ITEM})*)?\s*\])',
    re.IGNORECASE,
)
"""A value under a credential key: a string, a number, a boolean, or a list of those (a numeric password, a list
of keys) becomes one ``"[REDACTED]"``. Numbers are matched possessively and list items need their commas: a
long number in a list under such a key (``{"api_keys": [111...1, {}]}``) made the pattern try every way to split its
digits into numbers, exponential in its length (30 digits stalled the history writer for minutes)."""
_KEYED_CONTAINER = compiled_on_first_use(r'("' + _KEY_NAMES + r'"\s*:\s*)[\[{]', re.IGNORECASE)
"""A dict or a list holding dicts under a credential key (``{"credentials": {"user": "bob", "token": "..."}}``):
every value inside is masked and its keys kept, so the text stays JSON of the same shape."""
_INNER_VALUE = compiled_on_first_use(f"({_STRING_VALUE})(\\s*:)|{_SCALAR_VALUE}")
_BRACKETS = compiled_on_first_use(rf"{_STRING_VALUE}|[\[\]{{}}]")
_PATTERNS = [
    compiled_on_first_use(r"(?:(?<![A-Za-z0-9_])|(?<=\\[nrt]))(?i:bearer)(?:\s|\\++[nrt])+[A-Za-z0-9._~+/=\-]{8,}"),
    compiled_on_first_use(
        r"(?:(?<![A-Za-z0-9_])|(?<=\\[nrtfb])|(?<=%[0-9A-Fa-f]{2})|(?<=_))sk-[A-Za-z0-9_\-]{16,}"
        r"|sk-(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{16,}|sk-[A-Za-z0-9]{40,}(?![A-Za-z0-9])"
    ),
]
"""``Bearer`` credentials, and ``sk-`` keys: at a word start, after a JSON escape (a key on a new line of a config
dump is ``\\nsk-...`` in the stored JSON, where ``\\b`` does not hold), a URL-encoded character (``key%3Dsk-...``)
or ``_``; and anywhere for the project, service-account and admin forms and for the 48 letters and digits of a legacy
key (a word ending in ``sk-`` followed by an identifier, ``task-runner-...``, stays as it is). A word starts after any
character but an ASCII letter, digit or ``_``: ``\\b`` also holds no boundary after a letter of any script
(``请求头是Bearer ...``, ``cléBearer ...``), and such text, as LLMs write it, kept its credential. A ``Bearer``
credential may also follow an escaped tab or newline and be separated by one, escaped again or not
(``Bearer\\tabc...`` in JSON text, the repr of a string inside a JSON string): the whole run of backslashes goes
with the match, so JSON text stays JSON."""
_COOKIE_HEADER = compiled_on_first_use(
    r'((?<![A-Za-z0-9_])(?i:(?:set-)?cookie)[ \t]*:[ \t]*)(?=[^\s()<>@,;:\\"/\[\]?={}]+=)(?:[^\r\n"\\]|\\")+'
)
"""A ``Cookie:`` or ``Set-Cookie:`` header giving cookies (``name=value``, the name an HTTP token: so a value
masked already, ``[REDACTED]``, is not taken for one): the whole header value to its line's end is masked, every
cookie of it. In JSON text the header ends with its string: the match crosses no quote (an escaped one, ``\\"``,
is part of a quoted cookie value) and no other escape (``\\n`` ends the line), so the text stays JSON.
``cookie: chocolate chip`` (no ``=``) is prose and stays. Not covered: a cookie value in raw double quotes in text
that is not JSON (``Cookie: sid="..."`` in a log line): its quoted part stays."""
_ENV_SECRET = compiled_on_first_use(r"(?i)(KEY|APIKEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)$")
_lock = threading.Lock()
_registered: set[str] = set()
_cache: tuple[frozenset[str], re.Pattern[str] | None] = (frozenset(), None)
_forms: tuple[str, ...] = ()
"""The secrets of ``_cache`` in every form they take in stored text (:func:`_secret_forms`): what it matches."""


def register_secret(value: str) -> None:
    """Treat ``value`` as a secret from now on (e.g. an API key passed to ``ag.configure``)."""
    if isinstance(value, str) and len(value) >= 8:
        with _lock:
            _registered.add(value)


INPUT_SECRET_MIN = 6
"""The shortest credential argument :func:`register_credential_inputs` registers: a shorter one (``"1234"``), or a
number, boolean or null as text (``"123456"``, ``"true"``), would mask unrelated text (a count, a flag) everywhere."""
_NOT_SECRETS = compiled_on_first_use(r"(?i)[+\-]?[0-9][0-9_.,eE+\-]*|true|false|none|null|nan|[+\-]?inf(?:inity)?")
PLAIN_ARGUMENT_NAMES: set[str] = set()
"""Argument names seen by :func:`register_credential_inputs` naming no credential (at most 4,096): the hot path
checks ``PLAIN_ARGUMENT_NAMES.issuperset(inputs)`` first, so an ordinary step costs no Python call."""


def register_credential_inputs(inputs: dict[str, Any]) -> None:
    """Register as secrets the strings a step or run is given under credential-named arguments (``password``,
    ``credentials``..., the names the store masks values under; inside a dict or list too), bar short or plain ones
    (:data:`INPUT_SECRET_MIN`). Why: masked under its name in the inputs, the same value quoted by the step's error
    (``PermissionError(f"login failed with {password}")``), outputs, logs or chat was stored in clear."""
    for name in inputs:
        if name in PLAIN_ARGUMENT_NAMES:
            continue
        if isinstance(name, str) and _CREDENTIAL_NAME.fullmatch(name) is not None:
            _register_leaves(inputs[name], 0)
        elif isinstance(name, str):
            if len(PLAIN_ARGUMENT_NAMES) >= 4096:
                PLAIN_ARGUMENT_NAMES.clear()
            PLAIN_ARGUMENT_NAMES.add(name)


def _register_leaves(value: Any, depth: int) -> None:
    if isinstance(value, str):
        plain = len(value) < INPUT_SECRET_MIN or _NOT_SECRETS.fullmatch(value) is not None
        if not plain and value not in _ELIDED and MASK not in value:
            with _lock:
                _registered.add(value)
    elif depth < 4 and isinstance(value, dict):
        for item in value.values():
            _register_leaves(item, depth + 1)
    elif depth < 4 and isinstance(value, (list, tuple)):
        for item in value[:64]:
            _register_leaves(item, depth + 1)


_env_seen: tuple[int, dict[str, str]] = (-1, {})


def _secret_forms(value: str) -> set[str]:
    """Every form ``value`` takes in what the store keeps: as it is (plain text: a memory note, a text artifact, an
    error message, a prompt), inside a JSON string written with and without ASCII escapes, and read as Latin-1
    from its UTF-8 bytes (bytes and pickles, see :func:`aether_nb.store.redact_encoded.redact_blobs`). A secret
    holding a non-ASCII character, a quote or a backslash (``pässwort``) differs in each: only its JSON-escaped form
    was searched, and such a password was stored in clear in every plain-text column."""
    forms = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    with contextlib.suppress(UnicodeEncodeError):  # (a lone surrogate has no UTF-8 bytes: no such form)
        forms.add(value.encode("utf-8").decode("latin-1"))
    return forms


def _literal_pattern() -> re.Pattern[str] | None:
    """One regex of every known secret value, rebuilt only when the credential variables or registrations change.

    The check per call is cheap (the environment's size, and the few credential variables already seen), since
    it runs for every value written.
    """
    global _cache, _env_seen
    size, seen = _env_seen
    with _lock:
        registered_known = _registered <= _cache[0]
    if registered_known and size == len(os.environ) and all(os.environ.get(k) == v for k, v in seen.items()):
        return _cache[1]
    creds = {k: v for k, v in os.environ.items() if _ENV_SECRET.search(k)}
    _env_seen = (len(os.environ), creds)
    values = {v for v in creds.values() if len(v) >= 8}
    with _lock:
        values |= _registered
    frozen = frozenset(values)
    if frozen != _cache[0]:
        global _forms
        _forms = tuple(sorted({form for v in frozen for form in _secret_forms(v)}))
        escaped = sorted((re.escape(f) for f in _forms), key=len, reverse=True)
        _cache = (frozen, re.compile("|".join(escaped)) if escaped else None)
    return _cache[1]


_KEY_STEMS = ("secret", "passw", "passphrase", "credential", "authorization", "bearer", "cookie")
"""Every name the credential rules match (lower case) holds one of these stems or ends in ``key``/``keys``/
``token``/``tokens``: the regexes only run when the text shows such a name, which keeps redaction of ordinary
values at one search over it (see :func:`_gate`)."""
_NAME_ENDS = ("key", "token")
_GIVEN = compiled_on_first_use(r"s?\\?[\"']?\s*[:=]")
"""What follows a name given a value (``"api_key": ``, ``api_key=``, ``'id_token': ``), after its ``key`` or
``token``. Those two words are everywhere, as words and as parts of names (a wait's ``token``, an LLM's
``prompt_tokens``, an ``idempotency_key``): where one ends a name given a value, the whole name is checked
(:func:`_names_credential`)."""
_NAME_BEFORE = compiled_on_first_use(r"[A-Za-z0-9_\-]*\Z")
"""A name's letters before its ``key``/``token``, read in the text as written: in its lower case a sign that lowers
to an ASCII letter (the Kelvin sign, ``\\u212a``) joined the name (``\\u212aDEPLOY_TOKEN=...`` was no credential)."""
_CREDENTIAL_NAME = compiled_on_first_use(_KEY_NAMES, re.IGNORECASE)
_ENV_NAME = compiled_on_first_use(r"[A-Z0-9_]*_(?:KEY|TOKEN)")
_named: dict[str, bool] = {}
"""Names (up to 64 characters) seen before by :func:`_names_credential`, and whether each is a credential name;
at most 4,096 are kept."""


def _names_credential(text: str, lower: str) -> bool:
    """Whether ``text`` (``lower`` is it in lower case) may give a value to a credential name, i.e. whether
    :data:`_KEYED_VALUE`, :data:`_KEYED_CONTAINER` or :data:`_ASSIGNED` can match it. Never False when they can:
    every name they match holds a stem of :data:`_KEY_STEMS` or ends in ``key(s)``/``token(s)`` before its value, and
    such a name is checked whole.

    Why not just run the regexes: a pause's history names a wait's ``"token"``, and the keyed regexes cost
    ~0.2 µs per character of the batch (0.7 ms of a 2 KB pause, most of a pause's time in memory).
    """
    if any(stem in lower for stem in _KEY_STEMS) or len(lower) != len(text):
        return True  # (a character whose lower case is longer, "İ": the positions below would not be the text's)
    for word in _NAME_ENDS:  # (str.find: several times faster than a regex over the batch)
        at = lower.find(word)
        while at != -1:
            after = at + len(word)
            given = _GIVEN.match(lower, after)
            if given is None:
                at = lower.find(word, after)
                continue
            stop = after + (1 if lower.startswith("s", after) else 0)
            head = _NAME_BEFORE.search(text, max(0, at - 64), at)
            begin = head.start() if head is not None else at
            name = text[begin:stop]  # (as written: an environment-style name must be upper case)
            known = _named.get(name)
            if known is None:
                known = _CREDENTIAL_NAME.fullmatch(name) is not None or _ENV_NAME.fullmatch(name) is not None
                if len(name) <= 64:
                    if len(_named) >= 4096:
                        _named.clear()
                    _named[name] = known
            if known:
                return True
            at = lower.find(word, after)
    return False


_ASSIGNED = compiled_on_first_use(
    r"(?<![A-Za-z0-9_\-])"
    rf"(?:(?i:{_KEY_NAMES})|[A-Z0-9_]*_(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)(?==))"
    r"(?P<q1>\\?[\"']?)[ \t]*(?P<sep>[:=])[ \t]*"
    r"(?P<scheme>(?i:basic|bearer|token|digest)[ \t]+)?"
    r"(?:(?P<q2>\\?[\"'])(?P<quoted>[^\s\"'\\,;&{}\[\]<>():][^\"'\\<>]*?)(?P=q2)"
    r"|(?P<bare>[^\s\"'\\,;&{}\[\]<>():][^\s\"'\\,;&}\]<>()]*))"
)
"""A credential name given a value in text, not as a JSON key: ``api_key=...`` (a URL's query, keyword arguments,
an ``.env`` line), ``password: ...`` (YAML, headers), ``'api_key': '...'`` (a Python repr), ``\\"api_key\\":
\\"...\\"`` (JSON inside a JSON string), ``Authorization: Basic ...``; upper-case environment names ending in
``_KEY``, ``_TOKEN``, ``_SECRET``, ``_PASSWORD``, ``_CREDENTIALS`` with ``=`` (``GITHUB_TOKEN=...``). A quoted
value must close with its own quote, and no value holds a quote or a backslash: in JSON text a match never leaves
the string it is in, so the text stays JSON. See :func:`_mask_assigned` for which values are masked."""
_PUNCTUATED = compiled_on_first_use(r"[0-9_\-./+=:@!#$%^*~]")


_ELIDED = ("...", "\u2026")
"""Values that stand for one left out (``api_key=...``): never a secret."""


def _mask_assigned(m: re.Match[str]) -> str:
    """The match with its value masked, except an unquoted one-word value after ``:`` with no digit or punctuation
    and under 20 letters (``password: required``): a sentence that names a credential must not make a step's result
    count as a secret (it would not be journaled). After a bare ``"name":`` (a JSON key) the key rules above have
    masked every JSON value already, so what is left there is ``null`` (kept) or text that is not JSON
    (``"password": hunter22`` in a log line or a text artifact), masked by the same rule."""
    value = m.group("quoted") if m.group("quoted") is not None else m.group("bare")
    if value in _ELIDED:
        return m.group(0)  # ("api_key=..." tells how to call, in a hint, a docstring, a prompt: no secret)
    mask = MASK
    if m.group("quoted") is not None:
        start, end = m.span("quoted")
    else:
        bare = m.group("bare")
        prose = not m.group("scheme") and len(bare) < 20 and _PUNCTUATED.search(bare) is None
        if m.group("sep") == ":" and prose:
            return m.group(0)
        start, end = m.span("bare")
        if m.group("q1") == '"':
            # The name ended a JSON key ("user password": 1234): the value is a JSON number, masked as a string
            # so the text stays JSON (an unquoted mask made the record unreadable, and the batch with it).
            mask = f'"{MASK}"'
    whole, base = m.group(0), m.start()
    return whole[: start - base] + mask + whole[end - base :]


_gate_cache: tuple[tuple[str, ...] | None, Any, re.Pattern[str] | None] = (None, None, None)
SHORT_TEXT = detectors.SHORT_TEXT
"""Texts up to this length are searched with Python's ``re`` (see :func:`_gate_hit`), longer ones with RE2."""


def _gates() -> tuple[Any, re.Pattern[str]]:
    """The gate (see :func:`_gate_hit`) as RE2 (case-insensitive) and as Python's ``re`` over lower-case text (a
    trie of the same words); both rebuilt when the known secrets change."""
    global _gate_cache
    forms = _forms
    if _gate_cache[0] is not forms:
        import re2

        words = [*_KEY_STEMS, *_NAME_ENDS, "sk-", *detectors.HINTS, *forms]
        lower = re.compile(detectors.trie_pattern(sorted({w.lower() for w in words})))
        _gate_cache = (forms, re2.compile("(?i)" + "|".join(map(re.escape, words))), lower)
    return _gate_cache[1], cast("re.Pattern[str]", _gate_cache[2])


def _gate_hit(text: str) -> bool:
    """Whether ASCII ``text`` holds a word that can make :func:`redact_text` change a text: the credential-name
    stems, ``key``/``token``, ``sk-``, the token formats' hints and the known secrets (as they appear in JSON
    strings).

    Why: nearly every text redacted holds none of them, and finding that out with a lower-cased copy and a dozen
    substring searches cost ~4 µs per W1 step (~14 µs per state-graph superstep), several times one linear pass.
    Long texts (a batch of history) take RE2, linear in their length; short ones (a step's result checked by
    :func:`contains_secret`, one event) take Python's ``re``: as fast below ~256 characters, and it keeps the GIL.
    RE2 releases the GIL for every search, so while another thread runs Python (the store's background apply)
    each search waited for it to hand the GIL back: ~14 µs per three-letter answer when a thousand state graphs
    resumed, up to ~250 µs against a busy thread, where the search itself takes ~1 µs."""
    full, short = _gates()
    if len(text) <= SHORT_TEXT:
        return short.search(text.lower()) is not None
    return full.search(text) is not None


_prepared = False


def prepare() -> None:
    """Load now what redaction otherwise loads when a text first needs it: detect-secrets' catalogue (~100 ms, it
    imports ``requests``), RE2 and the patterns. Called when a store is configured (``ag.configure(store=...)``,
    ``%load_ext``): otherwise the first run that writes a URL or a token-like text (a detector's hint) held the
    event loop that long, in the middle of the run."""
    global _prepared
    if _prepared:
        return
    detectors.rules()
    detectors.has_hint("")
    _gates()
    detectors.compile_deferred()
    _prepared = True


def redact_text(text: str) -> str:
    """``text`` (JSON or plain) with every secret replaced by ``[REDACTED]``."""
    if '"b64"' in text:
        return redact_with_blobs(text, _redact_plain, _gate_any)
    return _redact_plain(text)


def redact_message(text: str) -> str:
    """:func:`redact_text` for an error's message (the same rules: a value shown as ``...`` or ``…`` after a
    credential's name stays in both, so ``ag.configure(llm={'api_key': ...})`` reads as written wherever the message
    goes: a run's error, the store, the widget)."""
    return redact_text(text)


def _redact_plain(text: str) -> str:
    literal = _literal_pattern()  # (first: the gate holds the known secrets it finds)
    if text.isascii() and not _gate_hit(text):
        return text  # (RE2 takes UTF-8 only; other text, rare here, takes the searches below)
    return _redact_gated(text, literal)


def _gate_any(text: str) -> bool:
    """:func:`_gate_hit` for any text (Latin-1 read from bytes too): Python's ``re`` over its lower case."""
    return _gates()[1].search(text.lower()) is not None


def _redact_gated(text: str, literal: re.Pattern[str] | None) -> str:
    """:func:`redact_text` of a text the gate did not clear (``literal``: :func:`_literal_pattern`). Last, the JSON
    strings of it that hold an escape take these rules again as the strings they stand for (see
    :func:`aether_nb.store.redact_encoded.redact_escaped_strings`): ``\\u201cBearer ...`` is masked as ``“Bearer ...``
    is."""
    lower = text.lower()
    if _names_credential(text, lower):
        text = _KEYED_VALUE.sub(lambda m: f'{m.group(1)}"{MASK}"', text)
        text = _mask_containers(text)
        if "cookie" in lower:
            text = _COOKIE_HEADER.sub(lambda m: m.group(1) + MASK, text)
        text = _ASSIGNED.sub(_mask_assigned, text)
    if "bearer" in lower:
        text = _PATTERNS[0].sub(MASK, text)
    if "sk-" in text:
        text = _PATTERNS[1].sub(MASK, text)
    text = detectors.redact(text, MASK)
    if literal is not None and (len(_forms) > 16 or any(form in text for form in _forms)):
        text = _mask_literals(literal, text)  # (a substring search per secret is much cheaper than the regex)
    return redact_escaped_strings(text, _redact_plain, _gate_hit)


def _mask_containers(text: str) -> str:
    """``text`` with every value inside a dict or list under a credential key masked (see :data:`_KEYED_CONTAINER`).

    A container left open (a log line cut short) is masked to the end of the text: better too much than a leak.
    """
    found = _KEYED_CONTAINER.search(text)
    if found is None:
        return text
    out: list[str] = []
    pos = 0
    while found is not None:
        start = found.end() - 1
        end = _container_end(text, start)
        out += [text[pos:start], _INNER_VALUE.sub(_masked_inner, text[start:end])]
        pos = end
        found = _KEYED_CONTAINER.search(text, pos)
    out.append(text[pos:])
    return "".join(out)


def _masked_inner(m: re.Match[str]) -> str:
    return m.group(0) if m.group(1) is not None else f'"{MASK}"'


def _container_end(text: str, start: int) -> int:
    """The index just past the bracket closing the one at ``start`` (strings skipped), or the text's end."""
    depth = 0
    for m in _BRACKETS.finditer(text, start):
        token = m.group(0)
        if token == "[" or token == "{":
            depth += 1
        elif token == "]" or token == "}":
            depth -= 1
            if depth == 0:
                return m.end()
    return len(text)


_JSON_STRING = compiled_on_first_use(_STRING_VALUE)
_BARE_TOKEN = compiled_on_first_use(r"[A-Za-z0-9_.+\-]*")


def _mask_literals(literal: re.Pattern[str], text: str) -> str:
    """``text`` with every known secret value masked, as valid JSON as it was.

    Inside a JSON string a secret becomes ``[REDACTED]``; outside one (a numeric secret written as a number,
    ``{"pin": 12345678}``) the whole bare token holding it becomes the string ``"[REDACTED]"``: a bare
    ``[REDACTED]`` there made the text invalid JSON, and the whole batch of history it was part of unreadable.
    """
    found = list(literal.finditer(text))
    if not found:
        return text
    strings = [(m.start(), m.end()) for m in _JSON_STRING.finditer(text)]
    out: list[str] = []
    pos = 0
    k = 0
    for m in found:
        start, end = m.start(), m.end()
        if start < pos:
            continue  # inside a token masked already
        while k < len(strings) and strings[k][1] <= start:
            k += 1
        if k < len(strings) and strings[k][0] < start and end < strings[k][1]:
            out += [text[pos:start], MASK]
        else:  # not inside a string: mask the bare token (a number, a word) it belongs to, as a JSON string
            head = start
            while head > pos and _BARE_TOKEN.fullmatch(text[head - 1]):
                head -= 1
            tail = _BARE_TOKEN.match(text, end)
            end = tail.end() if tail is not None else end
            out += [text[pos:head], f'"{MASK}"']
        pos = end
    out.append(text[pos:])
    return "".join(out)


def redact_many(texts: list[str]) -> list[str]:
    """:func:`redact_text` of each text, in one regex pass over all of them when none holds a secret; ``texts``
    itself when none changes.

    JSON text from ``json.dumps`` has no raw newline, so joining with one cannot make a match span two texts.
    ASCII texts (nearly every batch): one search of the gate over all of them finds the texts that hold a word
    that could start a secret, and only those take :func:`redact_text`'s other searches. Why: a pause's batch
    always holds one (its ``wait_opened`` event has a ``"token"`` key), which sent the whole batch through the
    detectors (~50 µs per KB of text holding such words; on the W4 batches the saving was ~20-40 µs a pause).
    Other text: a match anywhere sends the batch through :func:`redact_text` one by one.
    """
    if not texts:
        return texts
    joined = "\n".join(texts)
    if '"b64"' in joined:  # (rare: bytes or a pickled object, whose base64 the text rules must not read)
        each = [redact_text(t) for t in texts]
        return texts if each == texts else each
    if joined.isascii():
        literal = _literal_pattern()  # (first: the gate holds the known secrets it finds)
        out: list[str] | None = None
        for i in _gated(texts, joined):
            redacted = _redact_gated(texts[i], literal)
            if redacted != texts[i]:
                out = out if out is not None else list(texts)
                out[i] = redacted
        return texts if out is None else out
    if redact_text(joined) == joined:
        return texts
    return [redact_text(t) for t in texts]


def _gated(texts: list[str], joined: str) -> Iterator[int]:
    """The indexes of the ASCII ``texts`` (``joined``: them joined by newlines) the gate does not clear.

    A long batch is searched with RE2 (as bytes: searched as they are, from a position without a copy), once, and
    then once from the text after each text that holds a word: one search per such text, however many words it
    holds (each search hands the GIL over, see :func:`_gate_hit`)."""
    if len(joined) <= SHORT_TEXT:
        if _gate_hit(joined):
            yield from (i for i, t in enumerate(texts) if _gate_hit(t))
        return
    gate = _gates()[0]
    data = joined.encode("ascii")
    found = gate.search(data)  # (nearly every batch: no hit, and no text to locate below)
    ends = list(itertools.accumulate(len(t) + 1 for t in texts)) if found else []  # where each text's newline ends
    while found is not None:
        i = bisect.bisect_right(ends, found.start())
        yield i
        found = gate.search(data, ends[i]) if ends[i] < len(data) else None


def clears_gate(text: str) -> bool:
    """Whether :func:`redact_text` leaves ``text`` as it is, known from one search of the gate: ASCII text with
    no base64 value and no word that could start a secret. False says only that the gate did not clear it.

    Why: a store that keeps a batch's JSON values as one text checks that text once, instead of one text per value
    (:func:`redact_many` joins them again to search them)."""
    if '"b64"' in text or not text.isascii():
        return False
    _literal_pattern()  # (first: the gate holds the known secrets it finds)
    return not _gate_hit(text)


def contains_secret(text: str) -> bool:
    """Whether :func:`redact_text` would change ``text``."""
    return redact_text(text) != text


def redact_value(value: Any) -> Any:
    """A JSON value with its secrets redacted (round-trips through JSON text)."""
    return json.loads(redact_text(json_dumps(value)))


def json_text(value: Any) -> str:
    """``value`` as JSON text with its secrets redacted: what every store writes.

    Raises:
        StorageError: the value is not JSON (encode it with :mod:`aether_nb.runtime.codec` first).
    """
    try:
        return redact_text(json_dumps(value))
    except (TypeError, ValueError) as exc:
        raise StorageError(
            f"the store accepts JSON values only, got {type(value).__name__}: {exc}. "
            "Encode values with aether_nb.runtime.codec before storing them.",
            code="not_json",
        ) from exc


def json_texts(values: list[Any]) -> list[str]:
    """:func:`json_text` of many values, redacted in one pass (see :func:`redact_many`)."""
    try:
        texts = [json_dumps(v) for v in values]
    except (TypeError, ValueError) as exc:
        raise StorageError(
            f"the store accepts JSON values only: {exc}. Encode values with aether_nb.runtime.codec first.",
            code="not_json",
        ) from exc
    return redact_many(texts)


def redact_optional(text: str | None) -> str | None:
    """:func:`redact_text` for a text column that may be empty."""
    return None if text is None else redact_text(text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts a record's message and traceback text (aether_nb's own loggers carry it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: logging's own error path reports it; keep the record
            return True
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
        return True


_FILTER = RedactingFilter()


def logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` with the redacting filter: what aether_nb logs never holds a secret."""
    log = logging.getLogger(name)
    if _FILTER not in log.filters:
        log.addFilter(_FILTER)
    return log
