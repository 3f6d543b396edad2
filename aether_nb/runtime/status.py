"""One status vocabulary: the words a person reads for run and node statuses, everywhere.

The runtime keeps its precise enums (``WAITING_HUMAN``, ``FAILED_TIMEOUT``, ``cancelled``...); what the widget, the
static SVG, the text summary and the transcript show comes from here, so they never disagree. ``js/lib/status.ts``
mirrors this module: keep both in step (a unit test compares them).

Three rules decide what a node *shows* (:func:`shown_statuses`):

* a node that contains others (a nested agent, ``run_tools``, a superstep) shows where it is while it is live and how
  it ended once it has ended: a live container shows the most urgent live state among itself and its descendants
  (a superstep parked on ``interrupt()`` is "waiting for you", not "running"), a finished one shows its own status.
  A failure the container handled (a flaky tool whose error went to the model) stays red on the failed call itself
  and in the container's tally, and never tints the container: "failed" beside a run that waits or is done would
  contradict the run;
* in a finished run nothing is still running or waiting: an unfinished node shows "stopped", so "failed" never
  appears beside a live wait;
* a group of sibling calls (``search ×12``) is live while any member is (its most urgent live state), else it shows
  its worst member (severity, best to worst: done, skipped, stopped, pending, running, waiting, failed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

NODE_WORDS: dict[str, str] = {
    "PENDING": "pending",
    "RUNNING": "running",
    "WAITING_HUMAN": "waiting for you",
    "WAITING_EXTERNAL": "waiting (external)",
    "WAITING_TIME": "waiting (timer)",
    "WAITING_EVENT": "waiting (event)",
    "DONE": "done",
    "FAILED": "failed",
    "FAILED_TIMEOUT": "timed out",
    "SKIPPED": "skipped",
    "CANCELLED": "stopped",
}
"""Node status -> the words shown for it."""

RUN_WORDS: dict[str, str] = {
    "pending": "starting",
    "running": "running",
    "waiting": "waiting for you",
    "succeeded": "done",
    "failed": "failed",
    "cancelled": "stopped",
}
"""Run status -> the words shown for it."""

BODY_WORDS: dict[str, str] = {
    "running": "body still running",
    "returned": "body returned later",
    "raised": "body raised later",
    "ended": "body ended later",
}
"""A node's sync body given up on (``GraphNode.body``: Stop or a timeout, which Python cannot stop) -> the words its
box shows under its status (``js/lib/dag_view.ts``' ``BODY_LINES`` says the same)."""

CUT_OFF = "cut off (the kernel stopped while it ran)"
"""What a run is said to be whose stored status is ``running`` or ``pending`` while nothing executes it (the process
that executed it stopped): ``%aether runs`` and ``run.wait_for`` say it in these words. Its stored status stays as it
was, since resuming it goes on from its last completed step."""

TONES = ("done", "skipped", "stopped", "pending", "running", "waiting", "failed")
"""Colour families, best to worst: a group shows the worst tone among its members."""

TONE_COLORS: dict[str, tuple[str, str]] = {
    "done": ("#2e7d32", "#e8f3e9"),
    "skipped": ("#9e9e9e", "#f5f5f5"),
    "stopped": ("#757575", "#eeeeee"),
    "pending": ("#9e9e9e", "#ffffff"),
    "running": ("#1e88e5", "#e3effc"),
    "waiting": ("#f59e0b", "#fdf0d9"),
    "failed": ("#c62828", "#f9e0e0"),
}
"""Tone -> (stroke, fill) for drawings that cannot use the widget's CSS (the static SVG)."""

FINAL_NODE = frozenset({"DONE", "FAILED", "FAILED_TIMEOUT", "SKIPPED", "CANCELLED"})
LIVE_TONES = frozenset({"pending", "running", "waiting"})
FINISHED_RUN = frozenset({"succeeded", "failed", "cancelled"})


def tone(status: str) -> str:
    """The colour family of a node or run status (``"unknown"`` for anything else)."""
    upper = (status or "").upper()
    if upper.startswith("WAITING"):
        return "waiting"
    return {
        "PENDING": "pending",
        "RUNNING": "running",
        "DONE": "done",
        "SUCCEEDED": "done",
        "FAILED": "failed",
        "FAILED_TIMEOUT": "failed",
        "SKIPPED": "skipped",
        "CANCELLED": "stopped",
    }.get(upper, "unknown")


def severity(status: str) -> int:
    """How bad a status is (higher is worse); unknown statuses rank below everything."""
    t = tone(status)
    return TONES.index(t) if t in TONES else -1


def words(status: str) -> str:
    """What to show for a node or run status (unknown statuses are lower-cased, never shown raw)."""
    return NODE_WORDS.get(status) or RUN_WORDS.get(status) or (status or "").lower().replace("_", " ")


def cut_off(status: str, live: bool) -> bool:
    """Whether a run of ``status``, (not) ``live`` in this process, was cut off (see :data:`CUT_OFF`)."""
    return status in ("running", "pending") and not live


def cut_off_hint(run_id: str) -> str:
    """What a view of a cut-off run says under its status (see :data:`CUT_OFF`): nothing executes it, so there is
    nothing to stop or answer, and how to go on (a widget showing it "running" with a Stop button and a ticking
    clock contradicted ``%aether runs``)."""
    return (
        "Nothing executes this run now: the kernel that ran it stopped. `await run` resumes it from its last "
        f"completed step (`%aether resume {run_id}` resumes it and shows it)."
    )


def not_becoming(run_id: str, status: str, wanted: Iterable[str]) -> str:
    """Why a run nothing executes will not reach one of the ``wanted`` statuses (``run.wait_for``'s error), and how
    to go on. It said "run r is running and not executing" of a run cut off by a restart: two states at once, and
    nothing to do."""
    becoming = "finish" if set(wanted) == FINISHED_RUN else "become " + " or ".join(sorted(wanted))
    if status in FINISHED_RUN:
        return f"run {run_id} has ended ({status}), so it will not {becoming}: `await run` gives its outcome"
    if status == "waiting":
        return (
            f"run {run_id} waits for an answer and nothing executes it now, so it will not {becoming} until it "
            "is answered: `await run.answer(...)` resumes it (`run.waits` lists its questions)"
        )
    cut = f"run {run_id} was {CUT_OFF}: its status still says {status} but nothing executes it now, so it will not"
    if set(wanted) <= FINISHED_RUN:
        return (
            f"{cut} {becoming}. `await run` resumes it from its last completed step and returns its outputs "
            f"(`%aether resume {run_id}` resumes it and shows it)"
        )
    return (
        f"{cut} {becoming}. `run.resume()` (or `%aether resume {run_id}`) goes on from its last completed "
        f"step, then `await run.wait_for({', '.join(repr(w) for w in sorted(wanted))})`; `await run` resumes it and "
        "returns its outputs"
    )


def worst(statuses: Iterable[str]) -> str | None:
    """The worst of some statuses, or None when there are none."""
    best: str | None = None
    for s in statuses:
        if best is None or severity(s) > severity(best):
            best = s
    return best


def is_live(status: str) -> bool:
    """Whether a node or run status is still going (pending, running or waiting)."""
    return tone(status) in LIVE_TONES


def group_status(statuses: Iterable[str]) -> str | None:
    """What a group of sibling calls shows: its most urgent live member's status while any is live, else its worst."""
    members = list(statuses)
    return worst(s for s in members if is_live(s)) or worst(members)


def shown_statuses(nodes: Sequence[Mapping[str, Any]], run_status: str, *, executing: bool = True) -> dict[str, str]:
    """The status each node shows (see the module docstring): ``{node_id: status}``, runtime status names.

    Args:
        nodes: dicts with ``id``, ``status`` and ``parent`` (the ``RunGraph.to_dict()`` shape).
        run_status: the run's status (a finished run shows no live node).
        executing: False for a run that was cut off (:func:`cut_off`): nothing executes it, so, as in a finished
            run, its unfinished nodes show "stopped" until it is resumed.
    """
    finished = run_status in FINISHED_RUN or not executing
    own: dict[str, str] = {}
    children: dict[str, list[str]] = {}
    order: list[str] = []
    for n in nodes:
        nid = str(n["id"])
        status = str(n.get("status") or "")
        if finished and status not in FINAL_NODE:
            status = "CANCELLED"
        own[nid] = status
        order.append(nid)
        parent = n.get("parent")
        if parent is not None:
            children.setdefault(str(parent), []).append(nid)
    shown: dict[str, str] = {}

    def visit(nid: str) -> str:
        status = own[nid]
        if status in FINAL_NODE or nid not in children:
            return status
        # A live container: the most urgent live state in its subtree (iterative: deep nesting must not recurse).
        stack = [nid]
        seen = {nid}
        while stack:
            current = stack.pop()
            for child in children.get(current, ()):
                if child in seen or child not in own:
                    continue
                seen.add(child)
                if is_live(own[child]) and severity(own[child]) > severity(status):
                    status = own[child]
                stack.append(child)
        return status

    for nid in order:
        shown[nid] = visit(nid)
    return shown


def failure(nodes: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The node that explains a failed run: the last failed node without failed children (the deepest cause).

    Returns the node dict, or None when no node failed (the run's body raised between steps).
    """
    failed = [n for n in nodes if tone(str(n.get("status") or "")) == "failed"]
    if not failed:
        return None
    parents = {str(n.get("parent")) for n in failed if n.get("parent") is not None}
    leaves = [n for n in failed if str(n["id"]) not in parents]
    return (leaves or failed)[-1]
