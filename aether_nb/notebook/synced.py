"""What the run widget's synced state may hold: it goes over the comm as UTF-8 and is saved with the notebook, so
it is UTF-8 safe and passes the store's redaction (README, "Secrets"); an inspector's error is trimmed to what the
person can act on.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
from typing import Any

from aether_nb.runtime.checks import utf8_safe
from aether_nb.store.redact import redact_text
from aether_nb.store.values import json_dumps

__all__ = ["redacted_messages", "runtime_only", "utf8_json"]

_PACKAGE_DIR = str(pathlib.Path(__file__).resolve().parents[1])
_FRAME_FILE = re.compile(r'^\s*File "([^"]+)"', re.MULTILINE)


def runtime_only(error: dict[str, Any]) -> bool:
    """Whether a node's error is aether_nb's own verdict (an MCP server's error, a refused value) whose traceback
    holds only aether_nb's and asyncio's frames: the inspector shows the message alone, as the cell does."""
    if not str(error.get("type", "")).startswith("aether_nb.") or os.environ.get("AETHER_NB_FULL_TRACEBACKS"):
        return False
    files = _FRAME_FILE.findall(str(error.get("traceback") or ""))
    return bool(files) and all(f.startswith(_PACKAGE_DIR) or f"{os.sep}asyncio{os.sep}" in f for f in files)


def redacted_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chat messages as the widget may keep them (synced state is saved with the notebook): secrets redacted.
    Inline image data is left out of the scan (it is the image itself, and base64 is not text anyone typed)."""
    images = [m["content"].pop("data_url", None) if isinstance(m.get("content"), dict) else None for m in messages]
    try:
        safe, text = utf8_json(messages)
        clean = redact_text(text)
        out: list[dict[str, Any]] = safe if clean == text else json.loads(clean)
    finally:
        for m, image in zip(messages, images, strict=True):
            if image is not None:
                m["content"]["data_url"] = image
    if out is not messages:
        for m, image in zip(out, images, strict=True):
            if image is not None:
                m["content"]["data_url"] = image
    return out


def utf8_json(value: Any) -> tuple[Any, str]:
    """``value`` and its JSON text, with any lone surrogate written as its escape: the comm sends UTF-8, and one
    odd string (a file name decoded with surrogateescape, half an emoji) would make every update of the view fail."""
    text = json_dumps(value, default=str, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        value = utf8_safe(value)
        text = json_dumps(value, default=str, ensure_ascii=False)
    return value, text
