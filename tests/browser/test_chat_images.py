"""Charts an agent sends to the chat draw, as a person sees them: an SVG chart sent as bytes (what a plotting
library's ``savefig(format="svg")`` gives) and a PNG one. The SVG was stored as ``image/png`` (the default for
bytes, even named ``chart.svg``) and the chat showed a broken image. Asserted: each image loaded (its natural size),
and the type the chat message carries. Screenshots land in test-artifacts/ (chat_images_*.png)."""

from __future__ import annotations

import pytest
from labdriver import LabServer, OpenNotebook, shot

pytestmark = pytest.mark.browser

_ROOT = ".jp-NotebookPanel:not(.lm-mod-hidden)"

CELLS = [
    """\
%load_ext aether_nb
import struct, zlib
import aether_nb as ag

def svg_chart(values):
    bars = "".join(
        f'<rect x="{10 + 30 * i}" y="{110 - 20 * v}" width="20" height="{20 * v}" fill="#1e88e5"/>'
        for i, v in enumerate(values)
    )
    return ('<?xml version="1.0" encoding="utf-8"?>\\n<!-- a bar chart -->\\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="160" height="120">{bars}</svg>').encode()

def png_chart(w=48, h=24):
    rows = b"".join(b"\\x00" + bytes((229, 57, 53)) * w for _ in range(h))
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    head = chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    return b"\\x89PNG\\r\\n\\x1a\\n" + head + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")

@ag.graph_fn(name="report", outputs=["n"])
async def report(*, context: ag.NodeContext):
    ch = context.channel()
    await ch.send_text("Weekly sales:")
    await ch.send_image(svg_chart([1, 3, 2, 5, 4]), alt="sales (svg)", name="sales.svg")
    await ch.send_image(svg_chart([2, 2, 4]), alt="returns (svg, unnamed)")
    await ch.send_image(png_chart(), alt="stock (png)")
    return {"n": 3}
""",
    "await report()",
]

_IMAGES = """(root) => {
  const imgs = [...root.querySelectorAll("img")];
  return imgs.length === 3 && imgs.every((i) => i.complete);
}"""


def test_svg_and_png_charts_draw_in_the_chat(lab_server: LabServer, open_page: OpenNotebook) -> None:
    lab = open_page(lab_server, "chat_images.ipynb", CELLS)
    lab.run_cell(0)
    lab.run_cell(1)
    lab.wait_in_widget(1, _IMAGES, timeout=60)
    images = lab.page.locator(f"{_ROOT} .jp-Cell").nth(1).locator("img")
    drawn = images.evaluate_all(
        "(imgs) => imgs.map((i) => [i.alt, i.naturalWidth, i.naturalHeight, i.src.slice(0, i.src.indexOf(';'))])"
    )
    shot(lab.page.locator(f"{_ROOT} .jp-Cell").nth(1), "chat_images_widget")
    assert drawn == [
        ["sales (svg)", 160, 120, "data:image/svg+xml"],
        ["returns (svg, unnamed)", 160, 120, "data:image/svg+xml"],
        ["stock (png)", 48, 24, "data:image/png"],
    ], drawn
