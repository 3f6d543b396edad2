"""The chat channel: what an agent says (text, markdown, images, files, streams, progress) and asks.

One :class:`Channel` per node, over one :class:`ChannelAdapter` per session (console, scripted, or the notebook
widget). Every message is an event on the run (so the widget and the store see it), a chat turn in memory, and a
journaled step: a resumed run does not say things twice. Every ask is a runtime wait (own token, persisted first,
deadline, validation), presented by the adapter, which may answer inline.

The user can also write first: :meth:`Channel.receive` returns the next message typed in the widget's message box
(or given to :func:`post_message`). A message is a durable answer like any other: one sent while the agent is in
``receive()`` answers that wait; one sent at any other time waits in the run's *inbox* (the store's KV, scope
``inbox:<run_id>``) until the agent next calls ``receive()``, in this process or after a restart. Taking a message
out of the inbox and answering the wait with it are written in one transaction (one claim of the answer, see
:func:`aether_nb.runtime.answering.give`), so a message is read once, even by a process killed right after.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import pathlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aether_nb.errors import UsageError, shown
from aether_nb.runtime.codec import fingerprint
from aether_nb.runtime.context import NodeContext
from aether_nb.runtime.events import ChannelMessage
from aether_nb.runtime.execution import Scope
from aether_nb.runtime.kept_answers import withdrawn_if_moving
from aether_nb.runtime.waits import Wait, WaitSpec, positive_seconds
from aether_nb.services.artifact_text import guess_mime, image_name, sniff_image
from aether_nb.services.inbox import INBOX_SCOPE as INBOX_SCOPE  # (the inbox's names, re-exported where callers
from aether_nb.services.inbox import post_message as post_message  # found them before the inbox had a module)
from aether_nb.services.inbox import queued_messages as queued_messages
from aether_nb.services.inbox import take_queued

Respond = Callable[[Any], object]


@dataclass(frozen=True)
class Message:
    """A chat message as adapters receive it (``update`` repeats a bubble's id with new content)."""

    run_id: str
    node_id: str | None
    message_id: str
    type: str
    role: str
    content: dict[str, Any]
    update: bool = False
    final: bool = True

    @property
    def text(self) -> str:
        return str(self.content.get("text", ""))


class ChannelAdapter(Protocol):
    """Where a session's chat goes: the console, a script of answers, or the notebook widget."""

    def deliver(self, message: Message) -> None:
        """Show (or record) a message. Called on the loop; must not block."""

    async def present(self, wait: Wait, respond: Respond) -> None:
        """Show a question. Call ``respond(payload)`` to answer it (now or later, from any thread)."""


@dataclass(frozen=True)
class ChoiceResult:
    """The answer to ``ask_choices``: the option chosen and its index."""

    choice: str
    index: int


@dataclass(frozen=True)
class ApprovalResult:
    """The answer to ``ask_approval``; unpacks as ``approved, choice = ...``."""

    approved: bool
    choice: str

    def __iter__(self) -> Any:
        return iter((self.approved, self.choice))

    def __bool__(self) -> bool:
        return self.approved


@dataclass(frozen=True)
class FileRef:
    """An uploaded file, stored as an artifact."""

    name: str
    size: int
    mime: str
    artifact_uri: str


def _check_prompt(prompt: Any) -> str:
    if not isinstance(prompt, str) or not prompt.strip():
        raise UsageError(f"a prompt must be a non-empty string, got {shown(prompt)}")
    return prompt


def _check_option(value: Any, option: str, *, empty: bool = False) -> str | None:
    """An optional string argument (``name=``, ``mime=``, ``alt=``...): None, or a string (a non-empty one unless
    ``empty``). Checked at the call, by type before any truth test: an object that is no string (a date, a NumPy
    array) either broke the call with a bare error or was published, and its chat message dropped from the store."""
    if value is None or (isinstance(value, str) and (empty or value)):
        return value
    raise UsageError(
        f"{option}= takes a {'' if empty else 'non-empty '}string, got {shown(value, 80)}: pass str(...) of it, or "
        "leave it out",
        code="bad_argument",
    )


def _check_timeout(timeout_s: Any) -> float | None:
    if timeout_s is None:
        return None
    seconds = positive_seconds(timeout_s)
    if seconds is None:
        raise UsageError(f"timeout_s must be a positive number of seconds or None, got {shown(timeout_s)}")
    return seconds


class Channel:
    """``context.channel()``: talk to the person running the notebook."""

    def __init__(self, context: NodeContext, adapter: ChannelAdapter, key: str | None = None) -> None:
        self._ctx = context
        self._adapter = adapter
        self.key = key or "notebook"

    @property
    def adapter(self) -> ChannelAdapter:
        """Where this channel's messages go (the console, a script, the notebook widget)."""
        return self._adapter

    @property
    def _scope(self) -> Scope:
        return self._ctx.scope

    # -- saying things -------------------------------------------------------------------------------------------------
    def _publish(
        self,
        message_id: str,
        mtype: str,
        content: dict[str, Any],
        *,
        role: str = "assistant",
        update: bool = False,
        final: bool = True,
    ) -> None:
        run = self._ctx.run
        run.emit(
            ChannelMessage,
            node_id=self._ctx.node_id,
            message_id=message_id,
            message_type=mtype,
            role=role,
            content=content,
            update=update,
            final=final,
        )
        self._adapter.deliver(
            Message(run.id, self._ctx.node_id, message_id, mtype, role, content, update=update, final=final)
        )

    async def _say(self, name: str, mtype: str, content: dict[str, Any], *, role: str = "assistant") -> None:
        scope = self._scope
        key = scope.next_key(name)

        async def execute(_: Scope) -> None:
            self._publish(key, mtype, content, role=role)
            text = content.get("text") or content.get("alt") or content.get("name") or ""
            await self._remember(role, str(text), mtype)

        await scope.run_step(key, name, "send", content, execute, node=False)

    async def _remember(self, role: str, text: str, mtype: str) -> None:
        if "memory" not in self._ctx.session.service_factories:
            return
        await self._ctx.memory().record("chat", {"role": role, "text": text, "type": mtype}, text=text, role=role)

    async def send_text(self, text: str) -> None:
        """Say ``text`` (plain text) in the chat."""
        if not isinstance(text, str):
            raise UsageError(f"send_text takes a string, got {type(text).__name__}; use send_markdown or str()")
        await self._say("send_text", "text", {"text": text})

    async def send_markdown(self, text: str) -> None:
        """Say ``text`` rendered as markdown."""
        if not isinstance(text, str):
            raise UsageError(f"send_markdown takes a string, got {type(text).__name__}")
        await self._say("send_markdown", "markdown", {"text": text})

    async def _store_blob(
        self, data: bytes | str | pathlib.Path, name: str | None, mime: str | None, kind: str
    ) -> dict[str, Any]:
        name, mime = _check_option(name, "name"), _check_option(mime, "mime")
        if isinstance(data, (str, pathlib.Path)):
            file_name, blob = read_file(data)
            name = name or file_name
        elif isinstance(data, (bytes, bytearray)):
            blob = bytes(data)
        else:
            raise UsageError(f"expected bytes or a file path, got {type(data).__name__}")
        if mime is None and kind == "image":
            mime = _image_mime(blob, name)
        name = name or (image_name(mime) if kind == "image" and mime else "file.bin")
        mime = mime or guess_mime(name)
        art = await self._ctx.artifacts().save_bytes(blob, name=name, mime=mime, kind=kind)
        return {"artifact_uri": art.uri, "mime": art.mime, "name": name, "size": art.size}

    async def send_image(
        self,
        image: bytes | str | pathlib.Path,
        *,
        alt: str = "image",
        mime: str | None = None,
        name: str | None = None,
    ) -> None:
        """Show an image (PNG, JPEG, GIF, WebP, AVIF, BMP, ICO or SVG bytes, or a path), stored as an artifact
        first. Its type comes from ``mime=``, else from its bytes, else from its name (``name=`` or the file's)."""
        alt_text = _check_option(alt, "alt", empty=True)
        mime = _check_option(mime, "mime")
        content = await self._store_blob(image, name, mime, "image")
        content["alt"] = "image" if alt_text is None else alt_text
        await self._say("send_image", "image", content)

    async def send_file(
        self, file: bytes | str | pathlib.Path, *, name: str | None = None, mime: str | None = None
    ) -> None:
        """Offer a file for download; it is stored as an artifact first."""
        await self._say("send_file", "file", await self._store_blob(file, name, mime, "file"))

    @contextlib.asynccontextmanager
    async def stream(self) -> AsyncIterator[Stream]:
        """Stream tokens into one chat bubble: ``async with ch.stream() as s: await s.delta("tok")``."""
        scope = self._scope
        entry, key = scope.bind(scope.next_key("stream"), "stream", fingerprint(None), None)
        replayed = entry is not None
        s = Stream(self, key, replayed)
        if not replayed:
            self._publish(key, "stream", {"text": ""}, final=False)
        try:
            yield s
        except GeneratorExit:  # (never exited: collected, its loop may be gone; nothing to say)
            raise
        except BaseException:
            # the body failed or was stopped mid-stream (an interrupt, a dropped connection): the bubble ends where
            # its text did, saying so, instead of keeping a live cursor beside a run that is over
            if not replayed:
                self._publish(key, "stream", {"text": s.text, "stopped": True}, update=True, final=True)
            raise
        if replayed:
            return

        async def execute(_: Scope) -> str:
            self._publish(key, "stream", {"text": s.text}, update=True, final=True)
            await self._remember("assistant", s.text, "stream")
            return s.text

        await scope.run_step(key, "stream", "send", None, execute, node=False)

    @contextlib.asynccontextmanager
    async def progress(self, title: str, *, total: float | None = None) -> AsyncIterator[Progress]:
        """A progress bar: ``async with ch.progress("Indexing", total=100) as p: await p.update(inc=1)``."""
        _check_prompt(title)
        if total is not None and (
            isinstance(total, bool) or not isinstance(total, (int, float)) or not 0 < total < math.inf
        ):
            raise UsageError(f"total must be a positive, finite number or None, got {shown(total)}")
        scope = self._scope
        entry, key = scope.bind(scope.next_key("progress"), "progress", fingerprint(title), title)
        replayed = entry is not None
        p = Progress(self, key, title, total, replayed)
        if not replayed:
            p._publish(final=False)
        try:
            yield p
        except GeneratorExit:  # (never exited: collected, its loop may be gone; nothing to say)
            raise
        except BaseException:  # stopped or failed inside the block: the bar stops where it was, saying so
            if not replayed:
                p.stopped = True
                p._publish(final=True)
            raise
        if replayed:
            return

        async def execute(_: Scope) -> float:
            p.done = True
            p._publish(final=True)
            return p.current

        await scope.run_step(key, "progress", "send", title, execute, node=False)

    # -- asking --------------------------------------------------------------------------------------------------------
    async def _chat_turn(self, role: str, text: str, mtype: str, files: list[dict[str, Any]] | None = None) -> None:
        """A question or an answer as a chat bubble and a memory turn: a journaled step, so never said twice.

        Uploaded files travel as a ``files`` message (the widget shows them as chips with name and size).
        """
        scope = self._scope
        key = scope.next_key("chat_turn")

        async def execute(_: Scope) -> None:
            if files is not None:
                self._publish(key, "files", {"text": text, "turn": mtype, "files": files}, role=role)
            else:
                self._publish(key, "text", {"text": text, "turn": mtype}, role=role)
            await self._remember(role, text, mtype)

        await scope.run_step(key, "chat_turn", "send", [role, text], execute, node=False)

    async def _ask(self, name: str, spec: WaitSpec) -> Any:
        adapter = self._adapter
        session = self._ctx.session

        async def present(wait: Wait) -> None:
            await adapter.present(wait, lambda payload: session.answer(wait.token, payload))

        await self._chat_turn("assistant", spec.prompt or "", "question")
        value = await self._scope.wait(spec, name=name, present=present)
        if spec.kind == "files" and isinstance(value, list):
            files = [
                {k: f.get(k) for k in ("name", "size", "mime", "artifact_uri")} for f in value if isinstance(f, dict)
            ]
            await self._answer_turn(files_text(files), files)
            return value
        answer = value.get("choice", value) if isinstance(value, dict) else value
        await self._answer_turn(str(answer), None)
        return value

    async def _answer_turn(self, text: str, files: list[dict[str, Any]] | None) -> None:
        """The answer's chat turn. The answer is taken: a cancel that only moves the question elsewhere (an MCP
        call's reply came) is withdrawn here, as at the wait's own end (:mod:`aether_nb.runtime.kept_answers`), so
        the asking code gets the answer instead of the question being asked again under another call."""
        try:
            await self._chat_turn("user", text, "answer", files=files)
        except asyncio.CancelledError as cancel:
            if not withdrawn_if_moving(cancel):
                raise

    async def receive(self, *, timeout_s: float | None = None) -> str:
        """The next message the user writes to this run (the widget's message box, or :func:`post_message`).

        A message already waiting in the run's inbox is returned at once; otherwise the run waits (status
        "waiting") until one is written. Like every answer the message is journaled: a resumed run gets the same
        message at the same step, and never reads one twice.

        Raises:
            WaitTimeout: no message came within ``timeout_s`` seconds.
        """
        run = self._ctx.run
        session = self._ctx.session
        spec = WaitSpec(kind="human", prompt=None, timeout_s=_check_timeout(timeout_s), meta={"message": True})

        async def present(wait: Wait) -> None:
            current = session.store.get_wait(wait.token)
            if current is None or current.status != "open":
                return  # a message written while the wait was being stored answered it already
            # A queued message is taken out of the inbox in the answer's own write (one transaction, taken back with
            # it if that fails): removed in a later write, a process killed in between left the answer stored and
            # the message queued, and the resumed run read it twice (its last message never). A write that fails
            # is tried again (see take_queued).
            if take_queued(session, run.id, wait.token):
                return
            if current.deadline is not None and session.clock.now() >= current.deadline:
                return  # it timed out while the run was not executing: a WaitTimeout
            # Nothing written yet: the adapter may ask for it (the console reads a line; a script answers; the
            # notebook's message box needs nothing more).
            await self._adapter.present(wait, lambda payload: session.answer(wait.token, payload))

        value = await self._scope.wait(spec, name="receive", present=present)
        text = value if isinstance(value, str) else str(value)
        await self._chat_turn("user", text, "message")
        return text

    async def ask_text(self, prompt: str, *, timeout_s: float | None = None) -> str:
        """Ask for a line of text."""
        spec = WaitSpec(kind="text", prompt=_check_prompt(prompt), timeout_s=_check_timeout(timeout_s))
        value = await self._ask("ask_text", spec)
        assert isinstance(value, str)
        return value

    async def ask_choices(self, prompt: str, options: Sequence[str], *, timeout_s: float | None = None) -> ChoiceResult:
        """Ask to pick one of ``options``."""
        if isinstance(options, (str, bytes, bytearray)) or not isinstance(options, Sequence):
            raise UsageError(f"options must be a list of strings, got {shown(options)}")
        spec = WaitSpec(
            kind="choice",
            prompt=_check_prompt(prompt),
            options=list(options),
            timeout_s=_check_timeout(timeout_s),
        )
        value = await self._ask("ask_choices", spec)
        return ChoiceResult(choice=value["choice"], index=value["index"])

    async def ask_approval(
        self, prompt: str, options: Sequence[str] = ("Approve", "Reject"), *, timeout_s: float | None = None
    ) -> ApprovalResult:
        """Ask for approval; the first option approves. Unpacks as ``approved, choice``."""
        if isinstance(options, (str, bytes, bytearray)) or not isinstance(options, Sequence) or len(options) < 2:
            raise UsageError(f"options must be at least two strings (approve first), got {shown(options)}")
        spec = WaitSpec(
            kind="approval",
            prompt=_check_prompt(prompt),
            options=list(options),
            timeout_s=_check_timeout(timeout_s),
        )
        value = await self._ask("ask_approval", spec)
        return ApprovalResult(approved=value["approved"], choice=value["choice"])

    async def ask_files(
        self,
        prompt: str,
        *,
        accept: Sequence[str] | None = None,
        multiple: bool = True,
        timeout_s: float | None = None,
    ) -> list[FileRef]:
        """Ask for file uploads; they are stored as artifacts and returned as :class:`FileRef`."""
        if accept is not None and (
            not isinstance(accept, (list, tuple)) or not all(isinstance(a, str) and a for a in accept)
        ):
            raise UsageError(f"accept must be a list like ['.csv', 'image/*'], got {shown(accept)}")
        if not isinstance(multiple, bool):
            raise UsageError(f"multiple must be True or False, got {shown(multiple, 80)}")
        spec = WaitSpec(
            kind="files",
            prompt=_check_prompt(prompt),
            timeout_s=_check_timeout(timeout_s),
            meta={"accept": list(accept or []), "multiple": multiple},
        )
        value = await self._ask("ask_files", spec)
        return [FileRef(name=f["name"], size=f["size"], mime=f["mime"], artifact_uri=f["artifact_uri"]) for f in value]


def _image_mime(blob: bytes, name: str | None) -> str:
    """The type to show ``blob`` as: what its bytes are, else what its name says when that is an image type."""
    found = sniff_image(blob)
    if found is None and name:
        by_name = guess_mime(name)
        found = by_name if by_name.startswith("image/") else None
    if found is None:
        raise UsageError(
            f"send_image: {len(blob)} bytes{f' ({name})' if name else ''} that are no PNG, JPEG, GIF, WebP, AVIF, "
            "BMP, ICO or SVG image; pass their type (mime='image/...') for another format, or use send_file(...)",
            code="not_an_image",
        )
    return found


def read_file(path: str | pathlib.Path) -> tuple[str, bytes]:
    """The name and bytes of the file at ``path``, read for a message or a files answer.

    Raises:
        UsageError: ``path`` is no readable file: missing, a folder, no permission, or a name the file system
            refuses (a str that is not a path at all, say base64 data, is often too long a name).
    """
    p = pathlib.Path(path)
    try:
        if not p.is_file():
            raise UsageError(f"{shown(str(p))} is not a file; give the path of an existing file, or its bytes")
        return p.name, p.read_bytes()
    except OSError as exc:
        raise UsageError(
            f"cannot read {shown(str(p))} ({exc.strerror or type(exc).__name__}); give the path of a readable file, "
            "or its bytes"
        ) from exc


def files_text(files: Sequence[dict[str, Any]]) -> str:
    """``a.csv (1.2 kB), b.png (3 B)``: uploaded files as one line of text (transcript, memory, console)."""
    return ", ".join(f"{f.get('name')} ({format_size(f.get('size'))})" for f in files) or "(no files)"


def format_size(size: Any) -> str:
    """Bytes in the units the widget uses (``812 B``, ``1.2 kB``, ``3.4 MB``)."""
    if isinstance(size, bool) or not isinstance(size, (int, float)):
        return "?"
    if size < 1024:
        return f"{int(size)} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} kB"
    return f"{size / 1024 / 1024:.1f} MB"


@dataclass
class Stream:
    """A streaming bubble; ``text`` is everything sent so far."""

    channel: Channel
    message_id: str
    replayed: bool
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.parts)

    async def start(self) -> None:
        """AetherGraph's ``s.start()``: the bubble is open already (``async with ch.stream()`` opened it)."""

    async def end(self, full_text: str | None = None) -> None:
        """AetherGraph's ``s.end(full_text=...)``: the bubble's final text, when given (the block's end closes it)."""
        if full_text is not None and not isinstance(full_text, str):  # (before comparing: a NumPy array's == is one)
            raise UsageError(f"end takes the full text as a string, got {type(full_text).__name__}")
        if full_text is None or full_text == self.text:
            return
        self.parts[:] = [full_text]
        if not self.replayed:
            self.channel._publish(self.message_id, "stream", {"text": self.text}, update=True, final=False)

    async def delta(self, token: str) -> None:
        """Append ``token`` to the bubble."""
        if not isinstance(token, str):
            raise UsageError(f"delta takes a string, got {type(token).__name__}")
        self.parts.append(token)
        if not self.replayed:
            self.channel._publish(
                self.message_id, "stream", {"text": self.text, "delta": token}, update=True, final=False
            )


@dataclass
class Progress:
    """A progress bar bubble."""

    channel: Channel
    message_id: str
    title: str
    total: float | None
    replayed: bool
    current: float = 0.0
    subtitle: str | None = None
    done: bool = False
    stopped: bool = False
    """The block it belongs to ended with an exception (the run failed or was stopped) before it was done."""
    failed: bool = False
    """:meth:`end` said the work did not succeed: the bar shows stopped, not done, also once its block ends."""
    said_final: dict[str, Any] | None = field(default=None, repr=False)
    """What the bar last said as final (after :meth:`end`): the block's end does not say it twice."""

    def _publish(self, *, final: bool) -> None:
        content: dict[str, Any] = {
            "title": self.title,
            "current": self.current,
            "total": self.total,
            "subtitle": self.subtitle,
            "done": self.done and not self.failed,
        }
        if self.stopped or self.failed:
            content["stopped"] = True
        if final and content == self.said_final:
            return
        self.said_final = content if final else None
        self.channel._publish(self.message_id, "progress", content, update=self.current > 0 or final, final=final)

    async def update(
        self, *, current: float | None = None, inc: float | None = None, subtitle: str | None = None
    ) -> None:
        """Set the position (``current``) or advance it (``inc``)."""
        for name, value in (("current", current), ("inc", inc)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf
            ):
                raise UsageError(
                    f"progress.update({name}=...) takes a number, got {shown(value)}: use a finite one, 0 or more"
                )
        if subtitle is not None and not isinstance(subtitle, str):
            raise UsageError(f"progress.update(subtitle=...) takes a string, got {shown(subtitle)}")
        if current is not None:
            self.current = float(current)
        if inc is not None:
            self.current += float(inc)
        if subtitle is not None:
            self.subtitle = subtitle
        if not self.replayed:
            self._publish(final=False)

    async def end(self, *, subtitle: str | None = None, success: bool = True) -> None:
        """End the bar before its block does (AetherGraph's ``p.end(subtitle="Done.", success=True)``): done, or
        with ``success=False`` stopped where it is; ``subtitle`` replaces the line under it. Leaving the ``async
        with`` block ends it anyway (done), so this is only needed to say more, or to say it failed."""
        if subtitle is not None and not isinstance(subtitle, str):
            raise UsageError(f"progress.end(subtitle=...) takes a string, got {shown(subtitle)}")
        if not isinstance(success, bool):
            raise UsageError(f"progress.end(success=...) takes True or False, got {shown(success)}")
        if subtitle is not None:
            self.subtitle = subtitle
        self.done, self.failed = True, not success
        if not self.replayed:
            self._publish(final=True)
