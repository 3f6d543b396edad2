"""One status vocabulary: Python and the widget agree, containers show where they are or how they ended, finished runs
show no life."""

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


def _own(node: dict[str, object], run: str) -> str:
    """A node's own status as the run's end leaves it (an unfinished node of a finished run is stopped)."""
    s = str(node["status"])
    return s if run not in status.FINISHED_RUN or s in status.FINAL_NODE else "CANCELLED"


@given(nodes_st, st.sampled_from(RUN_STATUSES))
def test_an_ended_node_shows_how_it_ended_and_a_live_one_its_most_urgent_live_descendant(
    spec: list[tuple[str, int]], run: str
) -> None:
    nodes = _graph(spec)
    shown = status.shown_statuses(nodes, run)
    kids: dict[object, list[dict[str, object]]] = {}
    for n in nodes:
        kids.setdefault(n["parent"], []).append(n)

    def subtree(nid: object) -> list[dict[str, object]]:
        out, stack = [], list(kids.get(nid, []))
        while stack:
            n = stack.pop()
            out.append(n)
            stack.extend(kids.get(n["id"], []))
        return out

    for n in nodes:
        own = _own(n, run)
        if own in status.FINAL_NODE:
            assert shown[n["id"]] == own  # an ended container never takes a colour from inside it
            continue
        live = [_own(d, run) for d in subtree(n["id"]) if status.is_live(_own(d, run))]
        expected = max([own, *live], key=status.severity)
        assert status.severity(shown[n["id"]]) == status.severity(expected)
        assert status.tone(shown[n["id"]]) != "failed"  # a live node never shows a failure it may still handle


@given(nodes_st, st.sampled_from(sorted(status.FINISHED_RUN)))
def test_a_finished_run_shows_nothing_running_or_waiting(spec: list[tuple[str, int]], run: str) -> None:
    shown = status.shown_statuses(_graph(spec), run)
    assert all(status.tone(s) not in ("running", "waiting", "pending") for s in shown.values())


def test_a_recovered_failure_stays_on_its_call_and_a_parked_interrupt_waits() -> None:
    nodes = [
        {"id": "run_tools_1", "status": "DONE", "parent": None},
        {"id": "book_1", "status": "FAILED", "parent": "run_tools_1"},
        {"id": "superstep_2", "status": "RUNNING", "parent": None},
        {"id": "interrupt_1", "status": "WAITING_HUMAN", "parent": "superstep_2"},
        {"id": "run_tools_3", "status": "RUNNING", "parent": None},
        {"id": "stock_1", "status": "FAILED", "parent": "run_tools_3"},
        {"id": "refund_1", "status": "RUNNING", "parent": "run_tools_3"},
        {"id": "approve_1", "status": "WAITING_HUMAN", "parent": "refund_1"},
    ]
    shown = status.shown_statuses(nodes, "waiting")
    assert shown["run_tools_1"] == "DONE"  # it handled the failure and finished: done, not "failed" beside the run
    assert shown["book_1"] == "FAILED"  # the call itself shows what happened to it
    assert shown["superstep_2"] == "WAITING_HUMAN"
    assert shown["run_tools_3"] == shown["refund_1"] == "WAITING_HUMAN"  # waiting, though a call inside failed
    assert status.failure(nodes[:4]) == nodes[1]
    assert status.failure([{"id": "a", "status": "DONE", "parent": None}]) is None
    # a failure that ends its container shows on the container too
    ended = [{"id": "agent", "status": "FAILED", "parent": None}, {"id": "t", "status": "FAILED", "parent": "agent"}]
    assert status.shown_statuses(ended, "failed") == {"agent": "FAILED", "t": "FAILED"}


@given(st.lists(st.sampled_from(NODE_STATUSES), min_size=1, max_size=12))
def test_a_group_of_calls_is_live_while_a_member_is_then_shows_its_worst(members: list[str]) -> None:
    shown = status.group_status(members)
    assert shown is not None
    if any(status.is_live(m) for m in members):
        assert status.is_live(shown)
        assert status.severity(shown) == max(status.severity(m) for m in members if status.is_live(m))
    else:
        assert status.severity(shown) == max(status.severity(m) for m in members)
