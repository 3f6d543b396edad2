"""``context.memory()``: an event log of notes and chat turns, with recency and search.

Every call is a journaled step of the run (see :mod:`aether_nb.runtime.effects`). Search modes: ``lexical`` (BM25
over words), ``semantic`` (cosine over embeddings: a deterministic local hashed-n-gram embedder unless an embedding
function is configured), ``hybrid`` (the mean of both, each scaled to its best hit).

Long texts (a fetched page, a document) do not stall the kernel: the local embedder hashes each distinct word and
trigram once, embeds at most the first :data:`EMBED_MAX_CHARS` characters, and runs on a worker thread for a text
over :data:`OFF_LOOP_CHARS` characters, as does the lexical scoring of a search over long texts. Why: it ran on the
event loop once per word occurrence (~1.4 s per MB), freezing the widget and every other run meanwhile.
"""

from __future__ import annotations

import asyncio
import hashlib
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
from aether_nb.store.values import json_dumps

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


EMBED_MAX_CHARS = 250_000
"""The local embedder embeds at most this many characters of a text (its first ones, ~100 pages): a bag of hashed
words and trigrams says what a text is about well before that, and the work stays bounded for any text (a hash per
distinct word or trigram: about a second at most, for text of that length with no word repeated such as CJK)."""
OFF_LOOP_CHARS = 65_536
"""Texts longer than this are embedded by the local embedder (and scored by a lexical search) on a worker thread."""


def tokens(text: str) -> list[str]:
    """The casefolded words of ``text`` (an ASCII text is lowered whole: the same words, found faster)."""
    if text.isascii():
        return _WORD.findall(text.lower())
    return [w.casefold() for w in _WORD.findall(text)]


_NON_WORD = re.compile(r"\W", re.UNICODE)
_CHUNK = 32_768


def word_counts(text: str) -> Counter[str]:
    """How often each of the :func:`tokens` of ``text`` occurs, counted a chunk of ~32 k characters (cut between
    words) at a time. Why: one regex scan of a long text holds the GIL throughout (~0.1 s per MB), which stalled the
    event loop even with the counting on a worker thread."""
    counts: Counter[str] = Counter()
    start = 0
    while start < len(text):
        cut = _NON_WORD.search(text, start + _CHUNK) if len(text) - start > _CHUNK else None
        end = cut.end() if cut else len(text)
        counts.update(tokens(text[start:end]))
        start = end
    return counts


def local_embed(text: str, dim: int = EMBED_DIM) -> list[float]:
    """A deterministic embedding from hashed words and character trigrams (no model, no download).

    Each distinct word and trigram is hashed once and added with its count: the very vector that hashing every
    occurrence gave (embeddings stored before stay comparable), without a hash per word of a long text. Only the
    first :data:`EMBED_MAX_CHARS` characters are embedded."""
    words = word_counts(text[:EMBED_MAX_CHARS])
    grams = Counter(words)
    for w, count in words.items():
        if len(w) <= 3:  # its one "trigram" is the word itself
            grams[w] += count
            continue
        for i in range(len(w) - 2):
            grams[w[i : i + 3]] += count
    vec = [0.0] * dim
    for g, count in grams.items():
        h = hashlib.blake2b(g.encode("utf-8", "replace"), digest_size=8).digest()
        vec[int.from_bytes(h[:4], "little") % dim] += count if h[4] & 1 else -count
    norm = math.hypot(*vec) or 1.0
    return [v / norm for v in vec]


async def _embedded(embed: Callable[[str], list[float]], text: str) -> tuple[float, ...]:
    """``embed(text)``; the local embedder's on a worker thread for a long text, so the event loop (the widget,
    other runs) goes on meanwhile. A configured embedder is called as it was given, on the loop."""
    if embed is local_embed and len(text) > OFF_LOOP_CHARS:
        return tuple(await asyncio.to_thread(local_embed, text))
    return tuple(embed(text))


def searchable(text: str) -> str:
    """The search text of an event: lone surrogates and NUL characters (which the store cannot keep as text) are
    replaced by U+FFFD; the event's ``data`` keeps the exact value."""
    if text.isascii() and "\x00" not in text:
        return text
    return "".join("\ufffd" if ch == "\x00" or "\ud800" <= ch <= "\udfff" else ch for ch in text)


def _bm25(query: list[str], texts: Sequence[str], k1: float = 1.5, b: float = 0.75) -> list[float]:
    """The BM25 score of each text for the ``query`` words (each text's words counted once)."""
    tfs = [word_counts(t) for t in texts]
    lengths = [sum(tf.values()) for tf in tfs]
    n = len(tfs)
    avg = sum(lengths) / n if n else 0.0
    wanted = set(query)
    df = {q: sum(1 for tf in tfs if q in tf) for q in wanted}
    scores = []
    for tf, length in zip(tfs, lengths, strict=True):
        s = 0.0
        for q in wanted:
            if q not in tf:
                continue
            idf = math.log(1 + (n - df[q] + 0.5) / (df[q] + 0.5))
            s += idf * tf[q] * (k1 + 1) / (tf[q] + k1 * (1 - b + b * length / (avg or 1)))
        scores.append(s)
    return scores


async def _lexical(query: str, texts: list[str]) -> list[float]:
    """:func:`_bm25` of ``texts``, on a worker thread when they are long (as :func:`_embedded`)."""
    if sum(len(t) for t in texts) > OFF_LOOP_CHARS:
        return await asyncio.to_thread(_bm25, tokens(query), texts)
    return _bm25(tokens(query), texts)


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
            text = text or (data if isinstance(data, str) else json_dumps(encoded, ensure_ascii=False))
        search_text = searchable(text)
        ctx, scope, embed = self._ctx, self._scope, self._embed

        async def body(store: Any) -> MemoryEvent:
            embedding = await _embedded(embed, search_text)
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
                embedding=embedding,
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

        async def body(store: Any) -> list[MemoryEvent]:
            scores: dict[str, float] = {}
            records: dict[str, MemoryRecord] = {}
            if mode in ("semantic", "hybrid"):
                # the store ranks by cosine (DuckDB: list_cosine_similarity over every embedded event)
                vector = list(await _embedded(embed, query_text))
                hits = store.memory_search(scope, vector, kinds=kind_list, limit=max(limit, 50))
                top = max((max(0.0, sc) for _, sc in hits), default=0.0) or 1.0
                for rec, sc in hits:
                    records[rec.id] = rec
                    scores[rec.id] = max(0.0, sc) / top
            if mode in ("lexical", "hybrid"):
                rows = store.memory_query(scope, kinds=kind_list)
                lex = await _lexical(query_text, [r.text for r in rows])
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
