"""One status vocabulary: Python and the widget agree, groups show their worst member, finished runs show no life."""

from __future__ import annotations

import json
import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from aether_nb.runtime import status

STATUS_TS = Path(__file__).resolve().parents[2] / "js" / "lib" / "status.ts"
NODE_STATUSES = list(status.NODE_WORDS)
RUN_STATUSES = list(status.RUN_WORDS)


def _ts_record(name: str) -> dict[str, str]:
    text = STATUS_TS.read_text()
    body = re.search(rf"export const {name}: Record<string, string> = \{{(.*?)\}};", text, re.S)
    assert body, f"{name} not found in {STATUS_TS}"
    return dict(re.findall(r"(\w+): \"([^\"]+)\"", body.group(1)))


def test_the_widget_uses_the_same_words_and_tones_as_python() -> None:
    assert _ts_record("NODE_WORDS") == status.NODE_WORDS
    assert _ts_record("RUN_WORDS") == status.RUN_WORDS
    tones = re.search(r"export const TONES = \[(.*?)\] as const;", STATUS_TS.read_text(), re.S)
    assert tones and json.loads(f"[{tones.group(1)}]") == list(status.TONES)


def test_no_raw_enum_is_ever_shown() -> None:
    for s in [*NODE_STATUSES, *RUN_STATUSES, "SOMETHING_NEW"]:
        shown = status.words(s)
        assert shown == shown.lower() and "_" not in shown, (s, shown)
    assert status.words("WAITING_HUMAN") == "waiting for you"
    assert status.words("CANCELLED") == status.words("cancelled") == "stopped"


nodes_st = st.lists(
    st.tuples(st.sampled_from(NODE_STATUSES), st.integers(min_value=-1, max_value=30)), min_size=1, max_size=30
)


def _graph(spec: list[tuple[str, int]]) -> list[dict[str, object]]:
    """Nodes n0..nk; each parent index points to an earlier node (or none), so the nesting is a forest."""
    return [{"id": f"n{i}", "status": s, "parent": f"n{p}" if 0 <= p < i else None} for i, (s, p) in enumerate(spec)]


@given(nodes_st, st.sampled_from(RUN_STATUSES))
def test_a_container_shows_its_worst_descendant_and_nothing_better(spec: list[tuple[str, int]], run: str) -> None:
    nodes = _graph(spec)
    shown = status.shown_statuses(nodes, run)
    parent = {n["id"]: n["parent"] for n in nodes}
    for n in nodes:
        # every ancestor shows at least as bad a status as this node shows
        p = parent[n["id"]]
        while p is not None:
            assert status.severity(shown[p]) >= status.severity(shown[n["id"]])
            p = parent[p]
        # and a node shows exactly its own (finished-adjusted) status when nothing inside is worse
        assert status.severity(shown[n["id"]]) >= status.severity(
            n["status"] if run not in status.FINISHED_RUN or n["status"] in status.FINAL_NODE else "CANCELLED"
        )


@given(nodes_st, st.sampled_from(sorted(status.FINISHED_RUN)))
def test_a_finished_run_shows_nothing_running_or_waiting(spec: list[tuple[str, int]], run: str) -> None:
    shown = status.shown_statuses(_graph(spec), run)
    assert all(status.tone(s) not in ("running", "waiting", "pending") for s in shown.values())


def test_a_recovered_failure_colours_its_container_and_a_parked_interrupt_waits() -> None:
    nodes = [
        {"id": "run_tools_1", "status": "DONE", "parent": None},
        {"id": "book_1", "status": "FAILED", "parent": "run_tools_1"},
        {"id": "superstep_2", "status": "RUNNING", "parent": None},
        {"id": "interrupt_1", "status": "WAITING_HUMAN", "parent": "superstep_2"},
    ]
    shown = status.shown_statuses(nodes, "waiting")
    assert shown["run_tools_1"] == "FAILED"
    assert shown["superstep_2"] == "WAITING_HUMAN"
    assert status.failure(nodes) == nodes[1]
    assert status.failure([{"id": "a", "status": "DONE", "parent": None}]) is None
