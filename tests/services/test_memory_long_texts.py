"""``memory()`` over long texts (a fetched page, a document): recording and searching one lets the event loop go on
(the widget, other runs), the local embedding's work is bounded, and its vectors are the ones stored before."""

from __future__ import annotations

import asyncio
import hashlib
import math
from typing import Any

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.services.memory import EMBED_DIM, EMBED_MAX_CHARS, local_embed, tokens
from tests.conftest import arun

LONG = "lorem ipsum dolor sit amet " * 200_000  # ~5.4 MB


def per_occurrence_embed(text: str) -> list[float]:
    """The local embedding as first written (a hash per word and trigram occurrence): the vectors in stores."""
    vec = [0.0] * EMBED_DIM
    words = tokens(text)
    for g in words + [w[i : i + 3] for w in words for i in range(max(1, len(w) - 2))]:
        h = hashlib.blake2b(g.encode("utf-8", "replace"), digest_size=8).digest()
        vec[int.from_bytes(h[:4], "little") % EMBED_DIM] += 1.0 if h[4] & 1 else -1.0
    norm = math.hypot(*vec) or 1.0
    return [v / norm for v in vec]


def test_recording_and_searching_a_long_text_let_other_tasks_of_the_loop_run_meanwhile(session: Session) -> None:
    @ag.graph_fn(name="long_text")
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        ticks = 0
        started = asyncio.Event()

        async def ticker() -> None:  # another task of the kernel's loop (a widget's update, another run)
            nonlocal ticks
            started.set()
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        await asyncio.wait_for(started.wait(), 5)
        mem = context.memory()
        before = ticks
        await mem.record("doc", LONG)
        during_record = ticks - before
        before = ticks
        hits = await mem.search("ipsum", limit=3)
        during_search = ticks - before
        task.cancel()
        return {"record": during_record, "search": during_search, "hits": [h.kind for h in hits]}

    out = arun(agent(), timeout=120)
    assert out["hits"] == ["doc"]
    assert out["record"] > 1, "the loop stood still while the text was embedded"
    assert out["search"] > 1, "the loop stood still while the text was scored"


def test_the_local_embedding_reads_a_bounded_prefix_of_a_text() -> None:
    prefix = ("alpha beta gamma " * (EMBED_MAX_CHARS // 17 + 1))[:EMBED_MAX_CHARS]
    assert local_embed(prefix + " zebra quokka" * 1000) == local_embed(prefix)


def test_the_local_embedding_is_the_vector_stored_before() -> None:
    texts = [
        "",
        "Hello, World! a ab abc abcd",
        "Straße ǰx ÉCOLE ünïcode 東京タワー İstanbul ΣΑΣ",
        "the cat sat on the mat " * 3000 + "zebra",
    ]
    for text in texts:
        assert local_embed(text) == per_occurrence_embed(text)


def test_a_lexical_search_finds_a_word_past_the_embedded_prefix(session: Session) -> None:
    @ag.graph_fn(name="long_search")
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        mem = context.memory()
        await mem.record("doc", "filler words here " * (EMBED_MAX_CHARS // 18 + 10) + "xylophone")
        await mem.record("note", "a short note")
        return {"kinds": [e.kind for e in await mem.search("xylophone", mode="lexical")]}

    assert arun(agent(), timeout=120) == {"kinds": ["doc"]}
