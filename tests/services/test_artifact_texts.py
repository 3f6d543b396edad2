"""Text artifacts in any encoding, and text files ``mimetypes`` does not know, are redacted before they are stored
(a scratch tester's findings, the twenty-sixth session): a log with one Latin-1 byte, a UTF-16 file, a
``config.yaml``, an ``.env`` file were stored as they were, keys in clear."""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.services.artifacts import guess_mime, redact_blob
from tests.conftest import arun

KEY = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6"


@pytest.mark.parametrize(
    ("before", "after", "encoding", "bom", "mime"),
    [
        ("caf\xe9 started, key ", "\n", "latin-1", b"", "text/plain"),
        ("caf\xe9 key ", "", "latin-1", b"", "text/plain; charset=latin-1"),
        ("key ", " \xfcn\xefcode", "utf-16-le", codecs.BOM_UTF16_LE, "text/plain"),
        ("key ", "", "utf-16-be", codecs.BOM_UTF16_BE, "text/csv"),
        ("key ", " \xa3", "cp1252", b"", 'TEXT/PLAIN; Charset="cp1252"'),
        ("ключ ", "", "utf-8", b"", "text/plain"),
    ],
)
def test_a_text_artifact_in_any_encoding_is_redacted_and_keeps_its_other_bytes(
    before: str, after: str, encoding: str, bom: bytes, mime: str
) -> None:
    data = bom + f"{before}{KEY}{after}".encode(encoding)
    assert redact_blob(data, mime) == bom + f"{before}[REDACTED]{after}".encode(encoding)


def test_text_that_holds_no_secret_is_kept_byte_for_byte() -> None:
    data = "résumé, naïve, 東京".encode("utf-16")
    assert redact_blob(data, "text/plain") is data


@pytest.mark.parametrize(
    ("name", "mime"),
    [
        ("config.yaml", "application/yaml"),
        ("deploy.YML", "application/yaml"),
        ("pyproject.toml", "application/toml"),
        ("app.env", "text/plain"),
        (".env", "text/plain"),
        ("run.log", "text/plain"),
        ("setup.cfg", "text/plain"),
        ("photo.png", "image/png"),
        ("blob", "application/octet-stream"),
    ],
)
def test_a_files_mime_is_guessed_from_its_name_text_files_included(name: str, mime: str) -> None:
    assert guess_mime(name) == mime


def test_a_yaml_and_an_env_file_saved_from_disk_reach_the_store_redacted(session: Session, tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(f"openai_key: {KEY}\n")
    (tmp_path / "app.env").write_text(f"OPENAI_API_KEY={KEY}\n")
    (tmp_path / "run.log").write_bytes(f"caf\xe9 key={KEY}\n".encode("latin-1"))

    @ag.graph_fn(name="saves_configs", outputs=["saved"])
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        arts = context.artifacts()
        saved = []
        for name in ("config.yaml", "app.env", "run.log"):
            art = await arts.save_file(str(tmp_path / name))
            saved.append((art.mime, await arts.load_bytes(art.uri)))
        return {"saved": saved}

    saved = arun(agent())["saved"]
    assert [mime for mime, _ in saved] == ["application/yaml", "text/plain", "text/plain"]
    for _, data in saved:
        assert KEY.encode() not in data
        assert b"[REDACTED]" in data


def test_save_json_of_a_lone_surrogate_writes_json_that_reads_back_and_is_redacted(session: Session) -> None:
    """A file name read with ``surrogateescape`` was written as bytes that are not UTF-8: the key beside it was
    stored in clear (redaction reads UTF-8), and no JSON reader took the file."""
    value = {"file": "r\udce9port.csv", "config": f"OPENAI_API_KEY={KEY}"}

    @ag.graph_fn(name="saves_json", outputs=["raw", "back"])
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        art = await context.artifacts().save_json(value, name="a.json")
        return {
            "raw": await context.artifacts().load_bytes(art.uri),
            "back": await context.artifacts().load_json(art.uri),
        }

    out = arun(agent())
    assert KEY.encode() not in out["raw"]
    out["raw"].decode("utf-8")  # valid UTF-8 (ASCII, with escapes)
    assert out["back"] == {"file": "r\udce9port.csv", "config": "OPENAI_API_KEY=[REDACTED]"}


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), [1.0, float("-inf")]])
def test_save_json_of_nan_or_an_infinity_is_a_usage_error(session: Session, bad: Any) -> None:
    @ag.graph_fn(name="saves_nan")
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        await context.artifacts().save_json({"x": bad})
        return {}

    with pytest.raises(ag.RunFailed, match="NaN or an infinity"):
        arun(agent())
