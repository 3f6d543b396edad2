"""``context.memory()``: an event log of notes and chat turns, with recency and search.

Search modes: ``lexical`` (BM25 over words), ``semantic`` (cosine over embeddings: a deterministic local
hashed-n-gram embedder unless an embedding function is configured), ``hybrid`` (the mean of both, each scaled to
its best hit).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aether_nb.errors import UsageError
from aether_nb.runtime.clock import Clock
from aether_nb.runtime.codec import NotEncodable, encode
from aether_nb.store.protocol import Store
from aether_nb.store.records import MemoryRecord

_WORD = re.compile(r"\w+", re.UNICODE)
EMBED_DIM = 384


@dataclass(frozen=True)
class MemoryEvent:
    """One remembered event."""

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
        return cls(rec.id, rec.kind, rec.data, rec.text, rec.tags, rec.created_at, rec.run_id, rec.role, score)


def tokens(text: str) -> list[str]:
    return [w.casefold() for w in _WORD.findall(text)]


def local_embed(text: str, dim: int = EMBED_DIM) -> list[float]:
    """A deterministic embedding from hashed words and character trigrams (no model, no download)."""
    vec = [0.0] * dim
    words = tokens(text)
    grams = words + [w[i : i + 3] for w in words for i in range(max(1, len(w) - 2))]
    for g in grams:
        h = hashlib.blake2b(g.encode(), digest_size=8).digest()
        idx = int.from_bytes(h[:4], "little") % dim
        vec[idx] += 1.0 if h[4] & 1 else -1.0
    norm = math.hypot(*vec) or 1.0
    return [v / norm for v in vec]


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


class Memory:
    """Memory service over the session's store."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        scope: str,
        run_id: str | None,
        node_id: str | None,
        embed: Callable[[str], list[float]] | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._scope = scope
        self._run_id = run_id
        self._node_id = node_id
        self._embed = embed or local_embed

    async def record(
        self,
        kind: str,
        data: Any = None,
        *,
        tags: Sequence[str] | None = None,
        text: str | None = None,
        role: str | None = None,
    ) -> MemoryEvent:
        """Remember an event of ``kind`` with ``data``; ``text`` (default: derived from data) is what search sees."""
        if not isinstance(kind, str) or not kind:
            raise UsageError(f"kind must be a non-empty string, got {kind!r}")
        if tags is not None and (isinstance(tags, str) or not all(isinstance(t, str) for t in tags)):
            raise UsageError(f"tags must be a list of strings, got {tags!r}")
        try:
            encoded = encode(data)
        except NotEncodable as exc:
            raise UsageError(f"memory.record: {exc}", code="not_storable") from exc
        if text is None:
            text = data.get("text", "") if isinstance(data, dict) and isinstance(data.get("text"), str) else ""
            text = text or (data if isinstance(data, str) else json.dumps(encoded, ensure_ascii=False))
        rec = MemoryRecord(
            id=f"mem-{secrets.token_hex(6)}",
            scope=self._scope,
            kind=kind,
            data=encoded,
            text=text,
            tags=tuple(tags or ()),
            created_at=self._clock.now(),
            run_id=self._run_id,
            node_id=self._node_id,
            role=role,
            embedding=tuple(self._embed(text)),
        )
        self._store.memory_append(rec)
        return MemoryEvent.from_record(rec)

    async def recent(self, *, kinds: Sequence[str] | None = None, limit: int = 10) -> list[MemoryEvent]:
        """The newest events, optionally of some kinds only."""
        _check_limit(limit)
        rows = self._store.memory_query(self._scope, kinds=list(kinds) if kinds else None, limit=limit)
        return [MemoryEvent.from_record(r) for r in rows]

    async def recent_chat(self, *, limit: int = 20) -> list[MemoryEvent]:
        """The newest chat turns (what the agent said and what it was told), newest first."""
        return await self.recent(kinds=["chat"], limit=limit)

    async def distill_summary(
        self, *, kinds: Sequence[str] | None = None, limit: int = 50, max_sentences: int = 5
    ) -> MemoryEvent:
        """Summarise the latest ``limit`` events (extractively, no LLM) and remember it as a ``summary`` event."""
        _check_limit(limit)
        _check_limit(max_sentences)
        rows = self._store.memory_query(self._scope, kinds=list(kinds) if kinds else None, limit=limit)
        rows = [r for r in rows if r.kind != "summary"][::-1]
        text = extractive_summary([r.text for r in rows], max_sentences)
        data = {
            "text": text,
            "events": len(rows),
            "from": rows[0].created_at if rows else None,
            "to": rows[-1].created_at if rows else None,
        }
        return await self.record("summary", data, text=text)

    async def search(
        self, query: str, *, limit: int = 5, mode: str = "hybrid", kinds: Sequence[str] | None = None
    ) -> list[MemoryEvent]:
        """Events ranked by relevance to ``query`` (``lexical``, ``semantic`` or ``hybrid``)."""
        if not isinstance(query, str) or not query.strip():
            raise UsageError("search needs a non-empty query string")
        if mode not in ("lexical", "semantic", "hybrid"):
            raise UsageError(f"mode must be 'lexical', 'semantic' or 'hybrid', got {mode!r}")
        _check_limit(limit)
        kind_list = list(kinds) if kinds else None
        scores: dict[str, float] = {}
        records: dict[str, MemoryRecord] = {}
        if mode in ("semantic", "hybrid"):
            # the store ranks by cosine (DuckDB: list_cosine_similarity over every embedded event)
            hits = self._store.memory_search(self._scope, self._embed(query), kinds=kind_list, limit=max(limit, 50))
            top = max((max(0.0, sc) for _, sc in hits), default=0.0) or 1.0
            for rec, sc in hits:
                records[rec.id] = rec
                scores[rec.id] = max(0.0, sc) / top
        if mode in ("lexical", "hybrid"):
            rows = self._store.memory_query(self._scope, kinds=kind_list)
            lex = _bm25(tokens(query), [tokens(r.text) for r in rows])
            top = max(lex, default=0.0) or 1.0
            for rec, sc in zip(rows, lex, strict=True):
                if sc > 0:
                    records[rec.id] = rec
                    scores[rec.id] = scores.get(rec.id, 0.0) + sc / top
        order = {rid: i for i, rid in enumerate(records)}
        ranked = sorted(scores.items(), key=lambda t: (-t[1], order[t[0]]))
        return [MemoryEvent.from_record(records[rid], score=sc) for rid, sc in ranked[:limit] if sc > 0]


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
        raise UsageError(f"limit must be a positive integer, got {limit!r}")
