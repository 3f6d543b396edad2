"""Artifacts of every kind a user saves or uploads: text whatever its MIME type or encoding is redacted, binary is
kept byte for byte, ordinary file names are accepted, a folder that cannot hold the file is a usage error.

The store tester's findings (the thirty-second session): an ``.ipynb``, ``.jsonl``, ``.sql``, shell script or PEM
key (typed ``application/...`` by ``mimetypes``) and UTF-16/UTF-32 text without a byte-order mark kept their keys
in clear; uploads named ``report (1).csv`` or ``données.csv`` were refused (the widget cannot rename a file);
``to_local_path`` under ``/proc`` or with a NUL raised bare ``FileNotFoundError`` / ``ValueError``.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.services.artifacts import redact_blob
from tests.conftest import arun

KEY = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6"


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("analysis.ipynb", '{"cells": [{"source": ["key = \\"%s\\""]}]}'),
        ("calls.jsonl", '{"auth": "%s"}\n{"auth": null}\n'),
        ("setup.sql", "-- OPENAI_API_KEY=%s\nSELECT 1;\n"),
        ("deploy.bash", "export OPENAI_API_KEY=%s\n"),
        ("prod.tfvars", 'api_key = "%s"\n'),
    ],
)
def test_a_text_file_of_a_non_text_type_is_stored_redacted(
    session: Session, tmp_path: Path, name: str, text: str
) -> None:
    (tmp_path / name).write_text(text % KEY)

    @ag.graph_fn(name="saves_kinds", outputs=["mime", "data"])
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        art = await context.artifacts().save_file(str(tmp_path / name))
        return {"mime": art.mime, "data": await context.artifacts().load_bytes(art.uri)}

    out = arun(agent())
    assert not out["mime"].startswith("text/")  # (the type mimetypes gives: the bytes decide)
    assert KEY.encode() not in out["data"] and b"[REDACTED]" in out["data"], out


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
@pytest.mark.parametrize("mime", ["text/plain", "application/octet-stream"])
def test_wide_text_without_a_byte_order_mark_is_redacted(encoding: str, mime: str) -> None:
    data = f"OPENAI_API_KEY={KEY}\nnext line\n".encode(encoding)
    assert redact_blob(data, mime) == "OPENAI_API_KEY=[REDACTED]\nnext line\n".encode(encoding)
    plain = "nothing secret here, only text\n".encode(encoding)
    assert redact_blob(plain, mime) is plain


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le"])
@pytest.mark.parametrize("first", ["# Настройки сервера\n", "# 設定ファイル\n", "# 🔑 keys\n"])
def test_wide_text_that_starts_in_another_script_is_redacted(encoding: str, first: str) -> None:
    # (UTF-16 without a mark was recognised only when nearly all of it was Latin: a Russian file kept its key)
    data = f"{first}OPENAI_API_KEY={KEY}\n".encode(encoding)
    assert redact_blob(data, "application/octet-stream") == f"{first}OPENAI_API_KEY=[REDACTED]\n".encode(encoding)


def test_latin1_text_of_a_non_text_type_is_redacted() -> None:
    data = f"-- caf\xe9 seed\nALTER USER app PASSWORD '{KEY}';\n".encode("latin-1")
    out = redact_blob(data, "application/sql")
    assert KEY.encode() not in out and out.startswith("-- caf\xe9 seed".encode("latin-1"))


def test_binary_bytes_are_kept_byte_for_byte() -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4 + KEY.encode()  # (not text: never rewritten)
    assert redact_blob(png, "image/png") is png
    assert redact_blob(png, "application/octet-stream") is png
    samples = bytes([7, 0] * 300)  # (int16 samples: zero high bytes, no key in them)
    assert redact_blob(samples, "application/octet-stream") is samples
    assert redact_blob(codecs.BOM_UTF8 + b"plain", "application/octet-stream") == codecs.BOM_UTF8 + b"plain"


@pytest.mark.parametrize(
    "name", ["report (1).csv", "données.csv", "Q3 results #2.xlsx", "O'Brien.csv", "東京.txt", "v1..2.csv"]
)
def test_an_upload_with_an_ordinary_file_name_is_accepted(session: Session, name: str) -> None:
    @ag.graph_fn(name="uploads", outputs=["names", "data"])
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        files = await context.channel().ask_files("Upload your data")
        data = await context.artifacts().load_bytes(files[0].artifact_uri)
        return {"names": [f.name for f in files], "data": data}

    async def main() -> Any:
        run = agent.start()
        await run.wait_for("waiting")
        await run.answer([(name, b"a,b\n1,2\n")])  # (what the widget's upload sends)
        return await run

    assert arun(main()) == {"names": [name], "data": b"a,b\n1,2\n"}


@pytest.mark.parametrize("bad", ["../x", "a/b", "a\\b", ".hidden", "-rf", " lead", "line\nbreak", "x" * 201])
def test_a_name_that_is_no_plain_file_name_is_still_refused(session: Session, bad: str) -> None:
    @ag.graph_fn(name="bad_names")
    async def agent(*, context: ag.NodeContext) -> None:
        with pytest.raises(ag.UsageError, match="not allowed: use a plain file name"):
            await context.artifacts().save_text("x", name=bad)

    arun(agent())


@pytest.mark.parametrize("directory", ["/proc/aether_nb_test", "/tmp/out\x00dir"])
def test_to_local_path_into_a_folder_that_cannot_exist_is_a_usage_error(session: Session, directory: str) -> None:
    @ag.graph_fn(name="bad_folder", outputs=["said"])
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        art = await context.artifacts().save_text("hello", name="h.txt")
        try:
            await context.artifacts().to_local_path(art.uri, directory=directory)
        except ag.UsageError as exc:
            return {"said": str(exc)}
        return {"said": None}

    said = arun(agent())["said"]
    assert said is not None and "folder" in said, said
