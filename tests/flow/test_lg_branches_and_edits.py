"""Branches and edits side by side with LangGraph (skipped without it): a past checkpoint run again, copied or
given a ``Command`` runs every one of its tasks again (none of its old results, answers or errors is kept), while
the thread's own head still goes on with what its finished tasks wrote; edits write any key of the state; an edit
of the root while a subgraph inside it waits reaches that subgraph; ``interrupt()`` outside a graph is a
``RuntimeError`` as LangGraph's."""

from __future__ import annotations

import operator
import threading
from collections.abc import Mapping
from typing import Annotated, Any, TypedDict

import pytest

import aether_nb.flow as ours
from aether_nb.errors import UsageError
from tests.flow.conftest import both, lg_names, thread


class Log(TypedDict):
    log: Annotated[list[str], operator.add]
    v: str


def _xyz(calls: list[str], *, fail_y: bool = False, kept: Mapping[str, threading.Event] | None = None) -> Any:
    """``x``, ``y`` and ``z`` in one superstep from START; ``y`` asks (or, ``fail_y``, fails while ``calls`` holds
    no ``"fixed"``); each notes its run in ``calls``.

    ``fail_y``: y fails only once ``kept["x"]`` and ``kept["z"]`` are set, i.e. once x's and z's results are kept
    (otherwise which of them the next call runs again is a race, in either library: that race is not what is
    compared here). Without ``kept``, x and z set their own as they begin: aether_nb waits for a sync node its
    thread has begun and keeps its result (``SyncCall``); for LangGraph's, pass the events of :func:`_saver`."""

    begun = kept is None
    events = kept if kept is not None else {n: threading.Event() for n in "xz"}

    def build(lib: Any) -> Any:
        def node(name: str) -> Any:
            def run(s: Log) -> dict[str, Any]:
                calls.append(name)
                if name != "y":
                    if begun:
                        events[name].set()
                    return {"log": [name]}
                if fail_y:
                    if "fixed" not in calls:
                        for n, e in events.items():
                            if not e.wait(timeout=30):
                                raise TimeoutError(f"{n}'s result was never kept")
                        raise ValueError("y fails")
                    return {"log": ["y"]}
                return {"log": [lib.interrupt("q")]}

            return run

        b = lib.StateGraph(Log)
        for n in "xyz":
            b.add_node(n, node(n))
            b.add_edge(lib.START, n)
        return b

    return build


def _saver(lg: Any, kept: Mapping[str, threading.Event]) -> Any:
    """LangGraph's ``InMemorySaver`` that sets ``kept[n]`` once node ``n``'s writes are saved.

    LangGraph keeps a finished task's result only then: its future's done callback saves the writes, and when a
    sibling failed meanwhile, that callback can run after the superstep's executor shut down ("cannot schedule
    new futures after shutdown", logged): the writes are lost and the next call runs the task again (under CPU
    load, about one run in four of the failed turn's head: ``['x', 'y'] != ['y']``)."""

    class Saver(lg.InMemorySaver):
        def put_writes(self, config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
            super().put_writes(config, writes, task_id, task_path)
            saved = [tuple(w) for w in writes]
            for n, e in kept.items():
                if ("log", [n]) in saved:
                    e.set()

    return Saver()


def _values(r: Any) -> dict[str, Any]:
    """A result as plain values (interrupts by their value)."""
    out = dict(r)
    if "__interrupt__" in out:
        out["__interrupt__"] = [i.value for i in out["__interrupt__"]]
    return out


def _asked_then_answered(lib: Any, g: Any) -> Any:
    """Run the thread to y's question, answer it, and return the checkpoint the three tasks started from."""
    g.invoke({"log": []}, thread())
    g.invoke(lib.Command(resume="Y!"), thread())
    return next(s for s in g.get_state_history(thread()) if s.next == ("x", "y", "z"))


def _side_by_side(run: Any, *, fail_y: bool = False) -> tuple[Any, Any]:
    lg_calls: list[str] = []
    our_calls: list[str] = []
    lg = lg_names()
    kept = {n: threading.Event() for n in "xz"}
    theirs = run(lg, _xyz(lg_calls, fail_y=fail_y, kept=kept)(lg).compile(checkpointer=_saver(lg, kept)), lg_calls)
    mine = run(ours, _xyz(our_calls, fail_y=fail_y)(ours).compile(checkpointer="memory"), our_calls)
    return theirs, mine


def test_a_past_checkpoint_run_again_runs_every_task_again_and_asks_again_as_langgraph() -> None:
    """``invoke(None, <past checkpoint's config>)`` where ``y`` asked and was answered later: LangGraph runs x, y
    and z again and y asks again. aether_nb ran nothing and returned the old answer's results (the checkpoint's
    stored results of that superstep were reused on the branch)."""

    def run(lib: Any, g: Any, calls: list[str]) -> Any:
        past = _asked_then_answered(lib, g)
        calls.clear()
        r = g.invoke(None, past.config)
        head = g.get_state(thread())
        return sorted(calls), _values(r), head.next, [i.value for i in head.interrupts]

    theirs, mine = _side_by_side(run)
    assert mine == theirs
    assert mine == (["x", "y", "z"], {"log": ["x", "z"], "__interrupt__": ["q"]}, ("y",), ["q"])


def test_a_branch_answered_again_takes_the_new_answer() -> None:
    """The branch's question is a new one: ``Command(resume=...)`` on the thread answers it with the new value."""

    def run(lib: Any, g: Any, calls: list[str]) -> Any:
        past = _asked_then_answered(lib, g)
        g.invoke(None, past.config)
        return _values(g.invoke(lib.Command(resume="again"), thread()))

    theirs, mine = _side_by_side(run)
    assert mine == theirs == {"log": ["x", "again", "z"]}


def test_a_past_checkpoint_of_sends_runs_every_send_again_as_langgraph() -> None:
    """The same with ``Send`` tasks: every joke is made again and the asking one asks again."""

    class Jokes(TypedDict):
        subjects: list[str]
        jokes: Annotated[list[str], operator.add]

    calls: dict[str, list[str]] = {"lg": [], "ours": []}

    def build(lib: Any) -> Any:
        mine = calls["lg" if lib is not ours else "ours"]

        def joke(s: dict[str, Any]) -> dict[str, Any]:
            mine.append(s["subject"])
            if s["subject"] == "b":
                return {"jokes": [f"j-{lib.interrupt('which b?')}"]}
            return {"jokes": [f"j-{s['subject']}"]}

        b = lib.StateGraph(Jokes)
        b.add_node("gen", lambda s: {"subjects": ["a", "b", "c"]})
        b.add_node("joke", joke)
        b.add_edge(lib.START, "gen")
        b.add_conditional_edges("gen", lambda s: [lib.Send("joke", {"subject": x}) for x in s["subjects"]], ["joke"])
        return b

    def run(lib: Any, g: Any) -> Any:
        g.invoke({"subjects": []}, thread())
        g.invoke(lib.Command(resume="B!"), thread())
        past = next(s for s in g.get_state_history(thread()) if "joke" in s.next)
        mine = calls["lg" if lib is not ours else "ours"]
        mine.clear()
        r = g.invoke(None, past.config)
        return sorted(mine), _values(r)

    theirs, mine = both(build, run)
    assert mine == theirs
    assert mine == (
        ["a", "b", "c"],
        {"subjects": ["a", "b", "c"], "jokes": ["j-a", "j-c"], "__interrupt__": ["which b?"]},
    )


def test_a_copy_of_a_past_checkpoint_has_no_old_results_and_runs_every_task_again() -> None:
    """``update_state(past, None, as_node="__copy__")``: LangGraph's copy shows no task results, interrupts or
    errors, and running it runs x, y and z again; aether_nb's copy carried the old results and ran nothing."""

    def run(lib: Any, g: Any, calls: list[str]) -> Any:
        past = _asked_then_answered(lib, g)
        copied = g.update_state(past.config, None, as_node="__copy__")
        snap = g.get_state(copied)
        calls.clear()
        r = g.invoke(None, copied)
        tasks = [(t.name, t.result, [i.value for i in t.interrupts], t.error) for t in snap.tasks]
        return snap.next, tasks, sorted(calls), _values(r)

    theirs, mine = _side_by_side(run)
    assert mine == theirs
    assert mine[1] == [(n, None, [], None) for n in "xyz"]
    assert mine[2:] == (["x", "y", "z"], {"log": ["x", "z"], "__interrupt__": ["q"]})


def test_a_command_at_a_past_checkpoint_runs_every_task_again() -> None:
    """``invoke(Command(update=...), <past checkpoint's config>)``: a branch too, every task runs again."""

    def run(lib: Any, g: Any, calls: list[str]) -> Any:
        past = _asked_then_answered(lib, g)
        calls.clear()
        r = g.invoke(lib.Command(update={"v": "e"}), past.config)
        return sorted(calls), _values(r)

    theirs, mine = _side_by_side(run)
    assert mine == theirs
    assert mine == (["x", "y", "z"], {"log": ["x", "z"], "v": "e", "__interrupt__": ["q"]})


def test_a_past_checkpoint_where_a_sibling_failed_runs_every_task_again() -> None:
    """From a past checkpoint whose superstep failed in ``y`` (x and z finished there): LangGraph runs all three
    again; aether_nb ran only ``y``."""

    def run(lib: Any, g: Any, calls: list[str]) -> Any:
        with pytest.raises(ValueError, match="y fails"):
            g.invoke({"log": []}, thread())
        g.update_state(thread(), None, as_node=lib.END)
        past = next(s for s in g.get_state_history(thread()) if s.next == ("x", "y", "z"))
        calls.clear()
        calls.append("fixed")
        r = g.invoke(None, past.config)
        return sorted(c for c in calls if c != "fixed"), _values(r)

    theirs, mine = _side_by_side(run, fail_y=True)
    assert mine == theirs
    assert mine == (["x", "y", "z"], {"log": ["x", "y", "z"]})


def test_the_head_of_a_failed_turn_still_goes_on_with_its_finished_tasks_writes() -> None:
    """Not a branch: ``invoke(None, config)`` on the failed thread's head runs only ``y``, as LangGraph's."""

    def run(lib: Any, g: Any, calls: list[str]) -> Any:
        with pytest.raises(ValueError, match="y fails"):
            g.invoke({"log": []}, thread())
        calls.clear()
        calls.append("fixed")
        r = g.invoke(None, thread())
        return sorted(c for c in calls if c != "fixed"), _values(r)

    theirs, mine = _side_by_side(run, fail_y=True)
    assert mine == theirs
    assert mine == (["y"], {"log": ["x", "y", "z"]})


def test_a_past_checkpoint_on_the_stores_checkpointer_runs_every_task_again(checkpointer: str) -> None:
    """The branch rule with the notebook's store too (the checkpoints are read back from DuckDB)."""
    calls: list[str] = []
    g = _xyz(calls)(ours).compile(checkpointer=checkpointer)
    past = _asked_then_answered(ours, g)
    calls.clear()
    r = g.invoke(None, past.config)
    assert (sorted(calls), _values(r)) == (["x", "y", "z"], {"log": ["x", "z"], "__interrupt__": ["q"]})


class In(TypedDict):
    question: str


class Out(TypedDict):
    answer: str


class Overall(In, Out):
    notes: str


class Private(TypedDict):
    secret: str


def _io(*, pause_before_b: bool = False) -> Any:
    """``StateGraph(Overall, input_schema=In, output_schema=Out)``: ``a`` writes the private ``secret``, ``b``
    reads it."""

    def build(lib: Any) -> Any:
        def a(s: In) -> Private:
            return {"secret": s["question"] + "!"}

        def b_(s: Private) -> Out:
            return {"answer": s["secret"] + "?"}

        b = lib.StateGraph(Overall, input_schema=In, output_schema=Out)
        b.add_node("a", a)
        b.add_node("b", b_)
        b.add_edge(lib.START, "a")
        b.add_edge("a", "b")
        return b

    return build


def test_update_state_writes_keys_outside_the_input_schema_as_langgraph() -> None:
    """``update_state`` of keys the input schema lacks (``notes``, ``answer``): LangGraph writes them; aether_nb
    dropped them with a warning."""

    def run(lib: Any, g: Any) -> Any:
        g.invoke({"question": "hi"}, thread())
        g.update_state(thread(), {"notes": "N", "answer": "edited"})
        return g.get_state(thread()).values

    theirs, mine = both(_io(), run)
    assert mine == theirs
    assert mine == {"question": "hi", "answer": "edited", "notes": "N", "secret": "hi!"}


def test_update_state_writes_a_private_key_which_the_next_node_reads() -> None:
    def run(lib: Any, g: Any) -> Any:
        g.invoke({"question": "hi"}, thread())
        g.update_state(thread(), {"secret": "S"}, as_node="a")
        return g.get_state(thread()).values["secret"], dict(g.invoke(None, thread()))

    theirs, mine = both(_io(), run)
    assert mine == theirs == ("S", {"answer": "S?"})


def test_a_command_update_at_a_breakpoint_writes_a_private_key() -> None:
    def build(lib: Any) -> Any:
        return _io()(lib)

    lg = lg_names()
    results = []
    for lib, saver in ((lg, lg.InMemorySaver()), (ours, "memory")):
        g = build(lib).compile(checkpointer=saver, interrupt_before=["b"])
        g.invoke({"question": "hi"}, thread())
        results.append(dict(g.invoke(lib.Command(update={"secret": "CMD"}), thread())))
    assert results[1] == results[0] == {"answer": "CMD?"}


def test_a_turns_input_still_writes_only_the_input_schemas_keys() -> None:
    """The input maps to the input schema's keys only (LangGraph drops the others silently, aether_nb warns)."""

    def run(lib: Any, g: Any) -> Any:
        g.invoke({"question": "hi", "notes": "N"}, thread())
        return "notes" in g.get_state(thread()).values

    with pytest.warns(UserWarning, match="notes"):
        theirs, mine = both(_io(), run)
    assert mine == theirs is False


def _waiting_subgraph(lib: Any) -> Any:
    def c1(s: Log) -> dict[str, Any]:
        answer = lib.interrupt("approve " + s["v"] + "?")
        return {"log": [answer + ":" + s["v"]]}

    inner = lib.StateGraph(Log)
    inner.add_node("c1", c1)
    inner.add_edge(lib.START, "c1")
    b = lib.StateGraph(Log)
    b.add_node("sub", inner.compile())
    b.add_edge(lib.START, "sub")
    return b


@pytest.mark.parametrize("edit", [{"v": "parent-edit"}, {"v": "parent-edit", "log": ["E"]}])
def test_a_root_edit_while_its_subgraph_waits_reaches_the_subgraph(edit: dict[str, Any]) -> None:
    """``update_state`` on the root while the subgraph's node waits at ``interrupt()``, then the answer: LangGraph's
    subgraph runs again on the edited state. aether_nb's subgraph resumed on its old state and its output
    overwrote the edit (``{'log': ['A:orig'], 'v': 'orig'}``)."""

    def run(lib: Any, g: Any) -> Any:
        g.invoke({"log": [], "v": "orig"}, thread())
        g.update_state(thread(), edit)
        return dict(g.invoke(lib.Command(resume="A"), thread()))

    theirs, mine = both(_waiting_subgraph, run)
    assert mine == theirs
    assert mine["v"] == "parent-edit"
    assert mine["log"][-1] == "A:parent-edit"


def test_a_command_update_with_the_answer_leaves_the_waiting_subgraph_as_langgraph() -> None:
    """``Command(resume=..., update=...)`` does not route again: LangGraph's subgraph resumes on its own state and
    its output wins; so does aether_nb's."""

    def run(lib: Any, g: Any) -> Any:
        g.invoke({"log": [], "v": "orig"}, thread())
        return dict(g.invoke(lib.Command(resume="A", update={"v": "parent-edit"}), thread()))

    theirs, mine = both(_waiting_subgraph, run)
    assert mine == theirs == {"log": ["A:orig"], "v": "orig"}


def test_interrupt_outside_a_graph_is_a_runtime_error_as_langgraphs() -> None:
    """Code written for LangGraph catches ``RuntimeError``; aether_nb's error is also a ``UsageError``."""
    lg = lg_names()
    with pytest.raises(RuntimeError):
        lg.interrupt("x")
    with pytest.raises(RuntimeError, match="inside a node") as caught:
        ours.interrupt("x")
    assert isinstance(caught.value, UsageError)
    assert caught.value.code == "no_node"


def test_an_input_given_at_a_breakpoint_writes_only_the_input_schemas_keys() -> None:
    """An input given to a thread paused at a breakpoint is an input (its private keys dropped, with a warning),
    not an edit: only ``update_state`` and ``Command(update=...)`` write any key."""
    lg = lg_names()
    results = []
    for lib, saver in ((lg, lg.InMemorySaver()), (ours, "memory")):
        g = _io()(lib).compile(checkpointer=saver, interrupt_before=["b"])
        g.invoke({"question": "hi"}, thread())
        if lib is ours:
            with pytest.warns(UserWarning, match="'secret', which the input schema does not declare"):
                g.invoke({"question": "hi", "secret": "IN"}, thread())
        else:
            g.invoke({"question": "hi", "secret": "IN"}, thread())
        results.append(g.get_state(thread()).values.get("secret"))
    assert results[1] != "IN"
    assert results[0] != "IN"
