"""LLM configuration: named profiles (endpoint, key, model, limits, prices, caching) and the clients built from them.

Profiles live in ``session.config["llm_profiles"]`` (name -> :class:`LLMProfile`). The default one comes from
``ag.configure(llm=...)`` or ``%aether llm ...``, else from ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` /
``OPENAI_MODEL``. A profile's key is registered as a secret when it is given (before the profile's checks, whose
errors may quote it), so it never reaches the store nor an error's message.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import math
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aether_nb.errors import UsageError, shown
from aether_nb.runtime.checks import check_text
from aether_nb.store.redact import redact_text, register_secret

if TYPE_CHECKING:
    from aether_nb.runtime.session import Session

DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_EMBED_MODEL = "text-embedding-3-small"
CACHE_SCOPE = "llm-cache"
NO_KEY_PLACEHOLDER = "no-key-needed"  # the client insists on a key; local endpoints ignore it

DEFAULT_PRICES: dict[str, dict[str, float]] = {
    # USD per 1M tokens. Override or extend with LLMProfile(prices={...}); unknown models cost None.
    "gpt-4o-mini": {"input": 0.15, "output": 0.60},
    "gpt-4o": {"input": 2.50, "output": 10.00},
    "gpt-4.1": {"input": 2.00, "output": 8.00},
    "gpt-4.1-mini": {"input": 0.40, "output": 1.60},
    "gpt-4.1-nano": {"input": 0.10, "output": 0.40},
    "text-embedding-3-small": {"input": 0.02, "output": 0.0},
    "text-embedding-3-large": {"input": 0.13, "output": 0.0},
}

_NO_CONFIG = (
    "no LLM is configured: set OPENAI_API_KEY (and OPENAI_BASE_URL for another OpenAI-compatible endpoint), or "
    "call ag.configure(llm={'model': ..., 'base_url': ..., 'api_key': ...}), or run "
    "`%aether llm --model M --base-url U` in the notebook"
)


@dataclass(frozen=True)
class LLMProfile:
    """How to reach one model: endpoint, key, model name, limits, prices and caching.

    Args:
        model: the chat model (``OPENAI_MODEL`` or ``gpt-4o-mini`` by default).
        base_url: an OpenAI-compatible endpoint (``OPENAI_BASE_URL``, else OpenAI's).
        api_key: the key (``OPENAI_API_KEY``); never stored, never shown in the repr. Not needed for a local endpoint.
        timeout_s: the longest wait for the endpoint at each step: to connect, for the answer to begin, and, when a
            reply is streamed, between two chunks (a long reply that keeps streaming is not cut). It does not bound
            a whole call: each retry waits again. A call that times out fails its node with that reason.
        max_retries: retries on 429 / 5xx / connection errors, with the client's bounded exponential backoff.
        prices: ``{model: {"input": usd, "output": usd}}`` per 1M tokens, over :data:`DEFAULT_PRICES`.
        cache: cache replies in the notebook's store, keyed by the request (per-call ``cache=`` overrides it).
        embed_model: the model ``embed()`` uses.
        embed_memory: also embed the memory service's events with ``embed_model`` (one request per event).
        name: the profile's name (``context.llm("fast")``); ``"default"`` is used when none is asked for.
    """

    model: str = DEFAULT_MODEL
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    timeout_s: float = 60.0
    max_retries: int = 3
    prices: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    cache: bool = False
    embed_model: str = DEFAULT_EMBED_MODEL
    embed_memory: bool = False
    name: str = "default"

    def __repr__(self) -> str:
        """The fields but the key, with a password in ``base_url`` masked (a profile shown as a cell's last line
        is saved in the notebook: ``http://bob:[REDACTED]@host/v1``)."""
        parts = []
        for f in dataclasses.fields(self):
            if not f.repr:
                continue
            value = getattr(self, f.name)
            if f.name == "base_url" and isinstance(value, str):
                value = redact_text(value)
            parts.append(f"{f.name}={value!r}")
        return f"LLMProfile({', '.join(parts)})"

    def __post_init__(self) -> None:
        # the key first: an error about another setting may quote it (a key pasted as the base_url), and an
        # error's message is redacted of the secrets known when it is made
        if isinstance(self.api_key, str) and self.api_key:
            register_secret(self.api_key)
        # every setting is checked here, where it is given: a profile is used by runs long after it is made, and
        # a bad value found then fails a run with an error that no longer says which setting to fix
        check_text(self.name, "LLMProfile.name")
        for what in ("model", "embed_model"):
            value = getattr(self, what)
            if not isinstance(value, str) or not value.strip():
                raise UsageError(f"LLMProfile.{what} must be a model name (a string), got {shown(value)}")
        if self.base_url is not None and not (
            isinstance(self.base_url, str) and self.base_url.lower().startswith(("http://", "https://"))
        ):
            raise UsageError(
                "LLMProfile.base_url must be an endpoint URL (a string such as 'http://localhost:8000/v1'), or None "
                f"for OPENAI_BASE_URL or OpenAI's; got {shown(self.base_url)}"
            )
        if self.api_key is not None and not isinstance(self.api_key, str):
            raise UsageError(f"LLMProfile.api_key must be a string or None, got {type(self.api_key).__name__}")
        if not _is_number(self.timeout_s) or not math.isfinite(self.timeout_s) or self.timeout_s <= 0:
            raise UsageError(
                f"LLMProfile.timeout_s must be a positive, finite number of seconds, got {shown(self.timeout_s)}"
            )
        if (
            isinstance(self.max_retries, bool)
            or not isinstance(self.max_retries, int)
            or not 0 <= self.max_retries <= 10
        ):
            raise UsageError(f"LLMProfile.max_retries must be an int from 0 to 10, got {shown(self.max_retries)}")
        for what in ("cache", "embed_memory"):
            if not isinstance(getattr(self, what), bool):
                raise UsageError(f"LLMProfile.{what} must be True or False, got {shown(getattr(self, what))}")
        # a copy: a later change to the caller's dict must not bypass these checks
        object.__setattr__(self, "prices", check_prices(self.prices))

    def price(self, model: str) -> Mapping[str, float] | None:
        """The price entry for ``model``: exact name, else the longest known prefix (``gpt-4o-2024-08-06``)."""
        table = {**DEFAULT_PRICES, **self.prices}
        if model in table:
            return table[model]
        prefixes = [k for k in table if model.startswith(k)]
        return table[max(prefixes, key=len)] if prefixes else None

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        p = self.price(model)
        if p is None:
            return None
        return (prompt_tokens * p.get("input", 0.0) + completion_tokens * p.get("output", 0.0)) / 1_000_000


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_prices(prices: Any) -> dict[str, dict[str, float]]:
    """``prices`` as a plain ``{model: {"input": usd, "output": usd}}`` dict, or a :class:`UsageError` that says
    which entry is wrong: prices are USD per 1M tokens, finite numbers of zero or more."""
    example = "{'my-model': {'input': 0.15, 'output': 0.60}} (USD per 1M tokens)"
    if not isinstance(prices, Mapping):
        raise UsageError(f"LLMProfile.prices must be a dict like {example}, got {shown(prices)}")
    table: dict[str, dict[str, float]] = {}
    for model, entry in prices.items():
        if not isinstance(model, str) or not model:
            raise UsageError(f"LLMProfile.prices: each key must be a model name, got {shown(model)}; e.g. {example}")
        if not isinstance(entry, Mapping):
            raise UsageError(f"LLMProfile.prices[{model!r}] must be a dict like {example}, got {shown(entry)}")
        unknown = sorted(map(str, set(entry) - {"input", "output"}))
        if unknown:
            raise UsageError(
                f"LLMProfile.prices[{model!r}] has unknown key(s) {unknown}; the keys are 'input' and 'output'"
            )
        for kind, usd in entry.items():
            if not _is_number(usd) or not math.isfinite(usd) or usd < 0:
                raise UsageError(
                    f"LLMProfile.prices[{model!r}][{kind!r}] must be a finite number of USD per 1M tokens, zero or "
                    f"more (a float, not a string), got {shown(usd)}"
                )
        table[model] = {kind: float(usd) for kind, usd in entry.items()}
    return table


def as_profile(value: Any, name: str | None = None) -> LLMProfile:
    """An :class:`LLMProfile` from a profile or a dict of its fields (unknown keys are reported)."""
    if isinstance(value, LLMProfile):
        return value if name is None else dataclasses.replace(value, name=name)
    if isinstance(value, Mapping):
        if isinstance(value.get("api_key"), str):
            register_secret(value["api_key"])  # (before any check: see LLMProfile.__post_init__)
        known = {f.name for f in dataclasses.fields(LLMProfile)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise UsageError(f"unknown LLM setting(s) {unknown}; the settings are {sorted(known)}")
        data = dict(value)
        if name is not None:
            data["name"] = name
        return LLMProfile(**data)
    raise UsageError(f"llm= takes an LLMProfile or a dict of its settings, got {type(value).__name__}")


def profile_from_env(env: Mapping[str, str] | None = None) -> LLMProfile:
    environ = os.environ if env is None else env
    try:
        return LLMProfile(
            model=environ.get("OPENAI_MODEL") or DEFAULT_MODEL,
            base_url=environ.get("OPENAI_BASE_URL") or None,
            api_key=environ.get("OPENAI_API_KEY") or None,
        )
    except UsageError as exc:
        raise UsageError(f"the environment's OPENAI_* variables: {exc}", code="bad_llm_env") from None


def configure_llm(session: Session, value: Any) -> list[LLMProfile]:
    """Install profiles: one (an :class:`LLMProfile` or dict), or a list of them (each with its ``name``)."""
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    profiles = [as_profile(v) for v in items]
    table: dict[str, LLMProfile] = session.config.setdefault("llm_profiles", {})
    for p in profiles:
        table[p.name] = p
        if p.name == "default":
            if p.embed_memory:
                session.config["embed"] = memory_embedder(p)
            elif getattr(session.config.get("embed"), "_aether_llm", False):
                session.config.pop("embed")
    return profiles


def resolve_profile(session: Session | None, name: str | None = None) -> LLMProfile:
    """The profile to use: the named one, else the configured default, else one from the environment.

    Raises:
        UsageError: the name is unknown, or there is neither a key nor an endpoint to call.
    """
    table: dict[str, LLMProfile] = {} if session is None else session.config.get("llm_profiles") or {}
    if name is not None and name not in table:
        raise UsageError(
            f"no LLM profile named {shown(name)} (configured: {sorted(table) or 'none'}); "
            f"add one with ag.configure(llm={{'name': {shown(name)}, 'model': ...}})",
            code="no_llm_profile",
        )
    env = profile_from_env()
    profile = table.get(name or "default")
    if profile is None:
        profile = env
    elif profile.api_key is None and profile.base_url is None:
        profile = dataclasses.replace(profile, api_key=env.api_key, base_url=env.base_url)
    if not profile.api_key and not profile.base_url:
        raise UsageError(_NO_CONFIG, code="no_llm_config")
    return profile


# -- clients -------------------------------------------------------------------------------------------------------
OPENAI_URL = "https://api.openai.com/v1"


def endpoint_url(profile: LLMProfile) -> str:
    """The URL a profile's requests go to, as the ``openai`` client picks it (``base_url``, else
    ``OPENAI_BASE_URL``, else OpenAI's): part of the response cache's key, since two endpoints serving a model of
    the same name (OpenAI and a local server, staging and production) answer differently."""
    return (profile.base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_URL).rstrip("/")


def client_key(profile: LLMProfile) -> tuple[Any, ...]:
    """What makes two clients interchangeable (a cache key; held in memory only)."""
    return (profile.base_url, profile.api_key, float(profile.timeout_s), profile.max_retries)


_OPENAI_READY = threading.Event()


def _import_openai() -> None:
    importlib.import_module("openai.resources.chat.completions")  # (what check_create_arguments reads, and openai)
    _OPENAI_READY.set()


async def openai_imported() -> None:
    """Import ``openai`` in a worker thread, once, before a model call first needs it.

    Why: its import takes ~1 s (more on a busy machine), and made on the loop it froze the kernel for that long: the
    widget, other runs, and the history's write-behind, so a step that ended just before the first LLM call of a
    process was not written within its 0.2 s and ran again after a kill in that second. In a thread the loop goes
    on (the import releases the GIL every few milliseconds)."""
    if not _OPENAI_READY.is_set():
        await asyncio.to_thread(_import_openai)


def new_client(profile: LLMProfile, *, sync: bool = False) -> Any:
    """An ``openai`` client for ``profile`` (async unless ``sync``); ``openai`` is imported here, on first use."""
    import openai

    cls = openai.OpenAI if sync else openai.AsyncOpenAI
    return cls(
        api_key=profile.api_key or NO_KEY_PLACEHOLDER,
        base_url=profile.base_url,
        timeout=float(profile.timeout_s),
        max_retries=profile.max_retries,
    )


def memory_embedder(profile: LLMProfile) -> Callable[[str], list[float]]:
    """A synchronous embedder for the memory service (whose API is sync), on a sync client of the same profile."""
    client: list[Any] = []

    def embed(text: str) -> list[float]:
        if not client:
            client.append(new_client(profile, sync=True))
        resp = client[0].embeddings.create(model=profile.embed_model, input=[text or " "])
        return list(resp.data[0].embedding)

    embed._aether_llm = True  # type: ignore[attr-defined]
    return embed
