"""What NodeContext hands out: channel, memory, kv, artifacts, logger (and llm, when configured).

:func:`install_builtin_services` puts their factories on a session; services reach the store and the clock
through the session of the context that asks for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aether_nb.errors import shown

if TYPE_CHECKING:
    from aether_nb.runtime.context import NodeContext
    from aether_nb.runtime.session import Session
    from aether_nb.runtime.waits import Wait
    from aether_nb.services.artifacts import Artifact, Artifacts
    from aether_nb.services.channel import (
        ApprovalResult,
        Channel,
        ChannelAdapter,
        ChoiceResult,
        FileRef,
        Message,
    )
    from aether_nb.services.console import ConsoleChannel
    from aether_nb.services.kv import KV
    from aether_nb.services.memory import Memory, MemoryEvent
    from aether_nb.store.records import WaitRecord

# The service classes are loaded on first use (PEP 562), like ``aether_nb``'s own names: ``import aether_nb``
# does not pay for the channel, memory, artifact and LLM modules (W6, import time).
_LAZY: dict[str, str] = {
    "KV": "aether_nb.services.kv",
    "ApprovalResult": "aether_nb.services.channel",
    "Artifact": "aether_nb.services.artifacts",
    "Artifacts": "aether_nb.services.artifacts",
    "Channel": "aether_nb.services.channel",
    "ChannelAdapter": "aether_nb.services.channel",
    "ChoiceResult": "aether_nb.services.channel",
    "ConsoleChannel": "aether_nb.services.console",
    "FileRef": "aether_nb.services.channel",
    "Memory": "aether_nb.services.memory",
    "MemoryEvent": "aether_nb.services.memory",
    "Message": "aether_nb.services.channel",
}


if not TYPE_CHECKING:  # type checkers see the imports above, and no catch-all __getattr__
    from aether_nb._lazy import lazy_getattr

    __getattr__ = lazy_getattr(globals(), _LAZY)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "KV",
    "ApprovalResult",
    "Artifact",
    "Artifacts",
    "Channel",
    "ChannelAdapter",
    "ChoiceResult",
    "ConsoleChannel",
    "FileRef",
    "Memory",
    "MemoryEvent",
    "Message",
    "install_builtin_services",
]


def install_builtin_services(session: Session, *, channel: ChannelAdapter | None = None) -> Session:
    """Wire the built-in services into ``session`` (the channel adapter defaults to the console)."""
    from aether_nb.services.artifacts import Artifacts
    from aether_nb.services.channel import Channel
    from aether_nb.services.console import ConsoleChannel
    from aether_nb.services.kv import KV, scope_key
    from aether_nb.services.llm import install_llm
    from aether_nb.services.logger import node_logger
    from aether_nb.services.memory import Memory

    session.config["channel"] = channel if channel is not None else session.config.get("channel", ConsoleChannel())

    def adapter() -> ChannelAdapter:
        result: ChannelAdapter = session.config["channel"]
        return result

    session.service_factories["channel"] = lambda ctx, key=None: Channel(ctx, adapter(), key)
    session.service_factories["kv"] = lambda ctx, scope="notebook": KV(ctx, scope_key(scope, ctx.run_id))
    # semantic search embeds with session.config["embed"] when one is configured (the LLM service sets it),
    # else with the deterministic local embedder
    session.service_factories["memory"] = lambda ctx, scope="notebook": Memory(
        ctx, scope_key(scope, ctx.run_id), embed=ctx.session.config.get("embed")
    )
    session.service_factories["artifacts"] = Artifacts
    session.service_factories["logger"] = node_logger
    install_llm(session)  # context.llm(profile=None); openai is imported on the first call

    def presenter(ctx: NodeContext) -> Any:
        async def present(wait: Wait) -> None:
            await adapter().present(wait, lambda payload: session.answer(wait.token, payload))

        return present

    session.wait_presenter = presenter
    session.answer_hooks["files"] = lambda rec, payload: _files_answer(session, rec, payload)
    return session


def _files_answer(session: Session, rec: WaitRecord, payload: Any) -> Any:
    """Turn paths / ``(name, bytes)`` pairs given as a files answer into stored artifacts (FileRef dicts)."""
    import pathlib

    from aether_nb.errors import InvalidAnswer, UsageError
    from aether_nb.services.artifacts import check_name, guess_mime, put_bytes
    from aether_nb.services.channel import FileRef, read_file

    if not isinstance(payload, (list, tuple)):
        payload = [payload]
    accept = [a.lower() for a in ((rec.meta or {}).get("accept") or [])]
    out: list[Any] = []
    for item in payload:
        if isinstance(item, FileRef):
            out.append(_fileref_dict(item))
            continue
        if isinstance(item, dict):
            out.append(item)
            continue
        if isinstance(item, (str, pathlib.Path)):
            try:
                name, data = read_file(item)
            except UsageError as exc:
                raise InvalidAnswer(f"answer to files wait {shown(rec.node_id)}: {exc}") from exc
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], (bytes, bytearray)):
            name, data = str(item[0]), bytes(item[1])
        else:
            raise InvalidAnswer(
                f"answer to files wait {shown(rec.node_id)}: give file paths or (name, bytes) pairs, got {shown(item)}"
            )
        mime = guess_mime(name)
        if accept and not any(name.lower().endswith(a) or _mime_match(mime, a) for a in accept):
            raise InvalidAnswer(f"answer to files wait {shown(rec.node_id)}: {name} is not one of {accept}")
        art = put_bytes(
            session.store,
            session.clock,
            data,
            name=check_name(name),
            mime=mime,
            kind="upload",
            labels=None,
            run_id=rec.run_id,
            node_id=rec.node_id,
        )
        out.append({"name": name, "size": art.size, "mime": art.mime, "artifact_uri": art.uri})
    if not (rec.meta or {}).get("multiple", True) and len(out) > 1:
        raise InvalidAnswer(f"answer to files wait {shown(rec.node_id)}: only one file is accepted")
    return out


def _fileref_dict(ref: FileRef) -> dict[str, Any]:
    return {"name": ref.name, "size": ref.size, "mime": ref.mime, "artifact_uri": ref.artifact_uri}


def _mime_match(mime: str, pattern: str) -> bool:
    if "/" not in pattern:
        return False
    major, _, minor = pattern.partition("/")
    m_major, _, m_minor = mime.partition("/")
    return major == m_major and minor in ("*", m_minor)
