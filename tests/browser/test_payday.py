"""A person's night with aether_nb in JupyterLab: a banking agent whose data holds a PIN-like number, a run of
a few hundred steps, an approval in the widget across a kernel restart, and a failing transfer. Screenshots land
in test-artifacts/ (payday_*.png).

What it guards (found this wave): a numeric credential (``BANK_PIN_PASSWORD=48213957``) that a tool returns as a
JSON number used to be masked as a bare ``[REDACTED]``, which made the JSON invalid and the run's history unreadable
(the widget after the restart, ``ag.store().sql``); the store's background apply of a long run froze the kernel's
loop in long stretches. Here the run is resumed after a restart, approved in the widget, its effects happen once,
and the PIN reaches neither the store, nor the saved notebook.
"""

from __future__ import annotations

import json

import pytest
from labdriver import LabServer, OpenNotebook, shot
from playwright.sync_api import Locator

pytestmark = pytest.mark.browser

PIN = "48213957"

SETUP = """\
import os
os.environ["BANK_PIN_PASSWORD"] = open(".bank_pin").read().strip()  # a secret kept out of the notebook
%load_ext aether_nb
import aether_nb as ag
from aether_nb.testing import FakeOpenAI

def rules(body):
    if body["messages"][-1]["role"] == "user":
        return {"tool_calls": [
            {"name": "balance", "arguments": {"account": "checking"}},
            {"name": "statement", "arguments": {"account": "checking"}},
        ]}
    return "Salary arrived: **3,200**. Rent and groceries are the big items; 500 can go to savings."

fake = FakeOpenAI(rules=rules).start()
ag.configure(llm={"base_url": fake.base_url, "model": "gpt-4o-mini"})
"""

AGENT = """\
EFFECTS = "bank_effects.txt"

def effect(line):
    with open(EFFECTS, "a") as f:
        f.write(line + "\\n")

@ag.tool(outputs=["balance", "card"])
def balance(account: str) -> dict:
    \"\"\"The account's balance.\"\"\"
    effect(f"balance {account}")
    return {"balance": 3200, "card": {"last4": "4242", "pin": int(os.environ["BANK_PIN_PASSWORD"])}}

@ag.tool(outputs=["lines"])
def statement(account: str) -> dict:
    \"\"\"This month's statement.\"\"\"
    effect(f"statement {account}")
    return {"lines": [{"what": w, "amount": a} for w, a in [("rent", -1400), ("groceries", -310), ("salary", 3200)]]}

@ag.tool(outputs=["category"])
async def categorize(i: int) -> dict:
    effect(f"categorize {i}")
    return {"category": ["rent", "food", "fun"][i % 3]}

@ag.tool(outputs=["receipt"])
def transfer(to: str, amount: int) -> dict:
    effect(f"transfer {to} {amount}")
    if to == "broker":
        raise RuntimeError(f"transfer to {to} refused: account not verified")
    return {"receipt": f"{amount} -> {to}"}

@ag.graph_fn(name="payday", outputs=["summary", "receipt"])
async def payday(*, context: ag.NodeContext):
    ch = context.channel()
    result = await context.llm().run_tools(
        [{"role": "user", "content": "What happened in my account this month?"}], tools=[balance, statement]
    )
    await context.memory().record("summary", {"text": result.text})
    cats = [(await categorize(i))["category"] for i in range(240)]
    await ch.send_markdown(f"{result.text}\\n\\n{cats.count('fun')} fun purchases.")
    ok, _ = await ch.ask_approval("Move 500 to savings?", options=["Move it", "Not now"])
    receipt = (await transfer("savings", 500))["receipt"] if ok else ""
    return {"summary": result.text, "receipt": receipt}
"""

START = """\
run = payday.start(run_id="payday-dec")
print(await run.wait_for("waiting", timeout=90))
"""

REATTACH = """\
run = ag.get_run("payday-dec")
run
"""

BROKER = """\
@ag.graph_fn(name="invest")
async def invest(*, context: ag.NodeContext):
    await transfer("broker", 200)
    return {}

bad = invest.start()
"""

REPORT = """\
print("RESULT", json.dumps(await run))
from collections import Counter
done = Counter(open(EFFECTS).read().splitlines())
print("EFFECTS", json.dumps({e: n for e, n in done.items() if not e.startswith("categorize ")}))
print("CATEGORIZED", json.dumps({"distinct": sum(e.startswith("categorize ") for e in done),
                                 "repeated": [e for e, n in done.items() if n > 1 and e.startswith("categorize ")]}))
nodes = ag.store().sql("select count(*) from nodes where run_id = 'payday-dec'").rows[0][0]
like = "%" + os.environ["BANK_PIN_PASSWORD"] + "%"
leaks = ag.store().sql(
    "select (select count(*) from events where data like ?) + (select count(*) from journal where value like ?)"
    " + (select count(*) from nodes where outputs like ?) + (select count(*) from memory where data like ?)",
    [like, like, like, like],
).rows[0][0]
print("STORE", json.dumps({"nodes": nodes, "leaks": leaks}))
%aether runs
"""

_ROOT = ".jp-NotebookPanel:not(.lm-mod-hidden)"


def _shot(locator: Locator, label: str) -> None:
    shot(locator, label)


def _printed(text: str, head: str) -> object:
    line = next(x for x in text.splitlines() if x.startswith(head + " "))
    return json.loads(line[len(head) + 1 :])


def test_a_payday_night_with_a_numeric_secret_a_restart_and_an_approval(
    lab_server: LabServer, open_page: OpenNotebook
) -> None:
    name = "payday.ipynb"
    (lab_server.root_dir / ".bank_pin").write_text(PIN + "\n")
    lab = open_page(lab_server, name, [SETUP, AGENT, START, REATTACH, BROKER, "import json\n" + REPORT])
    lab.run_cell(0)
    lab.run_cell(1)
    lab.run_cell(2, timeout=120)
    widget = lab.widget(2)
    widget.locator("[data-wait-kind='approval']").wait_for(timeout=60_000)
    assert widget.get_attribute("data-run-status") == "waiting"
    assert PIN not in (widget.text_content() or ""), "the PIN is masked in the widget too"
    notice = widget.locator(".aether-notice, .aether-warning").first.text_content() or ""
    assert "holds a secret" in (widget.text_content() or ""), notice
    _shot(widget, "payday_01_waiting")

    lab.restart_kernel()
    lab.wait_in_widget(2, "(root) => root.dataset.inert === 'true'", timeout=30)

    lab.run_cell(0)
    lab.run_cell(1)
    lab.run_cell(3, timeout=60)
    live = lab.widget(3)
    # the history after the restart is readable: the steps before the pause are drawn from the store
    live.locator("[data-wait-kind='approval'] button[data-option='Move it']").click(timeout=30_000)
    lab.wait_in_widget(3, "(root) => root.dataset.runStatus === 'succeeded'", timeout=90)
    assert live.locator(".aether-bubble[data-turn='answer']", has_text="Move it").count() == 1
    assert PIN not in (live.text_content() or "")
    _shot(live, "payday_02_approved_after_restart")

    lab.run_cell(4, timeout=60)
    failed = lab.widget(4)
    lab.wait_in_widget(4, "(root) => root.dataset.runStatus === 'failed'", timeout=60)
    failed.locator(".aether-reason").wait_for(timeout=15_000)
    assert "account not verified" in failed.locator(".aether-reason").inner_text()
    _shot(failed, "payday_03_refused_transfer")

    lab.run_cell(5, timeout=90)
    printed = lab.output_text(5)
    result = _printed(printed, "RESULT")
    assert isinstance(result, dict) and result["receipt"] == "500 -> savings"
    assert "Salary arrived" in result["summary"]
    effects = _printed(printed, "EFFECTS")  # effect -> how many times it happened
    assert isinstance(effects, dict)
    # balance's result held the PIN, so it was not journaled and ran again on resume (the widget said its step
    # would); statement, inside the same run_tools, was journaled and replayed: it ran once, as did the rest
    assert effects["balance checking"] == 2 and effects["statement checking"] == 1
    assert effects["transfer savings 500"] == 1 and effects["transfer broker 200"] == 1
    categorized = _printed(printed, "CATEGORIZED")
    assert categorized == {"distinct": 240, "repeated": []}, "every step once, across the restart"
    store = _printed(printed, "STORE")
    assert store == {"nodes": store["nodes"], "leaks": 0} and store["nodes"] >= 243  # type: ignore[index]
    table = lab.output(5)
    table.locator("text=payday-dec").first.wait_for(timeout=30_000)
    _shot(table, "payday_04_runs_table")

    lab.page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    lab.page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30_000)
    saved = (lab_server.root_dir / name).read_text()
    assert PIN not in saved, "the PIN is not in the saved notebook"
    root = lab_server.root_dir  # the store file, DuckDB's WAL and the history log's segments
    store_files = [p for p in root.rglob("*") if p.is_file() and ".duckdb" in str(p.relative_to(root))]
    assert store_files, "the notebook's store file exists"
    for path in store_files:
        assert PIN.encode() not in path.read_bytes(), f"the PIN is not in {path.name}"
