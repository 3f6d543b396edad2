"""What a saved notebook shows where widgets cannot run (nbviewer, GitHub): an SVG of the DAG and the chat as text.

The SVG comes from :mod:`aether_nb.runtime.dot` (``dot`` in a subprocess with a timeout); without it, a node list.
"""

from __future__ import annotations

import html
from typing import Any

from aether_nb.runtime.dot import render_svg

__all__ = ["render_svg", "static_html", "transcript"]


def transcript(messages: list[dict[str, Any]]) -> str:
    """The chat as plain text lines (``role: text``)."""
    lines = []
    for m in messages:
        c = m.get("content", {})
        if m["type"] in ("text", "markdown", "stream"):
            body = c.get("text", "")
        elif m["type"] in ("image", "file"):
            body = f"[{m['type']}: {c.get('name')}]"
        elif m["type"] == "progress":
            body = f"[{c.get('title')}: {c.get('current')}/{c.get('total') or '?'}{' done' if c.get('done') else ''}]"
        else:
            continue
        lines.append(f"{m['role']}: {body}")
    return "\n".join(lines)


def static_html(graph: dict[str, Any], messages: list[dict[str, Any]], svg: str | None) -> str:
    """The fallback HTML: title and status, the SVG (or a node list), and the transcript."""
    title = html.escape(f"{graph.get('name', 'run')} · {graph.get('status', '')} · {graph.get('run_id', '')}")
    if svg is not None:
        body = svg
    else:
        items = "".join(
            f"<li>{html.escape(n['name'])} [{html.escape(n['id'])}]: {html.escape(n['status'])}</li>"
            for n in graph.get("nodes", [])
        )
        body = f"<ul>{items}</ul>"
    chat = transcript(messages)
    chat_html = f"<pre>{html.escape(chat)}</pre>" if chat else ""
    return f"<div class='aether-run-static'><b>{title}</b>{body}{chat_html}</div>"
