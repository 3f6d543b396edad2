"""``send_image`` shows an image under the type its bytes are.

SVG bytes sent without ``mime=`` were stored as ``image/png`` (the default for any bytes, even with
``name="chart.svg"``), and the chat, which shows an image as a ``data:`` URL of its stored type, drew a broken image:
a browser draws SVG only as ``image/svg+xml``. Bytes that are no image at all were accepted the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.services.artifact_text import sniff_image
from aether_nb.testing import ScriptedChannel
from tests.conftest import arun, default_session

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
GIF = b"GIF89a\x01\x00\x01\x00"
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 "
AVIF = b"\x00\x00\x00\x20ftypavif\x00\x00\x00\x00"
BMP = b"BM" + (30).to_bytes(4, "little") + bytes(24)
ICO = b"\x00\x00\x01\x00\x01\x00" + bytes(16)
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>'
SVG_XML = b'\xef\xbb\xbf<?xml version="1.0"?>\n<!-- made by a plot -->\n' + SVG


def _sent(*calls: tuple[Any, dict[str, Any]]) -> list[str]:
    """The stored type of each image the calls sent, in order."""
    channel = ScriptedChannel()

    @ag.graph_fn
    async def show(*, context: ag.NodeContext) -> None:
        for image, kw in calls:
            await context.channel().send_image(image, **kw)

    with default_session():
        ag.configure(channel=channel)
        arun(show())
    return [m.content["mime"] for m in channel.messages if m.type == "image"]


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (GIF, "image/gif"),
        (WEBP, "image/webp"),
        (AVIF, "image/avif"),
        (BMP, "image/bmp"),
        (ICO, "image/x-icon"),
        (b"BMW 320i, blue", None),
        (SVG, "image/svg+xml"),
        (SVG_XML, "image/svg+xml"),
        (b"  \n" + SVG, "image/svg+xml"),
        (b"hello, world", None),
        (b"<?xml version='1.0'?><html/>", None),
        (b"", None),
    ],
)
def test_sniff_image_names_what_the_bytes_are(data: bytes, mime: str | None) -> None:
    assert sniff_image(data) == mime


def test_image_bytes_are_stored_under_their_own_type() -> None:
    assert _sent((SVG, {}), (JPEG, {}), (PNG, {}), (SVG_XML, {"alt": "plot"})) == [
        "image/svg+xml",
        "image/jpeg",
        "image/png",
        "image/svg+xml",
    ]


def test_a_given_type_wins_and_a_name_types_bytes_that_say_nothing() -> None:
    odd = b"TIFF-ish bytes"
    assert _sent((SVG, {"mime": "image/svg+xml"}), (odd, {"mime": "image/tiff"}), (odd, {"name": "scan.tiff"})) == [
        "image/svg+xml",
        "image/tiff",
        "image/tiff",
    ]


def test_svg_bytes_named_svg_are_svg() -> None:
    """The case that broke: a chart saved as SVG and sent with its name (the default type was PNG)."""
    assert _sent((SVG, {"name": "chart.svg"})) == ["image/svg+xml"]


def test_a_file_is_typed_by_its_bytes(tmp_path: Path) -> None:
    plot = tmp_path / "plot"  # no suffix: its name says nothing
    plot.write_bytes(SVG)
    named = tmp_path / "chart.png"  # a JPEG saved under a PNG name
    named.write_bytes(JPEG)
    assert _sent((plot, {}), (str(named), {})) == ["image/svg+xml", "image/jpeg"]


@pytest.mark.parametrize("how", ["bytes", "named bytes", "a text file"])
def test_what_is_no_image_is_refused_with_what_to_do(how: str, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    image, kw = {
        "bytes": (b"hello, world", {}),
        "named bytes": (b"hello, world", {"name": "hello.txt"}),
        "a text file": (notes, {}),
    }[how]
    with pytest.raises(ag.RunFailed) as err:
        _sent((image, kw))
    cause = err.value.__cause__
    assert isinstance(cause, ag.UsageError) and cause.code == "not_an_image", repr(cause)
    assert "mime='image/...'" in str(cause) and "send_file" in str(cause)


def test_image_bytes_without_a_name_are_named_by_their_type() -> None:
    channel = ScriptedChannel()

    @ag.graph_fn
    async def show(*, context: ag.NodeContext) -> None:
        for image in (SVG, JPEG, PNG):
            await context.channel().send_image(image)

    with default_session():
        ag.configure(channel=channel)
        arun(show())
    assert [m.content["name"] for m in channel.messages if m.type == "image"] == ["image.svg", "image.jpg", "image.png"]
