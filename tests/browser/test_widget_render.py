"""RunWidget draws its traits in a real JupyterLab: DAG, sub-graphs, inspector, chat, notice."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from labdriver import LabPage

pytestmark = pytest.mark.browser

# A 1x1 red PNG.
PNG = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
TRACEBACK = (
    'Traceback (most recent call last):\n  File "agent.py", line 3, in explode\n'
    "    1 / 0\nZeroDivisionError: division by zero"
)


def _node(node_id: str, status: str, *, kind: str = "tool", parent: str | None = None, **extra: object) -> dict:
    return {
        "id": node_id,
        "name": node_id.split("_")[0],
        "kind": kind,
        "status": status,
        "parent": parent,
        "started_at": 100.0,
        "ended_at": 100.25 if status in ("DONE", "FAILED") else None,
        "inputs": {"x": 1},
        "outputs": None,
        "error": None,
        "replayed": False,
        "usage": None,
        "logs": [],
        "warnings": [],
        **extra,
    }


def _call(key: str, service: str, method: str, inputs: object, outputs: object, **extra: object) -> dict:
    return {
        "key": key,
        "service": service,
        "method": method,
        "inputs": inputs,
        "outputs": outputs,
        "error": None,
        "replayed": False,
        "ts": 100.05,
        **extra,
    }


GRAPH = {
    "run_id": "run-1",
    "name": "research_agent",
    "status": "failed",
    "nodes": [
        _node("fetch_1", "DONE", replayed=True, outputs={"pages": 3}),
        _node("plan_2", "DONE", kind="llm", usage={"prompt_tokens": 120, "completion_tokens": 30, "cost_usd": 0.0012}),
        _node("research_3", "RUNNING", kind="graph_fn"),
        _node("search_4", "DONE", parent="research_3"),
        _node("read_5", "FAILED", parent="research_3"),
        _node("ask_6", "WAITING_HUMAN", kind="wait", parent="research_3"),
        _node(
            "explode_7",
            "FAILED",
            error={"type": "ZeroDivisionError", "message": "division by zero", "traceback": TRACEBACK},
            logs=[{"level": "warning", "message": "about to divide", "ts": 100.1}],
            warnings=["slow tool"],
            calls=[_call("explode_7/kv.get_1", "kv", "get", {"key": "divisor"}, 0, replayed=True)],
        ),
        _node("skipped_8", "SKIPPED"),
    ],
    "calls": [
        _call("memory.record_1", "memory", "record", {"kind": "note", "data": {"text": "started"}}, {"id": "m"}),
        _call("memory.search_1", "memory", "search", {"query": "sky"}, []),
    ],
    "edges": [
        ["fetch_1", "plan_2"],
        ["plan_2", "research_3"],
        ["search_4", "read_5"],
        ["research_3", "explode_7"],
        ["explode_7", "skipped_8"],
    ],
}


def _msg(msg_id: str, msg_type: str, content: dict, *, role: str = "assistant", final: bool = True) -> dict:
    return {"id": msg_id, "type": msg_type, "role": role, "content": content, "final": final, "node_id": None}


MESSAGES = [
    _msg("m1", "text", {"text": "Looking into it."}),
    _msg("m2", "text", {"text": "Please be quick"}, role="user"),
    _msg(
        "m3",
        "markdown",
        {
            "text": "Found **three** sources:\n\n- one\n- two\n\n"
            '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
        },
    ),
    _msg(
        "m4",
        "image",
        {
            "artifact_uri": "aether://a/1",
            "mime": "image/png",
            "name": "dot.png",
            "size": 70,
            "alt": "a red dot",
            "data_url": PNG,
        },
    ),
    _msg("m5", "file", {"artifact_uri": "aether://a/2", "mime": "text/csv", "name": "table.csv", "size": 2048}),
    _msg("m6", "progress", {"title": "Reading", "current": 3, "total": 10, "subtitle": "page 3", "done": False}),
    _msg("m7", "stream", {"text": "Partial answ"}, final=False),
]


# The graph trait is slim, as RunView sends it; the inspector's `inspect` commands are served from the full graph
# by a handler in the shape RunView uses (the callback may run on a comm subshell thread: hand off to the loop).
SETUP = f"""\
import asyncio
from aether_nb.notebook import protocol as proto
from aether_nb.notebook.widget import RunWidget

FULL = {GRAPH!r}
details = {{n["id"]: proto.node_details(n) for n in FULL["nodes"]}}
inspected = []
loop = asyncio.get_event_loop()
w = RunWidget(graph=proto.slim_graph(FULL), messages={MESSAGES!r}, waits=[],
              notice="Adopted the run this cell started before")

def handle(content):
    if content.get("type") == "inspect":
        inspected.append(content["node_id"])
        w.send(proto.reply(content["id"], ok=True, node=details[content["node_id"]]))

w.on_msg(lambda _w, content, _buffers: loop.call_soon_threadsafe(handle, content))
w
"""


def test_run_widget_renders_dag_inspector_and_chat(notebook: Callable[[list[str]], LabPage]) -> None:
    lab = notebook([SETUP, "print(inspected, 'inputs' in w.graph['nodes'][0], w.graph['nodes'][6]['has_error'])"])
    lab.run_all()
    page = lab.page
    root = lab.wait_in_output(0, ".aether-run[data-run-status='failed']")
    widget = lab.widget(0)

    # Nodes carry their statuses; the header shows the name and counts; no Stop button on a finished run.
    assert widget.locator(".aether-node[data-node-id='fetch_1']").get_attribute("data-status") == "DONE"
    assert widget.locator(".aether-node[data-node-id='explode_7']").get_attribute("data-status") == "FAILED"
    assert widget.locator(".aether-node[data-node-id='skipped_8']").get_attribute("data-status") == "SKIPPED"
    assert widget.locator(".aether-node[data-node-id='fetch_1']").get_attribute("data-replayed") == "true"
    assert "250 ms" in (widget.locator(".aether-node[data-node-id='fetch_1']").text_content() or "")
    assert widget.locator(".aether-title").inner_text() == "research_agent"
    assert widget.locator(".aether-counts").inner_text().startswith("7 steps")  # what research_3 holds, counted once
    assert widget.locator("[data-action='stop']").is_hidden()
    assert (
        widget.locator(".aether-notice:not(.aether-inert-notice)").inner_text()
        == "Adopted the run this cell started before"
    )
    assert widget.locator(".aether-edge").count() == 4  # the sibling edge inside the sub-graph is hidden

    # The graph_fn starts collapsed: its children are hidden, it shows their count and statuses. Cut off by the
    # run's failure, it shows "stopped"; the failed read inside it is counted in its summary.
    research = widget.locator(".aether-node[data-node-id='research_3']")
    assert research.get_attribute("data-collapsed") == "true"
    assert research.get_attribute("data-child-count") == "3"
    assert research.get_attribute("data-worst-status") == "CANCELLED"
    assert "1 failed" in (research.text_content() or "")
    assert widget.locator(".aether-node[data-node-id='search_4']").count() == 0
    research.locator("[data-action='toggle']").click()
    widget.locator(".aether-node[data-node-id='read_5'][data-status='FAILED']").wait_for(timeout=5_000)
    assert widget.locator(".aether-node[data-node-id='ask_6']").get_attribute("data-status") == "WAITING_HUMAN"
    assert research.get_attribute("data-collapsed") is None
    assert widget.locator(".aether-edge").count() == 5

    # Clicking a node opens the inspector; it fetches the node's error, traceback, logs and warnings.
    widget.locator(".aether-node[data-node-id='explode_7'] .aether-node-box").click()
    inspector = widget.locator(".aether-inspector[data-node-id='explode_7'][data-details='loaded']")
    inspector.wait_for(timeout=10_000)
    assert "ZeroDivisionError: division by zero" in inspector.locator("[data-section='traceback']").inner_text()
    title = inspector.locator(".aether-error-title").inner_text()
    assert title == "ZeroDivisionError: division by zero", title  # not builtins.ZeroDivisionError
    assert "about to divide" in inspector.locator("[data-section='logs']").inner_text()
    assert "slow tool" in inspector.locator("[data-section='warnings']").inner_text()
    calls = inspector.locator("[data-section='calls']").inner_text()
    assert "kv.get" in calls and "divisor" in calls and "replayed" in calls  # service calls listed on the node
    body = widget.locator("[data-section='body-calls']")
    assert "2 service calls of the agent itself" in body.locator("summary").inner_text()
    assert inspector.locator("[data-section='inputs']").inner_text().replace(" ", "").replace("\n", "") == '{"x":1}'
    widget.locator(".aether-node[data-node-id='plan_2'] .aether-node-box").click()
    plan = widget.locator(".aether-inspector[data-node-id='plan_2'][data-details='loaded']")
    plan.wait_for(timeout=10_000)
    usage = plan.locator("[data-section='usage']").inner_text()
    assert "120 prompt + 30 completion tokens" in usage and "$0.0012" in usage, "cost as the LLM service reports it"

    # Chat: bubbles in order, user on the right, markdown rendered and sanitised, image, file link, progress.
    bubbles = widget.locator(".aether-bubble")
    assert bubbles.count() == 7
    assert widget.locator(".aether-bubble.aether-user").inner_text() == "Please be quick"
    markdown = widget.locator(".aether-bubble[data-message-id='m3']")
    assert markdown.locator("strong").inner_text() == "three"
    assert markdown.locator("li").count() == 2
    assert markdown.locator("script").count() == 0
    assert markdown.locator("img").get_attribute("onerror") is None
    assert page.evaluate("() => window.__xss") is None
    image = widget.locator(".aether-bubble[data-message-id='m4'] img")
    assert image.get_attribute("alt") == "a red dot"
    page.wait_for_function("(img) => img.complete && img.naturalWidth === 1", arg=image.element_handle(), timeout=5_000)
    assert (
        widget.locator(".aether-bubble[data-message-id='m5'] [data-action='download']").inner_text()
        == "table.csv · 2.0 kB"
    )
    bar = widget.locator(".aether-bubble[data-message-id='m6'] .aether-progress-bar")
    assert bar.evaluate("(el) => el.style.width") == "30%"
    assert "3 / 10" in widget.locator(".aether-bubble[data-message-id='m6']").inner_text()
    assert widget.locator(".aether-bubble[data-message-id='m7']").get_attribute("data-final") == "false"
    assert root.get_attribute("data-run-status") == "failed"
    assert widget.locator(".aether-render-error").is_hidden()

    # One fetch per selected node; the trait itself carries no details, only whether a node has an error.
    lab.run_cell(1)
    assert lab.output_text(1).strip() == "['explode_7', 'plan_2'] False True"


def test_run_widget_updates_live_and_streams_in_place(notebook: Callable[[list[str]], LabPage]) -> None:
    """Trait changes redraw in place: a new node appears, a status flips, a streaming bubble grows."""
    lab = notebook(
        [
            "from aether_nb.notebook import protocol as proto\n"
            "from aether_nb.notebook.widget import RunWidget\n"
            f"w = RunWidget(graph=proto.slim_graph({GRAPH!r}), messages={MESSAGES!r})\n"
            "w",
            "import copy\n"
            "g = copy.deepcopy(w.graph)\n"
            "g['status'] = 'running'\n"
            "g['nodes'][-1]['status'] = 'RUNNING'\n"
            "g['nodes'].append(dict(g['nodes'][0], id='late_9', name='late', status='PENDING'))\n"
            "g['edges'].append(['skipped_8', 'late_9'])\n"
            "w.graph = g\n"
            "m = copy.deepcopy(w.messages)\n"
            "m[-1]['content']['text'] = 'Partial answer, **now** complete.'\n"
            "m[-1]['final'] = True\n"
            "w.messages = m\n"
            "w.notice = ''",
            "w.graph = {'run_id': 'bad', 'name': 'bad', 'status': 'running', 'nodes': [None], 'edges': []}",
        ]
    )
    lab.run_cell(0)
    widget = lab.widget(0)
    bubble = lab.wait_in_output(0, ".aether-bubble[data-message-id='m7']")
    handle = bubble.element_handle()
    lab.run_cell(1)
    widget.locator(".aether-node[data-node-id='late_9'][data-status='PENDING']").wait_for(timeout=10_000)
    assert widget.get_attribute("data-run-status") == "running"
    assert widget.locator(".aether-node[data-node-id='skipped_8']").get_attribute("data-status") == "RUNNING"
    assert widget.locator("[data-action='stop']").is_visible()
    lab.page.wait_for_function(
        "(el) => el.isConnected && el.textContent.trim() === 'Partial answer, now complete.'",
        arg=handle,
        timeout=10_000,
    )  # the same element, updated in place
    # A stream is a model's reply: its markdown is rendered (it showed the asterisks), the cursor gone once final.
    assert bubble.locator("strong").inner_text() == "now"
    assert bubble.locator(".aether-cursor").count() == 0
    assert widget.locator(".aether-notice:not(.aether-inert-notice)").is_hidden()

    # A drawing failure is shown inside the widget, not swallowed.
    lab.run_cell(2)
    error = widget.locator(".aether-render-error")
    error.wait_for(timeout=10_000)
    assert "drawing graph failed" in error.inner_text()


_JS_OVERFLOWING = """(root) => [...root.querySelectorAll('.aether-node:not(.aether-group)')].filter((g) => {
  const meta = g.querySelector('.aether-node-meta'), box = g.querySelector('.aether-node-box');
  if (!meta || !box || !meta.textContent) return false;
  const b = meta.getBBox();
  return b.x + b.width > Number(box.getAttribute('width')) - 2;
}).map((g) => g.dataset.nodeId + ': ' + g.querySelector('.aether-node-meta').textContent)"""

WIDE = {
    "run_id": "run-wide",
    "name": "wide_labels",
    "status": "succeeded",
    "nodes": [
        _node(f"{name}_{i}", "DONE", kind="wait", inputs={"prompt": label}, started_at=100.0, ended_at=100.0 + seconds)
        for i, (name, label, seconds) in enumerate(
            [
                ("ask", "Charge 250 EUR for Rome Budget Inn?", 0.211),
                ("ask", "Payment failed (BANK DECLINED 402). Retry?", 0.218),
                ("pay", "amount=250.0, currency='EUR', card='VISA-4242'", 12.5),
                ("caps", "WWWWWWWWWWWWMMMMMMMMMMMMM", 1.0),
                ("digits", "1234567890123456789012345678901234", 45.5),
                ("cjk", "東京の天気を教えてください。明日は雨ですか", 3.2),
                ("short", "x=1", 0.004),
            ],
            start=1,
        )
    ]
    # a gather of 20 calls, drawn as one collapsed group: "▸ 20 calls · 12 stopped · 8 done" ran past its box (its
    # running calls show stopped: the run ended)
    + [_node(f"work_{i}", "RUNNING" if i <= 12 else "DONE", started_at=100.0) for i in range(1, 21)],
    "calls": [],
    "edges": [],
}


SLEEPING = [
    {
        "token": "t-sleep",
        "kind": "time",
        "prompt": "",
        "options": None,
        "node_id": "sleep_1",
        "deadline": 1.9e9,
        "meta": {},
    }
]
EMPTY_ANSWER = [
    _msg("q1", "text", {"text": "Any notes for the driver?", "turn": "question"}),
    _msg("a1", "text", {"text": "", "turn": "answer"}, role="user"),
]


def test_a_long_preview_of_wide_characters_never_runs_past_its_box(notebook: Callable[[list[str]], LabPage]) -> None:
    """Previews were cut at 27 characters: "Charge 250 EUR fo… · 211 ms" (capitals and digits are wider than lower
    case) ran past the box's right edge in JupyterLab. Cut by estimated width now; the duration stays shown."""
    setup = (
        "from aether_nb.notebook import protocol as proto\nfrom aether_nb.notebook.widget import RunWidget\n"
        f"RunWidget(graph=proto.slim_graph({WIDE!r}), messages={EMPTY_ANSWER!r}, waits={SLEEPING!r})"
    )
    lab = notebook([setup])
    lab.run_all()
    lab.wait_in_output(0, ".aether-run[data-run-status='succeeded']")
    widget = lab.widget(0)
    widget.locator(".aether-node[data-node-id='short_7']").wait_for(timeout=10_000)
    assert widget.evaluate(_JS_OVERFLOWING) == []
    metas = widget.evaluate("(root) => [...root.querySelectorAll('.aether-node-meta')].map((e) => e.textContent)")
    assert any(m.startswith("Charge 250 E") and m.endswith("· 211 ms") for m in metas), metas
    assert any(m == "x=1 · 4 ms" for m in metas), metas  # short ones are left whole
    assert "▸ 20: 12 stopped · 8 done" in metas, metas[6:]  # a group's counts fit (its noun dropped first)
    # an empty answer (Enter in an empty box) was a blank blue pill
    assert widget.locator(".aether-bubble[data-turn='answer']").inner_text() == "(empty answer)"
    # context.sleep(): no text box to answer, the time it wakes and a button to wake it now
    sleeping = widget.locator("[data-wait-kind='time']")
    assert "Sleeping until" in sleeping.inner_text() and sleeping.locator("[data-action='wake']").count() == 1
    assert sleeping.locator("input").count() == 0
