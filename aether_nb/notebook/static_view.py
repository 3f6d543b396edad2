"""What a saved notebook shows where widgets cannot run (nbviewer, GitHub, nbconvert's HTML, a reopened notebook).

An SVG of the DAG (Graphviz ``dot`` via :mod:`aether_nb.runtime.dot`, in a subprocess with a timeout) in the same
status words and colours as the widget, then the chat as a transcript: markdown rendered (mistune, raw HTML
escaped), images embedded as data URLs (up to :data:`MAX_STATIC_IMAGE`), files as name and size.

Big runs stay small: sibling calls of one tool under one ``gather`` (or a loop of one tool) are drawn as one group
node, ``step ×20`` (:func:`group_graph`, the same rule as the widget's ``js/lib/groups.ts``); beyond
:data:`MAX_STATIC_NODES` drawn nodes, or an SVG over :data:`MAX_STATIC_SVG` bytes, a summary table replaces the
drawing, so a saved notebook does not grow by megabytes per run.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from typing import Any

from aether_nb.runtime import status
from aether_nb.runtime.dot import render_svg
from aether_nb.services.channel import files_text, format_size

__all__ = [
    "failure_reason",
    "group_graph",
    "header_counts",
    "moment_note",
    "render_svg",
    "run_words",
    "shown_of",
    "static_html",
    "summary_table",
    "transcript",
]

GROUP_MIN = 5
"""Sibling calls of one tool that become one group node (the widget uses the same number)."""

MAX_STATIC_NODES = 120
"""Drawn nodes (after grouping) beyond which the static view is a summary table instead of an SVG."""

MAX_STATIC_SVG = 250_000
"""Bytes of SVG beyond which the summary table replaces the drawing."""

MAX_STATIC_IMAGE = 512 * 1024
"""Images up to this size are embedded in the static transcript; bigger ones are named."""

QUEUED_NOTE = "not read yet: the agent reads messages only when it asks for one"
"""What a message written to a running run says while its agent has not read it (``js/lib/chat.ts`` says the same,
adding that the agent's question still waits when one is open). In plain words: people read "queued: ... at its next
receive()" as sent and answered, when the agent (which may never call ``receive()``) had not read it."""

UNREAD_NOTE = "not read: the run ended"
"""What such a message says once the run ended without reading it: nothing will read it now."""


# -- grouping ------------------------------------------------------------------------------------------------------
def shown_of(graph: dict[str, Any]) -> dict[str, str]:
    """The status each node shows: what a slim graph carries (``shown``, decided with what only the run knows, such
    as that nothing executes it), else :func:`aether_nb.runtime.status.shown_statuses`."""
    nodes = graph.get("nodes", [])
    if nodes and all("shown" in n for n in nodes):
        return {str(n["id"]): str(n["shown"]) for n in nodes}
    return status.shown_statuses(nodes, str(graph.get("status") or ""), executing=not graph.get("cut_off"))


def _groups_of(
    ids: list[str], names: dict[str, str], preds: dict[str, list[str]], succs: dict[str, list[str]]
) -> list[list[str]]:
    """Sibling groups: same name with the same predecessors and successors (one gather), or a chain of one tool
    where each call feeds only the next (a loop). Members in graph order."""
    out: list[list[str]] = []
    taken: set[str] = set()
    buckets: dict[tuple[str, tuple[str, ...], tuple[str, ...]], list[str]] = {}
    for nid in ids:
        key = (names[nid], tuple(sorted(preds.get(nid, ()))), tuple(sorted(succs.get(nid, ()))))
        buckets.setdefault(key, []).append(nid)
    for members in buckets.values():
        if len(members) >= GROUP_MIN:
            out.append(members)
            taken.update(members)
    for nid in ids:
        if nid in taken:
            continue
        p = preds.get(nid, [])
        if len(p) == 1 and names.get(p[0]) == names[nid] and len(succs.get(p[0], [])) == 1:
            continue  # not the head of a chain
        chain = [nid]
        current = nid
        while True:
            nxt = succs.get(current, [])
            if len(nxt) != 1 or nxt[0] in taken or names.get(nxt[0]) != names[nid] or len(preds.get(nxt[0], [])) != 1:
                break
            current = nxt[0]
            chain.append(current)
        if len(chain) >= GROUP_MIN:
            out.append(chain)
            taken.update(chain)
    return out


def group_graph(graph: dict[str, Any], shown: dict[str, str] | None = None) -> dict[str, Any]:
    """The graph with sibling groups collapsed into one node each (``name ×N``, shown as ``status.group_status``).

    The children of a grouped node are dropped (the group stands for them); edges are redirected to the group
    and deduplicated. Works on the ``RunGraph.to_dict()`` / slim shape.
    """
    nodes: list[dict[str, Any]] = list(graph.get("nodes", []))
    shown = shown or shown_of(graph)
    by_parent: dict[Any, list[str]] = {}
    names = {str(n["id"]): str(n.get("name") or n["id"]) for n in nodes}
    for n in nodes:
        by_parent.setdefault(n.get("parent"), []).append(str(n["id"]))
    preds: dict[str, list[str]] = {}
    succs: dict[str, list[str]] = {}
    for a, b in graph.get("edges", []):
        succs.setdefault(str(a), []).append(str(b))
        preds.setdefault(str(b), []).append(str(a))
    member_of: dict[str, str] = {}
    group_nodes: list[dict[str, Any]] = []
    by_id = {str(n["id"]): n for n in nodes}
    for parent, ids in by_parent.items():
        for members in _groups_of(ids, names, preds, succs):
            gid = f"group:{members[0]}"
            worst = status.group_status(shown.get(m, by_id[m].get("status", "")) for m in members) or "PENDING"
            for m in members:
                member_of[m] = gid
            group_nodes.append(
                {
                    "id": gid,
                    "name": f"{names[members[0]]} ×{len(members)}",
                    "kind": "group",
                    "status": worst,
                    "shown": worst,
                    "parent": parent,
                    "members": members,
                    "started_at": None,
                    "ended_at": None,
                }
            )
    if not member_of:
        return {**graph, "nodes": [{**n, "shown": shown.get(str(n["id"]), n.get("status"))} for n in nodes]}
    hidden = set(member_of)
    # Children of grouped nodes go too (a group of nested agents is drawn as one box).
    changed = True
    while changed:
        changed = False
        for n in nodes:
            if n["id"] not in hidden and n.get("parent") in hidden:
                hidden.add(str(n["id"]))
                changed = True
    out_nodes = [{**n, "shown": shown.get(str(n["id"]), n.get("status"))} for n in nodes if n["id"] not in hidden]
    out_nodes.extend(group_nodes)
    seen: set[tuple[str, str]] = set()
    edges = []
    for a, b in graph.get("edges", []):
        if (a in hidden and a not in member_of) or (b in hidden and b not in member_of):
            continue
        ea, eb = member_of.get(a, a), member_of.get(b, b)
        if ea != eb and (ea, eb) not in seen:
            seen.add((ea, eb))
            edges.append([ea, eb])
    return {**graph, "nodes": out_nodes, "edges": edges}


# -- transcript ----------------------------------------------------------------------------------------------------
def _answer_text(content: dict[str, Any]) -> str:
    return str(content.get("text", ""))


def transcript(messages: Sequence[dict[str, Any]]) -> str:
    """The chat as plain text lines (``role: text``), each question once, files with name and size."""
    lines = []
    for m in messages:
        c = m.get("content", {}) or {}
        kind = m.get("type")
        if kind in ("text", "markdown", "stream"):
            body = _answer_text(c)
            if c.get("turn") == "question" and c.get("payload") is not None:
                body += "\n" + payload_text(c["payload"])
            if c.get("queued"):
                body += f" ({QUEUED_NOTE})"
            elif c.get("unread"):
                body += f" ({UNREAD_NOTE})"
            if c.get("stopped"):
                body += " … (stopped)"
        elif kind == "files":
            body = f"[files: {files_text(c.get('files') or [])}]"
        elif kind in ("image", "file"):
            body = f"[{kind}: {c.get('name')} ({format_size(c.get('size'))})]"
        elif kind == "progress":
            body = f"[{c.get('title')}: {c.get('current')}/{c.get('total') or '?'}{_progress_end(c, ' ')}]"
        else:
            continue
        lines.append(f"{m.get('role', 'assistant')}: {body}")
    return "\n".join(lines)


def _progress_end(content: dict[str, Any], sep: str) -> str:
    """How a progress bar ended: done, stopped (its block raised: the run failed or was stopped), or not yet."""
    if content.get("done"):
        return f"{sep}done"
    return f"{sep}stopped" if content.get("stopped") else ""


PAYLOAD_CHARS = 4000
"""How much of a question's payload the saved view spells out; the rest is counted, not shown."""


def payload_text(value: Any) -> str:
    """A question's payload (a StateGraph ``interrupt(value)``) as the live widget shows it under the question: a
    string as it is, anything else as indented JSON. Without it the saved view of a wait said "Ship it?" and not what
    was to be shipped."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
        except (TypeError, ValueError):  # a circular value: what str() makes of it
            text = str(value)
    if len(text) > PAYLOAD_CHARS:
        text = f"{text[:PAYLOAD_CHARS]}… ({len(text) - PAYLOAD_CHARS} more characters)"
    return text


def _markdown(text: str) -> str:
    import mistune

    render = mistune.create_markdown(escape=True, plugins=["strikethrough", "table"])
    return str(render(text))


def _message_html(m: dict[str, Any]) -> str:
    c = m.get("content", {}) or {}
    kind = m.get("type")
    if kind == "text" and c.get("turn") == "question" and c.get("payload") is not None:
        pre = "margin:4px 0 0;padding:4px 6px;background:#e4e4e4;border-radius:4px;white-space:pre-wrap;font-size:12px"
        payload = html.escape(payload_text(c["payload"]))
        return f"{_markdown(str(c.get('text', '')))}<pre class='aether-static-payload' style='{pre}'>{payload}</pre>"
    if kind == "markdown" or (kind == "text" and c.get("turn") == "question"):
        return _markdown(str(c.get("text", "")))
    if kind == "stream":  # a model's reply: markdown, as the live widget renders it
        stopped = " <p><i style='opacity:.6'>… (stopped)</i></p>" if c.get("stopped") else ""
        return _markdown(str(c.get("text", ""))) + stopped
    if kind == "text":
        stopped = " <i style='opacity:.6'>… (stopped)</i>" if c.get("stopped") else ""
        note = QUEUED_NOTE if c.get("queued") else UNREAD_NOTE if c.get("unread") else ""
        if note:  # a message written to the agent that it has not read (yet, or ever: the run ended)
            stopped += f"<div class='aether-static-inbox' style='font-size:11px;opacity:.7'>{html.escape(note)}</div>"
        return f"<div style='white-space:pre-wrap'>{html.escape(str(c.get('text', '')))}{stopped}</div>"
    if kind == "files":
        chips = "".join(
            f"<span style='border:1px solid #bbb;border-radius:10px;padding:0 8px;margin-right:4px'>"
            f"{html.escape(str(f.get('name')))} · {format_size(f.get('size'))}</span>"
            for f in c.get("files") or []
        )
        return chips or "(no files)"
    if kind == "image":
        url = c.get("data_url")
        if isinstance(url, str) and url.startswith("data:image/") and (c.get("size") or 0) <= MAX_STATIC_IMAGE:
            alt = html.escape(str(c.get("alt") or c.get("name") or "image"))
            return f"<img src='{html.escape(url)}' alt='{alt}' style='max-width:100%;max-height:320px'>"
        return f"{html.escape(str(c.get('name')))} ({format_size(c.get('size'))})"
    if kind == "file":
        return f"{html.escape(str(c.get('name')))} ({format_size(c.get('size'))})"
    if kind == "progress":
        return html.escape(f"{c.get('title')}: {c.get('current')}/{c.get('total') or '?'}{_progress_end(c, ' · ')}")
    return ""


def transcript_html(messages: Sequence[dict[str, Any]]) -> str:
    """The chat as HTML bubbles (user on the right), for places without the widget."""
    rows = []
    for m in messages:
        body = _message_html(m)
        if not body:
            continue
        user = m.get("role") == "user"
        # An explicit dark text colour: the light bubbles stay readable where the page's text is light (JupyterLab
        # Dark shows this view when a notebook is reopened without its kernel).
        style = "margin:4px 0;padding:4px 10px;border-radius:10px;max-width:75%;color:#222;" + (
            "align-self:flex-end;background:#bbdefb;" if user else "align-self:flex-start;background:#f1f1f1;"
        )
        rows.append(
            f"<div class='aether-static-msg' data-role='{'user' if user else 'assistant'}' style='{style}'>{body}</div>"
        )
    if not rows:
        return ""
    css = "<style>.aether-static-msg > p { margin: 0 0 4px; } .aether-static-msg > p:last-child { margin: 0; }</style>"
    return f"<div class='aether-static-chat' style='display:flex;flex-direction:column'>{css}{''.join(rows)}</div>"


# -- the whole view ------------------------------------------------------------------------------------------------
def summary_table(graph: dict[str, Any]) -> str:
    """Counts of nodes per tool and shown status: what a big run's static view shows instead of a drawing."""
    nodes = graph.get("nodes", [])
    shown = shown_of(graph)
    rows: dict[str, dict[str, int]] = {}
    for n in nodes:
        rows.setdefault(str(n.get("name")), {}).setdefault(status.words(shown.get(str(n["id"]), "")), 0)
        rows[str(n.get("name"))][status.words(shown.get(str(n["id"]), ""))] += 1
    body = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{sum(c.values())}</td>"
        f"<td>{html.escape(', '.join(f'{v} {k}' for k, v in sorted(c.items())))}</td></tr>"
        for name, c in sorted(rows.items(), key=lambda kv: -sum(kv[1].values()))
    )
    return (
        f"<p>{len(nodes)} nodes: too many to draw here (the live widget groups and expands them).</p>"
        f"<table class='aether-static-summary'><tr><th>step</th><th>calls</th><th>status</th></tr>{body}</table>"
    )


_SVG_ID = re.compile(r'\bid="([^"]*)"')


def prefix_svg_ids(svg: str, prefix: str) -> str:
    """Make an SVG's ids unique on a page holding several (Graphviz numbers them ``node1``... in every drawing)."""
    clean = re.sub(r"[^\w-]", "-", prefix)
    return _SVG_ID.sub(lambda m: f'id="{clean}-{m.group(1)}"', svg)


async def static_svg(graph: dict[str, Any]) -> str | None:
    """The drawing of a run for static places: grouped, capped, ids made unique; None means "use the summary"."""
    grouped = group_graph(graph)
    if len(grouped.get("nodes", [])) > MAX_STATIC_NODES:
        return None
    svg = await render_svg(grouped)
    if svg is None or len(svg) > MAX_STATIC_SVG:
        return None
    return prefix_svg_ids(svg, f"aether-{graph.get('run_id', 'run')}")


def header_counts(graph: dict[str, Any]) -> list[str]:
    """What the run did, in the words and counts of the widget's header (``js/run_widget.ts``): its steps (nodes
    containing others are counted through what they contain), then how many of them show each status tone, worst
    first, then its body's service calls: ``["8 steps", "1 failed", "1 waiting", "6 done", "2 service calls"]``.
    The text summary said "7/9 nodes done, 1 failed" beside a header that said "8 steps · 1 failed · 1 waiting ·
    6 done": two counts of one run (README, "One vocabulary")."""
    nodes = graph.get("nodes", [])
    shown = shown_of(graph)
    parents = {n.get("parent") for n in nodes if n.get("parent") is not None}
    tally: dict[str, int] = {}
    steps = 0
    for n in nodes:
        if n.get("id") in parents:
            continue
        steps += 1
        tone = status.tone(shown.get(str(n.get("id")), str(n.get("status") or "")))
        tally[tone] = tally.get(tone, 0) + 1
    parts = [f"{steps} step{'' if steps == 1 else 's'}"] if steps else []
    parts.extend(f"{tally[t]} {t}" for t in reversed(status.TONES) if tally.get(t))
    calls = len(graph.get("calls") or [])
    if calls:
        parts.append(f"{calls} service call{'' if calls == 1 else 's'}")
    return parts


def run_words(graph: dict[str, Any]) -> str:
    """The run's status in words, as ``%aether runs`` says it: a run nothing executes is "cut off", not "running"."""
    return status.CUT_OFF if graph.get("cut_off") else status.words(str(graph.get("status") or ""))


def moment_note(graph: dict[str, Any]) -> str:
    """What the saved copy of an unfinished run (waiting, cut off, still running) says above it: that it shows the
    run at the moment its output was last written, and where to see what became of it ("" for a finished run).

    A kernel cannot update the displays of the kernel before it: JupyterLab disposes a restarted kernel's requests
    and forgets their display ids (``KernelConnection._clearKernelState``), so ``update_display_data`` from the
    resuming kernel reaches no earlier cell, and a reopened notebook has no request at all. A notebook read without
    widget state (GitHub, nbconvert) showed the run "waiting for you" in the cell that started it, with its
    question, and "done" in the later cell that resumed it, with nothing saying why."""
    if str(graph.get("status") or "") in status.FINISHED_RUN:
        return ""
    run_id = graph.get("run_id", "")
    return (
        f"This is run {run_id} as it was when this output was last written ({run_words(graph)}). If it went on "
        f"after that (in a later cell, e.g. after a kernel restart and `%aether resume {run_id}`), that cell shows "
        f"what became of it; `%aether resume {run_id}` shows it live."
    )


def failure_reason(graph: dict[str, Any]) -> tuple[str, str]:
    """Where a failed run failed and why, as its views say it after "Failed": ``("at average (average_1)",
    "ZeroDivisionError: division by zero")``, or ``("in the body of report (not in a step)", <the run's error>)``.

    The place is the run's own (``failed_node``, see :func:`aether_nb.notebook.protocol.slim_graph`): a tool whose
    error the body or a ``run_tools`` loop handled is not the run's failure, even when it is the last one to fail.
    """
    from aether_nb.notebook.protocol import error_line

    nodes = graph.get("nodes", [])
    error = error_line(graph.get("error"))
    if "failed_node" not in graph:  # a graph drawn without its run: its deepest failed step
        cause = status.failure(nodes)
    elif graph["failed_node"] is None:
        return f"in the body of {graph.get('name', 'the run')} (not in a step)", error
    else:
        cause = next((n for n in nodes if n.get("id") == graph["failed_node"]), None)
    if cause is None:
        return "", error
    why = error_line(cause.get("error")) or str(cause.get("error_message") or "") or error
    return f"at {cause.get('name')} ({cause.get('id')})", why


def static_html(graph: dict[str, Any], messages: Sequence[dict[str, Any]], svg: str | None, *, notice: str = "") -> str:
    """The fallback HTML: title and status in words, the failure reason (or how to resume a run nothing executes),
    the SVG (or a summary), the transcript."""
    run_status = str(graph.get("status") or "")
    title = html.escape(f"{graph.get('name', 'run')} · {run_words(graph)} · {graph.get('run_id', '')}")
    parts = [f"<div class='aether-static-title'><b>{title}</b></div>"]
    if notice:
        parts.append(
            f"<div style='border-left:3px solid #1976d2;padding:2px 8px;margin:4px 0'>{html.escape(notice)}</div>"
        )
    if status.tone(run_status) == "failed":
        where, why = failure_reason(graph)
        line = "Failed" + (f" {where}" if where else "") + (f": {why}" if why else "")
        parts.append(f"<div style='color:#c62828'>{html.escape(line)}</div>")
    hint = str(graph.get("cut_off") or "")
    if hint:
        parts.append(
            f"<div style='border-left:3px solid #757575;padding:2px 8px;margin:4px 0'>{html.escape(hint)}</div>"
        )
    if svg is not None:
        parts.append(f"<div class='aether-static-dag' style='overflow:auto'>{svg}</div>")
    elif graph.get("nodes"):
        grouped = group_graph(graph)
        if len(grouped["nodes"]) > MAX_STATIC_NODES:
            parts.append(summary_table(graph))
        else:  # no drawing (dot missing, too slow, or not done yet): the steps as a list, in words
            items = "".join(
                f"<li>{html.escape(str(n.get('name')))}"
                f"{' (' + html.escape(str(n['label'])) + ')' if n.get('label') else ''}: "
                f"{html.escape(status.words(str(n.get('shown') or n.get('status'))))}</li>"
                for n in grouped["nodes"]
            )
            parts.append(f"<ul class='aether-static-steps'>{items}</ul>")
    parts.append(transcript_html(messages))
    run_id = html.escape(str(graph.get("run_id", "")))
    return f"<div class='aether-run-static' data-run-id='{run_id}'>{''.join(parts)}</div>"
