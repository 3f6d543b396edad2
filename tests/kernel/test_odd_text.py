"""One odd string in a notebook run: a file name decoded with ``surrogateescape`` (a tool's result, so a DAG label)
and half an emoji in a chat message. The comm to the browser sends UTF-8: before, the run view's first update
raised in the kernel, the view was unsubscribed ("a subscriber of run ... raised") and the widget stood still
beside a run that went on. Now each lone surrogate travels as its escape and the view follows the run to its end.
"""

from __future__ import annotations

import pytest

from tests.kernel_client import Kernel, kernel

pytestmark = pytest.mark.kernel
__all__ = ["kernel"]

CELL = """
import json
import aether_nb as ag

@ag.tool(outputs=["names"])
def list_files(folder: str) -> dict:
    return {"names": [b"caf\\xe9.txt".decode("utf-8", "surrogateescape")]}

@ag.graph_fn(outputs=["n"])
async def odd_files(*, context):
    names = (await list_files(folder="."))["names"]
    await context.channel().send_text("found " + names[0] + " " + json.loads('"\\\\ud83d"'))
    return {"n": len(names)}

out = await odd_files()
print("OUT", out)
"""


def test_a_run_with_lone_surrogates_keeps_its_widget_following(kernel: Kernel) -> None:
    kernel.ok("%load_ext aether_nb")
    res = kernel.ok(CELL, timeout=90)
    assert "OUT {'n': 1}" in res.stdout
    assert "raised" not in res.stdout and "Traceback" not in res.stdout, res.stdout
    html = [b["text/html"] for b in res.bundles if "text/html" in b]
    assert html, "the finished run's display carries its static view"
    assert "found caf\\udce9.txt \\ud83d" in html[-1]
