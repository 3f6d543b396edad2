"""``context.memory()``: an event log of notes and chat turns, with recency and search.

Every call is a journaled step of the run (see :mod:`aether_nb.runtime.effects`). Search modes: ``lexical`` (BM25
over words), ``semantic`` (cosine over embeddings: a deterministic local hashed-n-gram embedder unless an embedding
function is configured), ``hybrid`` (the mean of both, each scaled to its best hit).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from aether_nb.errors import UsageError, shown
from aether_nb.runtime.checks import check_depth, check_no_secret, check_text
from aether_nb.runtime.codec import NotEncodable, decode, encode
from aether_nb.runtime.effects import ServiceCall
from aether_nb.store.records import MemoryRecord

if TYPE_CHECKING:
    from aether_nb.runtime.context import NodeContext

_WORD = re.compile(r"\w+", re.UNICODE)
EMBED_DIM = 384


@dataclass(frozen=True)
class MemoryEvent:
    """One remembered event (``data`` as it was recorded: tuples, dates, bytes... come back as themselves)."""

    id: str
    kind: str
    data: Any
    text: str
    tags: tuple[str, ...]
    created_at: float
    run_id: str | None
    role: str | None = None
    score: float | None = None

    @classmethod
    def from_record(cls, rec: MemoryRecord, score: float | None = None) -> MemoryEvent:
        return cls(
            rec.id, rec.kind, decode(rec.data), rec.text, tuple(rec.tags), rec.created_at, rec.run_id, rec.role, score
        )

    def to_json(self) -> dict[str, Any]:
        """The event as journaled (``data`` stays a Python value: the journal encodes it exactly)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MemoryEvent:
        return cls(**{**data, "tags": tuple(data.get("tags") or ())})


def tokens(text: str) -> list[str]:
    return [w.casefold() for w in _WORD.findall(text)]


def local_embed(text: str, dim: int = EMBED_DIM) -> list[float]:
    """A deterministic embedding from hashed words and character trigrams (no model, no download)."""
    vec = [0.0] * dim
    words = tokens(text)
    grams = words + [w[i : i + 3] for w in words for i in range(max(1, len(w) - 2))]
    for g in grams:
        h = hashlib.blake2b(g.encode("utf-8", "replace"), digest_size=8).digest()
        idx = int.from_bytes(h[:4], "little") % dim
        vec[idx] += 1.0 if h[4] & 1 else -1.0
    norm = math.hypot(*vec) or 1.0
    return [v / norm for v in vec]


def searchable(text: str) -> str:
    """The search text of an event: lone surrogates and NUL characters (which the store cannot keep as text) are
    replaced by U+FFFD; the event's ``data`` keeps the exact value."""
    if text.isascii() and "\x00" not in text:
        return text
    return "".join("\ufffd" if ch == "\x00" or "\ud800" <= ch <= "\udfff" else ch for ch in text)


def _bm25(query: list[str], docs: list[list[str]], k1: float = 1.5, b: float = 0.75) -> list[float]:
    n = len(docs)
    avg = sum(len(d) for d in docs) / n if n else 0.0
    df: Counter[str] = Counter()
    for d in docs:
        df.update(set(d))
    scores = []
    for d in docs:
        tf = Counter(d)
        s = 0.0
        for q in set(query):
            if q not in tf:
                continue
            idf = math.log(1 + (n - df[q] + 0.5) / (df[q] + 0.5))
            s += idf * tf[q] * (k1 + 1) / (tf[q] + k1 * (1 - b + b * len(d) / (avg or 1)))
        scores.append(s)
    return scores


def _events(value: list[MemoryEvent]) -> list[dict[str, Any]]:
    return [e.to_json() for e in value]


def _from_events(value: list[dict[str, Any]]) -> list[MemoryEvent]:
    return [MemoryEvent.from_json(e) for e in value]


def _kinds(kinds: Sequence[str] | None) -> list[str] | None:
    if kinds is None:
        return None
    if isinstance(kinds, (str, bytes, bytearray)) or not isinstance(kinds, Sequence):
        raise UsageError(f"kinds must be a list of kind names, got {shown(kinds)}")
    return [check_text(k, "a memory kind") for k in kinds] or None


class Memory:
    """Memory service over the session's store. Every call is a journaled step of the run: a resumed run does not
    record twice, and a read returns what it returned the first time.

    Args:
        context: the node using it.
        scope: the store scope (``notebook`` or ``run:<id>``).
        embed: the embedding function for semantic search (default: a deterministic local one).
    """

    def __init__(self, context: NodeContext, scope: str, embed: Callable[[str], list[float]] | None = None) -> None:
        self._ctx = context
        self._scope = scope
        self._embed = embed or local_embed

    def _call(self, method: str, inputs: Any, body: Any, **kw: Any) -> ServiceCall:
        return ServiceCall(self._ctx.scope, "memory", method, inputs, body, **kw)

    def record(
        self,
        kind: str,
        data: Any = None,
        *,
        tags: Sequence[str] | None = None,
        text: str | None = None,
        role: str | None = None,
    ) -> Awaitable[MemoryEvent]:
        """Remember an event of ``kind`` with ``data``; ``text`` (default: derived from data) is what search sees."""
        check_no_secret(check_text(kind, "a memory kind"), "a memory kind")
        if tags is not None and (isinstance(tags, (str, bytes, bytearray)) or not isinstance(tags, Sequence)):
            raise UsageError(f"tags must be a list of strings, got {shown(tags)}")
        tag_list = tuple(check_no_secret(check_text(t, "a memory tag"), "a memory tag") for t in tags or ())
        if role is not None:
            check_no_secret(check_text(role, "a memory role"), "a memory role")  # (stored as is, as the kind)
        if text is not None and not isinstance(text, str):
            raise UsageError(f"text must be a string, got {type(text).__name__}")
        check_depth(data, "memory.record data")
        try:
            encoded = encode(data)
        except NotEncodable as exc:
            raise UsageError(f"memory.record: {exc}", code="not_storable") from exc
        if text is None:
            text = data.get("text", "") if isinstance(data, dict) and isinstance(data.get("text"), str) else ""
            text = text or (data if isinstance(data, str) else json.dumps(encoded, ensure_ascii=False))
        search_text = searchable(text)
        ctx, scope, embed = self._ctx, self._scope, self._embed

        def body(store: Any) -> MemoryEvent:
            rec = MemoryRecord(
                id=f"mem-{secrets.token_hex(6)}",
                scope=scope,
                kind=kind,
                data=encoded,
                text=search_text,
                tags=tag_list,
                created_at=ctx.session.clock.now(),
                run_id=ctx.run_id,
                node_id=ctx.node_id,
                role=role,
                embedding=tuple(embed(search_text)),
            )
            store.memory_append(rec)
            return MemoryEvent.from_record(rec)

        def rebuild(j: dict[str, Any]) -> MemoryEvent:
            return MemoryEvent(j["id"], kind, decode(encoded), search_text, tag_list, j["created_at"], ctx.run_id, role)

        inputs = {"kind": kind, "data": data, "tags": list(tag_list), "text": text, "role": role}
        return self._call(
            "record", inputs, body, to_journal=lambda e: {"id": e.id, "created_at": e.created_at}, rebuild=rebuild
        )

    def recent(self, *, kinds: Sequence[str] | None = None, limit: int = 10) -> Awaitable[list[MemoryEvent]]:
        """The newest events, optionally of some kinds only."""
        _check_limit(limit)
        kind_list = _kinds(kinds)
        scope = self._scope

        def body(store: Any) -> list[MemoryEvent]:
            return [MemoryEvent.from_record(r) for r in store.memory_query(scope, kinds=kind_list, limit=limit)]

        inputs = {"kinds": kind_list, "limit": limit}
        return self._call("recent", inputs, body, to_journal=_events, rebuild=_from_events)

    # -- AetherGraph's names (its users' code runs unchanged) --------------------------------------------------------
    def append_event(
        self,
        *,
        kind: str,
        data: Any = None,
        tags: Sequence[str] | None = None,
        text: str | None = None,
        **more: Any,
    ) -> Awaitable[MemoryEvent]:
        """AetherGraph's write, as :meth:`record`. Its other fields (``severity``, ``stage``, ``signal``...) have
        no column here: refused by name rather than dropped."""
        if more:
            raise UsageError(
                f"memory.append_event: {sorted(more)} are AetherGraph event fields aether_nb does not keep; put them "
                "in data (e.g. data={'severity': 2, ...}) or leave them out",
                code="bad_arguments",
            )
        return self.record(kind, data, tags=tags, text=text)

    def recent_events(
        self, *, kinds: Sequence[str] | None = None, limit: int = 10, tags: Sequence[str] | None = None
    ) -> Awaitable[list[MemoryEvent]]:
        """AetherGraph's name for :meth:`recent` (newest first); filtering by ``tags`` is not supported here."""
        if tags:
            raise UsageError("memory.recent_events(tags=...) is not supported; filter the events' tags yourself")
        return self.recent(kinds=kinds, limit=limit)

    def recent_chat(self, *, limit: int = 20) -> Awaitable[list[MemoryEvent]]:
        """The newest chat turns (what the agent said and what it was told), newest first."""
        _check_limit(limit)
        scope = self._scope

        def body(store: Any) -> list[MemoryEvent]:
            return [MemoryEvent.from_record(r) for r in store.memory_query(scope, kinds=["chat"], limit=limit)]

        return self._call("recent_chat", {"limit": limit}, body, to_journal=_events, rebuild=_from_events)

    def distill_summary(
        self, *, kinds: Sequence[str] | None = None, limit: int = 50, max_sentences: int = 5
    ) -> Awaitable[MemoryEvent]:
        """Summarise the latest ``limit`` events (extractively, no LLM) and remember it as a ``summary`` event."""
        _check_limit(limit)
        _check_limit(max_sentences)
        kind_list = _kinds(kinds)
        ctx, scope, embed = self._ctx, self._scope, self._embed

        def body(store: Any) -> MemoryEvent:
            rows = store.memory_query(scope, kinds=kind_list, limit=limit)
            rows = [r for r in rows if r.kind != "summary"][::-1]
            text = searchable(extractive_summary([r.text for r in rows], max_sentences))
            data = {
                "text": text,
                "events": len(rows),
                "from": rows[0].created_at if rows else None,
                "to": rows[-1].created_at if rows else None,
            }
            rec = MemoryRecord(
                id=f"mem-{secrets.token_hex(6)}",
                scope=scope,
                kind="summary",
                data=data,
                text=text,
                tags=(),
                created_at=ctx.session.clock.now(),
                run_id=ctx.run_id,
                node_id=ctx.node_id,
                embedding=tuple(embed(text)),
            )
            store.memory_append(rec)
            return MemoryEvent.from_record(rec)

        inputs = {"kinds": kind_list, "limit": limit, "max_sentences": max_sentences}
        return self._call(
            "distill_summary", inputs, body, to_journal=MemoryEvent.to_json, rebuild=MemoryEvent.from_json
        )

    def search(
        self, query: str, *, limit: int = 5, mode: str = "hybrid", kinds: Sequence[str] | None = None
    ) -> Awaitable[list[MemoryEvent]]:
        """Events ranked by relevance to ``query`` (``lexical``, ``semantic`` or ``hybrid``)."""
        if not isinstance(query, str) or not query.strip():
            raise UsageError("search needs a non-empty query string")
        if mode not in ("lexical", "semantic", "hybrid"):
            raise UsageError(f"mode must be 'lexical', 'semantic' or 'hybrid', got {shown(mode)}")
        _check_limit(limit)
        kind_list = _kinds(kinds)
        scope, embed = self._scope, self._embed
        query_text = searchable(query)

        def body(store: Any) -> list[MemoryEvent]:
            scores: dict[str, float] = {}
            records: dict[str, MemoryRecord] = {}
            if mode in ("semantic", "hybrid"):
                # the store ranks by cosine (DuckDB: list_cosine_similarity over every embedded event)
                hits = store.memory_search(scope, embed(query_text), kinds=kind_list, limit=max(limit, 50))
                top = max((max(0.0, sc) for _, sc in hits), default=0.0) or 1.0
                for rec, sc in hits:
                    records[rec.id] = rec
                    scores[rec.id] = max(0.0, sc) / top
            if mode in ("lexical", "hybrid"):
                rows = store.memory_query(scope, kinds=kind_list)
                lex = _bm25(tokens(query_text), [tokens(r.text) for r in rows])
                top = max(lex, default=0.0) or 1.0
                for rec, sc in zip(rows, lex, strict=True):
                    if sc > 0:
                        records[rec.id] = rec
                        scores[rec.id] = scores.get(rec.id, 0.0) + sc / top
            order = {rid: i for i, rid in enumerate(records)}
            ranked = sorted(scores.items(), key=lambda t: (-t[1], order[t[0]]))
            return [MemoryEvent.from_record(records[rid], score=sc) for rid, sc in ranked[:limit] if sc > 0]

        inputs = {"query": query, "limit": limit, "mode": mode, "kinds": kind_list}
        return self._call("search", inputs, body, to_journal=_events, rebuild=_from_events)


_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "has",
        "have",
        "i",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "were",
        "will",
        "with",
        "you",
        "your",
        "we",
        "our",
        "they",
        "their",
        "he",
        "she",
        "his",
        "her",
        "not",
        "no",
        "yes",
        "do",
        "did",
        "done",
        "can",
        "could",
        "would",
        "should",
    ]
)


def extractive_summary(texts: Sequence[str], max_sentences: int) -> str:
    """The ``max_sentences`` most central sentences of ``texts``, in their original order (no model needed).

    A sentence scores the mean corpus frequency of its content words, so sentences about what recurs win.
    """
    sentences = [s.strip() for t in texts for s in _SENTENCE.split(t) if len(s.strip()) > 3]
    if not sentences:
        return ""
    freq = Counter(w for s in sentences for w in tokens(s) if w not in _STOP)
    top = max(freq.values(), default=1)

    def score(s: str) -> float:
        words = [w for w in tokens(s) if w not in _STOP]
        return sum(freq[w] / top for w in words) / (len(words) or 1) if words else 0.0

    unique = list(dict.fromkeys(sentences))
    best = sorted(range(len(unique)), key=lambda i: (-score(unique[i]), i))[:max_sentences]
    return " ".join(unique[i] for i in sorted(best))


def _check_limit(limit: Any) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        raise UsageError(f"limit must be a positive integer, got {shown(limit)}")
