"""The console adapter prints, and reads stdin only when it is an interactive terminal."""

from __future__ import annotations

import io
from typing import Any

import aether_nb as ag
from aether_nb.runtime import session as session_mod
from aether_nb.services import ConsoleChannel
from tests.conftest import arun, make_session


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@ag.graph_fn(outputs=["name", "ok"])
async def greet(*, context: ag.NodeContext) -> dict[str, Any]:
    ch = context.channel()
    await ch.send_text("hello")
    name = await ch.ask_text("Name?")
    ok, _ = await ch.ask_approval("Sure?")
    return {"name": name, "ok": ok}


def with_console(console: ConsoleChannel) -> Any:
    s, _ = make_session()
    s.config["channel"] = console
    return session_mod.set_default_session(s)


def test_reads_answers_from_an_interactive_terminal() -> None:
    out = io.StringIO()
    previous = with_console(ConsoleChannel(out=out, inp=FakeTTY("Ada\nmaybe\ny\n")))
    try:
        assert arun(greet()) == {"name": "Ada", "ok": True}
    finally:
        session_mod.set_default_session(previous)
    text = out.getvalue()
    assert "assistant: hello" in text and "? Name?" in text and "? Sure? ['Approve', 'Reject']" in text
    assert "not one of" in text  # "maybe" was refused and asked again


def test_never_reads_a_non_interactive_stdin() -> None:
    out = io.StringIO()
    inp = io.StringIO("Ada\n")  # not a TTY: must stay unread
    previous = with_console(ConsoleChannel(out=out, inp=inp))

    async def main() -> dict[str, Any]:
        run = greet.start()
        await run.wait_for("waiting")
        assert "await run.answer" in out.getvalue()
        await run.answer("Bo")
        await run.wait_for("waiting")
        await run.answer(False)
        return await run

    try:
        assert arun(main()) == {"name": "Bo", "ok": False}
    finally:
        session_mod.set_default_session(previous)
    assert inp.tell() == 0


@ag.graph_fn(outputs=["note"])
async def listen(*, context: ag.NodeContext) -> dict[str, Any]:
    return {"note": await context.channel().receive()}


def test_receive_reads_a_line_in_a_terminal_and_says_what_it_waits_for() -> None:
    out = io.StringIO()
    previous = with_console(ConsoleChannel(out=out, inp=FakeTTY("water the plants\n")))
    try:
        assert arun(listen()) == {"note": "water the plants"}
    finally:
        session_mod.set_default_session(previous)
    assert "? (write a message to the agent)" in out.getvalue()
    assert "user: water the plants" in out.getvalue()


@ag.graph_fn(outputs=["done"])
async def odd_text(*, context: ag.NodeContext) -> dict[str, Any]:
    await context.channel().send_text("smile " + b"\xf0\x9f".decode("utf-8", "surrogateescape"))
    return {"done": True}


def test_a_lone_surrogate_is_printed_as_its_escape_not_a_failed_run() -> None:
    """A terminal takes UTF-8: half an emoji (bytes decoded with surrogateescape) in a message is printed as its
    escape, and the run goes on."""
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8")
    previous = with_console(ConsoleChannel(out=out))
    try:
        assert arun(odd_text()) == {"done": True}
    finally:
        session_mod.set_default_session(previous)
    out.flush()
    assert raw.getvalue().decode("utf-8") == "assistant: smile \\udcf0\\udc9f\n"
