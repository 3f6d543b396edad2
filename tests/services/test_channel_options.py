"""The channel's optional arguments (``alt=``, ``name=``, ``mime=``, ``multiple=``, a stream's ``full_text``) are
checked at the call, by type.

``send_image(alt=<a date>)`` was accepted; the image's chat message then could not be stored (the flush dropped it
with a StorageError) and the chat rebuilt later missed the image. A NumPy array failed on its truth value."""

from __future__ import annotations

import datetime
import decimal
import json
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import aether_nb as ag
from aether_nb.testing import ScriptedChannel
from tests.conftest import arun, default_session

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
ODD = [
    datetime.date(2024, 1, 2),
    b"x",
    {1},
    uuid.UUID(int=1),
    decimal.Decimal(1),
    1j,
    np.int64(3),
    np.array(["a", "b"]),
]

Call = Callable[[Any, Any], Coroutine[Any, Any, Any]]


async def _stream_end(ch: Any, v: Any) -> None:
    async with ch.stream() as s:
        await s.delta("hi")
        await s.end(v)


CALLS: dict[str, Call] = {
    "send_image(alt=)": lambda ch, v: ch.send_image(PNG, alt=v),
    "send_image(name=)": lambda ch, v: ch.send_image(PNG, name=v),
    "send_image(mime=)": lambda ch, v: ch.send_image(PNG, mime=v),
    "send_file(name=)": lambda ch, v: ch.send_file(b"x", name=v),
    "send_file(mime=)": lambda ch, v: ch.send_file(b"x", mime=v),
    "ask_files(multiple=)": lambda ch, v: ch.ask_files("files?", multiple=v),
    "stream.end()": _stream_end,
}


@pytest.mark.parametrize("call", list(CALLS))
def test_an_optional_argument_that_is_no_string_is_refused_at_the_call(call: str, tmp_path: Path) -> None:
    refused: list[str] = []

    @ag.graph_fn
    async def report(*, context: ag.NodeContext) -> dict[str, Any]:
        for v in ODD:
            try:
                await CALLS[call](context.channel(), v)
            except ag.UsageError as exc:
                refused.append(str(exc))
        await context.channel().send_image(PNG, alt="a chart")
        return {}

    with default_session():
        ag.configure(store=tmp_path / "s.duckdb", channel=ScriptedChannel())

        async def main() -> str:
            run = report.start()
            await run
            return run.id

        run_id = arun(main())
        ag.session().flush()  # (on the old code: a StorageError, the image's chat message dropped)
        rows = ag.store().sql(f"select data from events where run_id = '{run_id}'").rows
    alts = [json.loads(d)["content"].get("alt") for (d,) in rows if '"message_type":"image"' in d]
    assert len(refused) == len(ODD), refused
    assert all("takes" in r or "must be" in r for r in refused)
    assert alts == ["a chart"]


def test_alt_text_may_be_empty_and_defaults_to_image(tmp_path: Path) -> None:
    channel = ScriptedChannel()

    @ag.graph_fn
    async def show(*, context: ag.NodeContext) -> None:
        await context.channel().send_image(PNG, alt="")
        await context.channel().send_image(PNG)

    with default_session():
        ag.configure(channel=channel)
        arun(show())
    assert [m.content["alt"] for m in channel.messages if m.type == "image"] == ["", "image"]
