"""Known secret formats, from a maintained catalogue: the detect-secrets project's token detectors.

Why a library: token formats change (GitHub's ``ghp_``, GitLab's ``glpat-``, Slack's ``xox?-``, AWS key ids, JWTs,
Stripe, SendGrid, PyPI, npm, Azure...), and Yelp's ``detect-secrets`` keeps a reviewed pattern per provider. We use
its *regex* detectors only (no entropy heuristics, which would flag every hash and id in a run's history), each
behind a literal hint so ordinary text costs one search for the hints (RE2), not a regex pass per format. Added here:
Hugging Face, Google, Anthropic, GitHub fine-grained and other current formats, and whole private-key blocks
(detect-secrets only finds a key's header line, and the point is to remove the key). Its JWT, basic-auth, Slack,
OpenAI and npm patterns are replaced by linear ones (see :data:`PLUGINS`).

The catalogue is loaded on first use (detect-secrets imports ``requests``), never by ``import aether_nb``.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import logging
import re
import threading
import warnings
from collections.abc import Iterator
from typing import Any, cast

from aether_nb.errors import StorageError


class _OnFirstUse:
    """A regex compiled when first used (see :func:`compiled_on_first_use`); then its methods are the compiled
    pattern's own, set on the instance, so later calls cost no extra lookup."""

    def __init__(self, pattern: str, flags: int) -> None:
        self.pattern = pattern
        self.flags = flags

    def __getattr__(self, name: str) -> Any:  # only for what is not set yet: the first use
        compiled = re.compile(self.pattern, self.flags)
        for attr in ("sub", "search", "match", "fullmatch", "finditer", "findall", "groups", "groupindex"):
            setattr(self, attr, getattr(compiled, attr))
        return getattr(compiled, name)


_DEFERRED: list[_OnFirstUse] = []


def compiled_on_first_use(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """``re.compile(pattern, flags)``, done when the pattern is first used. Why: compiling the redaction patterns
    (this module's and :mod:`aether_nb.store.redact`'s) took ~8 ms, a tenth of ``import aether_nb`` (W6); configuring
    a store pays it instead (:func:`compile_deferred`), or else the first redaction that needs one."""
    lazy = _OnFirstUse(pattern, flags)
    _DEFERRED.append(lazy)
    return cast("re.Pattern[str]", lazy)


def compile_deferred() -> None:
    """Compile every pattern made by :func:`compiled_on_first_use` that is not compiled yet."""
    for lazy in _DEFERRED:
        lazy.search("")


# detect-secrets plugin module -> literal hints (a pattern runs only when its text holds one of them)
PLUGINS: dict[str, tuple[str, ...]] = {
    "aws": ("AKIA", "ASIA", "ABIA", "ACCA", "A3T", "aws", "AWS", "Aws"),
    "azure_storage_key": ("AccountKey=",),
    "github_token": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    "gitlab_token": ("glpat-", "gldt-", "glft-", "glsoat-", "glrt-", "GR1348941", "glcbt-", "glimt-", "glptt-"),
    "pypi_token": ("pypi-",),
    "sendgrid": ("SG.",),
    "square_oauth": ("sq0csp-",),
    "stripe": ("k_live_",),
}
"""Left out on purpose: entropy and keyword heuristics (aether_nb redacts values under credential-named keys itself),
public IPs (not secrets), and formats with no distinctive prefix (Twilio, Telegram, Discord, Mailchimp), which match
ordinary ids in run data; such keys are still redacted when they are in the environment or registered. The JWT,
basic-auth and Slack detectors are replaced by the linear ones of :data:`OWN`.

Every pattern, these and :data:`OWN`'s, takes time linear in the text by its shape (a test checks it on each):
each repeat is bounded (at most 1,024) except one that nothing after it can make fail, so an attempt from any
position reads a bounded stretch of text or ends in a match, and the search goes on after the match. The other
shape: a pattern that starts only where a run of some characters starts (a lookbehind) and whose unbounded repeats
read only those characters, one per lookaround and one outside them: an attempt reads only its own run."""

_B64URL = r"[A-Za-z0-9_=\-]"
OWN: list[tuple[tuple[str, ...], re.Pattern[str]]] = [
    # JWTs ("eyJ" is '{"' in base64). detect-secrets' pattern, eyJ[...]+\.[...]+..., read the rest of a token again
    # from every "eyJ" in it when no "." followed: quadratic (120 kB of "eyJ" took 9.6 s, with the event loop held).
    # This one takes the whole run from the first "eyJ" (possessive), so the search goes on after it; only a run
    # followed by "." and a payload is a token (the group `found`, see spans()); the rest of it is the token's tail.
    (("eyJ",), compiled_on_first_use(rf"eyJ{_B64URL}++(?:\.{_B64URL}(?P<found>))?")),
    # passwords in URLs (detect-secrets' basic_auth, with bounded parts): ://user:password@
    (
        ("://",),
        compiled_on_first_use(
            r"://[^:/?#\[\]@!$&'()*+,;=\s]{1,1024}:([^:/?#\[\]@!$&'()*+,;=\s]{1,1024})@",
        ),
    ),
    # Slack tokens (detect-secrets' pattern with bounded parts; xoxe- refresh tokens added), app-level tokens and
    # webhooks: the rest of a token is its tail
    (("xox",), compiled_on_first_use(r"xox[abeoprs]-(?:[0-9]{1,64}-){1,16}[a-z0-9]", re.IGNORECASE)),
    (("xapp-",), compiled_on_first_use(r"xapp-[0-9]-[A-Z0-9]{1,64}-[0-9]{1,64}-[a-z0-9]", re.IGNORECASE)),
    (
        ("hooks.slack.com",),
        compiled_on_first_use(
            r"https://hooks\.slack\.com/services/T[a-zA-Z0-9_]{1,64}/B[a-zA-Z0-9_]{1,64}/[a-zA-Z0-9_]+",
            re.IGNORECASE,
        ),
    ),
    (("github_pat_",), compiled_on_first_use(r"github_pat_[A-Za-z0-9_]{30,}")),  # GitHub fine-grained tokens
    (("hf_",), compiled_on_first_use(r"hf_[A-Za-z0-9]{30,}")),  # Hugging Face user access tokens
    (("api_org_",), compiled_on_first_use(r"api_org_[A-Za-z0-9]{30,}")),  # Hugging Face organisation tokens
    (("AIza",), compiled_on_first_use(r"AIza[0-9A-Za-z_\-]{35}")),  # Google API keys
    (("GOCSPX-",), compiled_on_first_use(r"GOCSPX-[A-Za-z0-9_\-]{20,}")),  # Google OAuth client secrets
    (("ya29.",), compiled_on_first_use(r"ya29\.[A-Za-z0-9_\-]{20,}")),  # Google OAuth access tokens
    (("sk-ant-",), compiled_on_first_use(r"sk-ant-[A-Za-z0-9_\-]{20,}")),  # Anthropic keys
    (("gsk_",), compiled_on_first_use(r"gsk_[A-Za-z0-9]{40,}")),  # Groq keys
    (("xai-",), compiled_on_first_use(r"xai-[A-Za-z0-9]{60,}")),  # xAI keys
    (("pplx-",), compiled_on_first_use(r"pplx-[A-Za-z0-9]{40,}")),  # Perplexity keys
    (("lsv2_",), compiled_on_first_use(r"lsv2_(?:pt|sk)_[0-9a-f]{32}_[0-9a-f]{10}")),  # LangSmith keys
    (("tvly-",), compiled_on_first_use(r"tvly-(?:dev-|prod-)?[A-Za-z0-9]{30,}")),  # Tavily keys
    (("k_test_",), compiled_on_first_use(r"[rs]k_test_[0-9a-zA-Z]{24,}")),  # Stripe test-mode keys
    (("whsec_",), compiled_on_first_use(r"whsec_[A-Za-z0-9+/=]{24,}")),  # Stripe webhook signing secrets
    (("shpat_", "shpca_", "shppa_", "shpss_"), compiled_on_first_use(r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}")),
    (("dop_v1_", "doo_v1_", "dor_v1_"), compiled_on_first_use(r"do[opr]_v1_[a-f0-9]{64}")),  # DigitalOcean
    # AWS secret keys (40 characters) after an "aws...key"-like name, quoted, quoted in JSON text (\") or after
    # "=" / ":" unquoted (a credentials file): detect-secrets' pattern wants a bare quote on each side, so the key of
    # `aws_secret_access_key = "..."` inside a JSON value (where the quotes are \") reached the store.
    (
        ("aws", "AWS", "Aws"),
        compiled_on_first_use(
            r"aws.{0,20}?(?:key|pwd|pw|password|pass|token).{0,20}?(?:\\?['\"]|[=:]\s{0,16})([0-9a-zA-Z/+]{40})"
            r"(?![0-9a-zA-Z/+])",
            re.IGNORECASE,
        ),
    ),
    # npm tokens: "npm_" and 36 letters or digits anywhere, and a legacy (UUID) token after ":_authToken=".
    # detect-secrets' pattern, //.+/:_authToken=\s*((npm_.+)|...).*, is line-based: in JSON text (one line) its
    # "npm_.+" ran past the closing quote, so the match was skipped and an npm_ token inside a JSON value was
    # stored as it was; its ".+" from every "//" of the text was also quadratic (URLs are everywhere).
    (("npm_",), compiled_on_first_use(r"npm_[A-Za-z0-9]{36}")),
    (("_authToken",), compiled_on_first_use(r"(?<=:_authToken=)\s{0,16}([A-Fa-f0-9-]{36}|npm_[A-Za-z0-9]{20,})")),
    # OpenAI keys ("sk-[project-]" 20 alnum "T3BlbkFJ" 20 alnum; "sk-" at a word boundary is masked anyway, see
    # redact.py). detect-secrets' own pattern, sk-[A-Za-z0-9-_]*[A-Za-z0-9]{20}T3BlbkFJ..., backtracks from the
    # end of the token for every "sk-" in it: quadratic (a 16 KB token of "sk-ant-z"s took 0.2 s, 160 KB 18 s).
    # This one starts only where a token starts and reads only inside it, so each token is read by one attempt
    # (the other shape that keeps a pattern linear, see PLUGINS), and masks the whole token.
    (
        ("T3BlbkFJ",),
        compiled_on_first_use(
            r"(?<![A-Za-z0-9_\-])(?=[A-Za-z0-9_\-]*?sk-)[A-Za-z0-9_\-]*?[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}"
        ),
    ),
    # a private key block, whole: in JSON text its newlines are "\n" escapes; the block ends at its END line (or
    # any other END line: a key is masked whatever closes it), at its string's end (a quote that is not escaped)
    # or at the text's end (a block cut off). The body is read once (possessive): an END line that did not match
    # used to send the search back over the body from every BEGIN before it (81 kB took 9 s).
    (
        ("PRIVATE KEY", "PuTTY-User-Key"),
        compiled_on_first_use(
            r"-----BEGIN (?:[A-Z0-9]{1,32} ){0,8}PRIVATE KEY(?: BLOCK)?-----"
            r"(?:(?!-----END)(?:[^\"\\]|\\[^\"]))*+(?:-----END[A-Z0-9 ]{0,128}-----)?"
            r"|PuTTY-User-Key-File-\d[^\"]*",
        ),
    ),
]


def trie_pattern(words: list[str]) -> str:
    """A regex matching any of ``words``, as a trie (``gh(?:o_|p_)``...): Python's ``re`` tries the alternatives of
    an alternation one by one at each position, so sharing prefixes makes the scan about twice as fast."""
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        branches = [re.escape(ch) + build(sub) for ch, sub in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return build(root)


HINTS: tuple[str, ...] = tuple(sorted({h for hints in [*PLUGINS.values(), *(h for h, _ in OWN)] for h in hints}))
"""Every literal hint: a text that holds none of them (nearly all texts) is not searched any further."""
_HINT = compiled_on_first_use(trie_pattern(list(HINTS)))
_hint_re2: Any = None
"""The same search with RE2 (compiled on first use: importing it costs ~7 ms, not paid by ``import aether_nb``),
which scans for a set of literals in one linear pass; Python's ``re`` tries the alternation at every candidate
position (a JSON batch's keys start with the hints' first letters): ~2.7 against ~7.5 µs for a W1 step's 780
characters, ~10 % of a graph_fn step. RE2 takes UTF-8, so a text that is not ASCII (rare here: JSON text is
ASCII) goes through ``re``, which also takes a lone surrogate; so does a short one (as fast there, and RE2
releases the GIL for each search: see ``redact.SHORT_TEXT``)."""
SHORT_TEXT = 256


def has_hint(text: str) -> bool:
    """Whether ``text`` holds any of :data:`HINTS`."""
    global _hint_re2
    if len(text) <= SHORT_TEXT or not text.isascii():
        return _HINT.search(text) is not None
    if _hint_re2 is None:
        import re2

        _hint_re2 = re2.compile(_HINT.pattern)
    return _hint_re2.search(text) is not None


_NOT_TOKEN = frozenset(" \t\"':@=,;")
_TOKEN_TAIL = compiled_on_first_use(r"[A-Za-z0-9_+/=.\-]*")
"""The rest of a token after a match (letters, digits and ``_-+/=.``): always matches, possibly empty."""
_lock = threading.Lock()
_rules: list[tuple[tuple[str, ...], list[re.Pattern[str]]]] | None = None
_hint_pairs: tuple[tuple[str, int], ...] = ()
"""(hint, index in :func:`rules`) of every hint."""
_hint_set: Any = None
"""RE2's set matcher of the rules' hints, one alternation per rule (see :func:`_rules_in`)."""


def rules() -> list[tuple[tuple[str, ...], list[re.Pattern[str]]]]:
    """(hints, patterns) for every format, loaded once."""
    global _rules
    with _lock:
        if _rules is None:
            loaded: list[tuple[tuple[str, ...], list[re.Pattern[str]]]] = []
            with _warnings_left_alone():
                for module, hints in PLUGINS.items():
                    loaded.append((hints, _detector_patterns(module)))
            loaded.extend((hints, [pattern]) for hints, pattern in OWN)
            global _hint_pairs, _hint_set
            import re2

            _hint_pairs = tuple((hint, i) for i, (hints, _) in enumerate(loaded) for hint in hints)
            _hint_set = re2.Set.SearchSet()
            for hints, _ in loaded:
                _hint_set.Add("|".join(re2.escape(h) for h in hints))
            _hint_set.Compile()
            _rules = loaded
        return _rules


def _rules_in(text: str) -> list[list[re.Pattern[str]]]:
    """The patterns of the formats whose hints ``text`` holds.

    A long ASCII text is searched for them all in one pass of RE2's set matcher (every rule whose hints occur,
    overlapping ones included): a substring search per hint cost ~3.5 µs each over 11 kB of text, ~330 µs for the
    ~90 hints, against ~18 µs. A short one (see :data:`SHORT_TEXT`) takes the substring searches."""
    loaded = rules()
    if len(text) <= SHORT_TEXT or not text.isascii():
        return [loaded[i][1] for i in sorted({i for hint, i in _hint_pairs if hint in text})]
    return [loaded[i][1] for i in sorted(_hint_set.Match(text.encode("ascii")) or ())]


@contextlib.contextmanager
def _warnings_left_alone() -> Iterator[None]:
    """Import detect-secrets without its taking the process's warnings.

    Importing ``detect_secrets.core.log`` calls ``logging.captureWarnings(True)``: every ``warnings.warn`` then goes
    to the ``py.warnings`` logger, which has no handler in a kernel, so after ``%load_ext aether_nb`` (which opens the
    store and loads these patterns) no warning showed any more: aether_nb's own (a value that cannot be stored, an
    unused resume value, a promotion note), the user's and their libraries'. Warnings captured by the user before
    (``captureWarnings(True)`` already) stay captured."""
    before = warnings.showwarning
    try:
        yield
    finally:
        if warnings.showwarning is not before:
            logging.captureWarnings(False)  # (puts back the function it replaced: ``before``)
            if warnings.showwarning is not before:  # someone else's hook in between: ours is the one to restore
                warnings.showwarning = before


def _detector_patterns(module: str) -> list[re.Pattern[str]]:
    mod = importlib.import_module(f"detect_secrets.plugins.{module}")
    base: Any = importlib.import_module("detect_secrets.plugins.base").RegexBasedDetector
    found: list[re.Pattern[str]] = []
    for _, cls in inspect.getmembers(mod, inspect.isclass):
        if issubclass(cls, base) and cls is not base and cls.__module__ == mod.__name__:
            denylist: Any = getattr(cls, "denylist", ())
            found.extend(_ascii_words(p) for p in denylist if isinstance(p, re.Pattern))
    if not found:
        raise StorageError(
            f"detect-secrets has no regex detector in plugins.{module} any more, so secrets of that format could "
            "reach the store: install detect-secrets 1.5 (pip install 'detect-secrets>=1.5,<2') or update aether_nb",
            code="redaction_unavailable",
        )
    return found


def _ascii_words(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """``pattern`` with ``\\w``, ``\\b``, ``\\d`` and ``\\s`` meaning ASCII only. Why: detect-secrets compiles its
    patterns for Unicode, where a letter of any script is a word character: GitLab's ``glpat-...(?!\\w)`` did not
    match a token followed by Chinese or Cyrillic text with no space (``令牌glpat-...谢谢``), which LLMs write."""
    if pattern.flags & re.ASCII:
        return pattern
    return re.compile(pattern.pattern, (pattern.flags & ~re.UNICODE) | re.ASCII)


def spans(text: str) -> Iterator[tuple[int, int]]:
    """Where known secrets are in ``text``: ``(start, end)`` of each.

    A match is widened to the end of its token (the JWT pattern stops after the first character of the payload, the
    Slack ones after the first of the secret part). When a match holds its context too (``://user:password@``,
    ``aws_key = "..."``), the pattern's group is the secret. A pattern with a group ``found`` also reads text that is
    not a secret, to stay linear: only its matches where that group took part are secrets.
    A match that would cross a JSON string boundary (an unescaped ``"``) is skipped: the text stays valid JSON.
    """
    if not has_hint(text):
        return
    for patterns in _rules_in(text):
        for pattern in patterns:
            covered = -1  # the end of the last span yielded: a match inside it is masked already
            marked = "found" in pattern.groupindex
            for m in pattern.finditer(text):
                if marked and m.group("found") is None:
                    continue  # text read past so that the search goes on after it (see OWN's JWT pattern)
                start, end = m.start(), m.end()
                if pattern.groups and m.group(1) and any(c in _NOT_TOKEN for c in text[start:end]):
                    start, end = m.start(1), m.end(1)
                if start < covered:
                    continue  # ("AKIA" * 3000 matches every 20 characters: widening each to the end was quadratic)
                if pattern.pattern[-1:] != "$":
                    end = max(end, _TOKEN_TAIL.match(text, end).end())  # type: ignore[union-attr]
                if end <= start or _crosses_string(text, start, end):
                    continue
                covered = end
                yield start, end


def _crosses_string(text: str, start: int, end: int) -> bool:
    i = text.find('"', start, end)
    while i >= 0:
        backslashes = 0
        j = i - 1
        while j >= start and text[j] == "\\":
            backslashes += 1
            j -= 1
        if backslashes % 2 == 0:
            return True
        i = text.find('"', i + 1, end)
    return False


def redact(text: str, mask: str) -> str:
    """``text`` with every known secret format replaced by ``mask``."""
    found = sorted(spans(text))
    if not found:
        return text
    out: list[str] = []
    pos = 0
    for start, end in found:
        if start < pos:  # overlaps a span already masked
            start = pos
            if end <= start:
                continue
        out.append(text[pos:start])
        out.append(mask)
        pos = end
    out.append(text[pos:])
    return "".join(out)
