"""The evening of ``tests/scenarios/evening.py`` in a real kernel, through nbclient: the notebook a person would
write, executed cell by cell with a kernel restart while a graphify node waits, then saved. Answers are given from
cells (the browser test gives them in the widgets). Asserted: what the cells print, which effects happened (once),
what the store holds, and that the API key reached neither the store nor the saved notebook.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.util import run_sync

from tests.scenarios import evening as ev

pytestmark = pytest.mark.kernel


def printed(cell: Any, head: str) -> Any:
    """The JSON a cell printed after ``head``. The cell's stdout is read whole, as the notebook shows it: the kernel
    may send one ``print`` in two stream messages (its flush timer fired between the print's writes)."""
    stdout = "".join(
        o["text"] for o in cell.get("outputs", []) if o.get("output_type") == "stream" and o.get("name") == "stdout"
    )
    for line in stdout.splitlines():
        if line.startswith(head + " "):
            return json.loads(line[len(head) + 1 :])
    raise AssertionError(f"no {head} line in {cell.get('outputs')}")


def text(cell: Any) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out["text"])
        elif out.get("output_type") in ("execute_result", "display_data"):
            parts.append(out.get("data", {}).get("text/plain", ""))
        elif out.get("output_type") == "error":
            parts.append("\n".join(out.get("traceback", [])))
    return "".join(parts)


def test_an_evening_with_mcp_promotion_artifacts_sql_and_a_restart(tmp_path: Path) -> None:
    at_result, at_dinner = ev.CELLS.index(ev.RESULT), ev.CELLS.index(ev.DINNER_RESULT)
    before = [*ev.CELLS[:at_result], 'await run.answer("slow")', *ev.CELLS[at_result:at_dinner], "await d.answer('4')"]
    before += ev.CELLS[at_dinner:]
    after = [ev.SETUP, ev.REATTACH, ev.RESUME, 'await t.answer("Approve")', ev.TRIP_RESULT]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in before + after]
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    cells = nb.cells
    with client.setup_kernel():
        for i in range(len(before)):
            client.execute_cell(cells[i], i)
        assert client.km is not None and client.kc is not None
        run_sync(client.km.restart_kernel)(now=False)  # Kernel -> Restart, while trip-bergen waits
        run_sync(client.kc.wait_for_ready)(timeout=60)
        for i in range(len(before), len(cells)):
            client.execute_cell(cells[i], i)
        client.set_widgets_metadata()  # what nbclient's execute() does when it ends: the widgets' state, saved

    by = {c.source: c for c in cells}
    errors = [(i, text(c)) for i, c in enumerate(cells) if any(o.get("output_type") == "error" for o in c.outputs)]
    assert errors == [], errors
    noise = [(i, text(c)) for i, c in enumerate(cells) if "Task was destroyed" in text(c) or "Traceback" in text(c)]
    assert noise == [], noise

    assert printed(by[ev.RESULT], "RESULT") == {
        "plan": "a slow day in Oslo (Oslo: 12 C, drizzle), 184.0 EUR to spend",
        "budget": 184.0,
    }
    source = text(by[ev.PROMOTE])
    assert ev.KEY not in source and "read_env_1 = _ag_read_env(name='WEATHER_API_KEY')" in source
    assert "rates_rate_1 = rates.rate(base='USD', quote='EUR', _after=[forecast_1])" in source
    assert "redefined" not in source, "no tool changed between the run and its promotion (MCP tools included)"
    assert "convert_1 = convert(usd=usd, rate=rates_rate_1.rate)" in source
    assert printed(by[ev.PROMOTED], "PROMOTED") == printed(by[ev.RESULT], "RESULT")
    assert text(by[ev.REDEFINE]).startswith("# forecast was redefined after run oslo-day: the graph calls its current")

    failing = text(by[ev.FAILING])
    assert "FX failed" in failing and "no rate for USD/JPY" in failing, failing
    assert printed(by[ev.DINNER_RESULT], "DINNER") == {"table": "table for 4 at Maaemo"}

    keeper = printed(by[ev.KEEPER], "KEEPER")
    assert keeper["hits"][0] == "Oslo trip was rainy" and keeper["visits"] == 1
    assert keeper["listed"] == ["chart.png"], "the chart sent to the chat stays pinned and labelled"

    sql = text(by[ev.SQL])
    assert printed(by[ev.SQL], "LEAKS") == [], sql
    assert "chart.png  True" in sql and '{"topic":"Oslo"}' in sql  # (JSON columns are compact: orjson wrote it)
    assert "rates.rate_1" in sql and "ask_text_1" in sql

    runs = text(by[ev.REATTACH])
    assert "trip-bergen" in runs and "waiting for you" in runs
    assert printed(by[ev.TRIP_RESULT], "TRIP") == {"booking": "booked Bergen (Bergen: 54 F, drizzle)", "approved": True}
    effects = printed(by[ev.TRIP_RESULT], "EFFECTS")
    # Once each, across the promotion (replayed against the journal), the promoted run, and the restart.
    assert effects.count("forecast Oslo") == 2, effects  # the agent's run and the promoted graph's run
    assert effects.count("convert 200.0") == 2 and effects.count("plan Oslo") == 2, effects
    assert effects.count("forecast-v2 Bergen") == 1 and effects.count("book Bergen") == 1, effects
    server = printed(by[ev.TRIP_RESULT], "SERVER")
    assert server == [["rate", "EUR"], ["rate", "EUR"], ["rate", "JPY"], ["reserve", "Maaemo"]], server

    path = tmp_path / "evening.ipynb"
    nbformat.write(nb, path)
    saved = nbformat.read(path, as_version=4)
    for cell in saved.cells:
        cell.source = ""  # the person typed the key into the setup cell; nothing else may hold it
    assert ev.KEY not in json.dumps(saved), "the key reached the saved notebook's outputs or widget state"
    assert saved.metadata.get("widgets"), "the run widgets' state is saved with the notebook"
