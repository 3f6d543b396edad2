"""Driving a turn's run from the caller's side: answering its pauses with the caller's input, waiting until it
ends or pauses (a pause counts once no task is busy and every step of the run is parked or waits on steps inside
it, :mod:`aether_nb.flow.at_rest`, as LangGraph returns once every task of the superstep, a subgraph's with its
whole run, finished or paused), and turning the thread's head checkpoint into what ``ainvoke`` returns.
"""

from __future__ import annotations

import asyncio
import functools
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aether_nb.errors import RunFailed, UsageError, shown
from aether_nb.flow.at_rest import steps_at_rest
from aether_nb.flow.checkpoint import goto_at_head
from aether_nb.flow.default_names import moved_hint
from aether_nb.flow.edits import going_on_tasks, merge_at_pause
from aether_nb.flow.error_handlers import any_handler_names
from aether_nb.flow.left_open import ANSWERS_KEY, checked_answers, left_open
from aether_nb.flow.model_stream import stream_model_event
from aether_nb.flow.options import check_thread_id, interrupt_names
from aether_nb.flow.past_resume import answer_past_question
from aether_nb.flow.resume_values import resume_answers
from aether_nb.flow.resuming import drop_expected_outcomes, expect_after_start, forget_call, note_resuming_call
from aether_nb.flow.state import check_copyable, writes_of
from aether_nb.flow.streaming import checkpoint_payload, head_task_starts, task_result, update_of
from aether_nb.flow.threads import effective_values, pause_interrupts
from aether_nb.flow.turn_watch import TURN_ENDING, TurnWatch, settle_stop, settled, unwound
from aether_nb.flow.types import Command, EmptyInputError, Interrupt, InvokeResult
from aether_nb.runtime.codec import decode
from aether_nb.runtime.events import Event
from aether_nb.runtime.interrupted import stopped_turn, tell_caller
from aether_nb.runtime.launch import start_run
from aether_nb.runtime.run import Run
from aether_nb.runtime.slots import while_elsewhere

if TYPE_CHECKING:
    from aether_nb.flow.compiled import CompiledGraph
    from aether_nb.flow.engine import Engine
    from aether_nb.flow.streaming import Sink
    from aether_nb.runtime.session import Session
    from aether_nb.store.records import WaitRecord

DURABILITY = ("sync", "async", "exit")


async def continue_turn(
    graph: CompiledGraph,
    run: Run,
    thread_id: str,
    input: Any,
    command: Command[Any] | None,
    sink: Sink | None,
    pauses: list[tuple[str, Interrupt]] | None = None,
) -> Run:
    """Answer the pauses of the thread's run with this input (see :meth:`ainvoke`). ``pauses``: the run's open
    pauses, when the caller just read them (nothing awaited since)."""
    if pauses is None:
        pauses = graph.interrupts_of(run)
    if run.live and not pauses and run.cancel_requested:
        raise UsageError(
            f"thread {shown(thread_id)} is being stopped (run {run.id}), but a node of it has not ended yet (it "
            "ignores its cancellation); call again once it has (`await app.astop(config)` waits for it)",
            run_id=run.id,
            code="thread_busy",
        )
    if run.live and not pauses:
        raise UsageError(
            f"thread {shown(thread_id)} is running (run {run.id}); wait for that call to return, or stop it with "
            "`await app.astop(config)`",
            run_id=run.id,
            code="thread_busy",
        )
    dynamic = [(t, i) for t, i in pauses if i.kind == "interrupt"]
    answers = resume_answers(run, pauses, command.resume) if command is not None and command.resume is not None else []
    cp = graph.checkpointer_for(run.session)
    now = run.session.clock.now()
    if command is None and input is not None and (not isinstance(input, Mapping) or input):
        if dynamic:
            where = ", ".join(f"{i.node} ({i.id})" for _, i in dynamic)
            raise UsageError(
                f"thread {shown(thread_id)} is paused at interrupt() in {where}; resume it with "
                "ainvoke(Command(resume=value), config)",
                run_id=run.id,
                code="paused_at_interrupt",
            )
        head = cp.latest(thread_id)
        if head is not None:
            merge_at_pause(graph, cp, thread_id, head, input, [], run_id=run.id, now=now, as_input=True)
    if command is not None and (command.update is not None or command.goto_list()):
        head = cp.latest(thread_id)
        if head is not None:
            merge_at_pause(graph, cp, thread_id, head, command.update, command.goto_list(), run_id=run.id, now=now)
    if not dynamic:
        cp.latest(thread_id)  # (read as before: a head whose values left with the process that made it is refused)
    elif goto_at_head(cp, thread_id):
        graph.goto_runs.add(run.id)  # its paused superstep runs them when it goes on (see the engine)
    if sink is not None:
        graph.sinks[run.id] = sink
        latest = cp.latest(thread_id)
        sink("values", graph.spec.visible(latest.values) if latest is not None else {}, ())
        if latest is not None and (sink.wants("checkpoints") or sink.wants("tasks")):
            # as LangGraph: the checkpoint the turn goes on from, then the start of its tasks again
            sink("checkpoints", checkpoint_payload(graph, thread_id, "", latest), ())
            starts = head_task_starts(latest)
            for _, chunk in starts:
                sink("tasks", chunk, ())
            graph.announced[run.id] = {tid for tid, _ in starts}
        if latest is not None and sink.wants("updates"):
            # as LangGraph: the updates of the tasks of that superstep that had finished, marked cached
            for tid, done in latest.pending.items():
                if isinstance(done, dict) and "writes" in done:
                    update = update_of(graph.spec, writes_of(done["writes"]))
                    sink("updates", {tid.split("#", 1)[0]: update, "__metadata__": {"cached": True}}, ())
    # Answers first: a run that left memory resumes when answered and then starts with its answers (its waiting
    # nodes run once); one whose process (or loop) is gone is started again from its journal after.
    answered = False
    if command is not None and command.resume is not None:
        asked = {token: i.id for token, i in dynamic}
        engine = graph.engines.get(run.id) if run.live else None
        restarts = not run.live  # (an answer may resume a run that left memory: the others go to it too)
        for token, answer in answers:  # (checked above, before the input or update was merged)
            await _answer(graph, run, engine, restarts, asked.get(token), token, answer)
        graph.resumed_by_call.update(token for token, _ in pauses)
        answered = True
    elif not dynamic:
        for token, _ in pauses:
            await run.answer(None, token=token)
        answered = bool(pauses)
    if not run.live and (answered or not pauses):
        run = start_run(graph, run.inputs, run_id=run.id, session=run.session, hint="app.invoke(...)")
        if sink is not None:
            graph.sinks[run.id] = sink
    return run


async def _answer(
    graph: CompiledGraph,
    run: Run,
    engine: Engine | None,
    restarts: bool,
    interrupt_id: str | None,
    token: str,
    answer: Any,
) -> None:
    """Answer one pause. An ``interrupt()``: the call returns only once the task that asked has an outcome (see
    :mod:`aether_nb.flow.pauses`), registered first: it may finish while this awaits. Its task parked in this
    loop: told to its engine; a run no engine here runs (``restarts``: its loop or process is gone, or it left
    memory), which the answers start again: noted for the engine that run gets."""
    if interrupt_id is None or (engine is None and not restarts):
        await run.answer(answer, token=token)
        return
    if engine is not None:
        engine.expect_outcome(interrupt_id)
    else:
        expect_after_start(graph, run.id, interrupt_id)
    try:
        await run.answer(answer, token=token)
    except BaseException:
        if engine is not None:
            engine.drop_expected(interrupt_id)
        else:
            drop_expected_outcomes(graph, run.id, [interrupt_id])
        raise


async def until_pause(graph: CompiledGraph, run: Run, thread_id: str, sink: Sink | None) -> Any:
    watch = TurnWatch(keep_events=sink is not None)
    unsubscribe = run.subscribe(watch)
    if sink is not None and sink.wants("messages"):
        # at once, not as the watch hands events out: a task's deltas stream before its update, and the stream
        # it finished is known when it returns (the message with its text is not streamed again)
        unsubscribe_deltas = run.subscribe(functools.partial(stream_model_event, sink))
    else:
        unsubscribe_deltas = None
    pauses: list[tuple[str, Interrupt]] = []
    watched: Engine | None = None  # the engine whose answered tasks' outcomes poke the watch
    unwatch: Callable[[], None] | None = None
    try:
        check = True
        while not run.done:
            if check:
                pauses = graph.interrupts_of(run)
                engine = graph.engines.get(run.id)
                if engine is not watched:  # (a run that left memory and resumed has a new one)
                    if unwatch is not None:
                        unwatch()
                    watched, unwatch = engine, engine.on_outcome(watch.poke) if engine is not None else None
                # (a live run with no engine yet was just started again by this call: its tasks are to come)
                at_rest = engine is None and not run.live
                if pauses and (at_rest or (engine is not None and settled(engine, pauses) and steps_at_rest(engine))):
                    await run.session.store.barrier()  # a pause is returned once it survives the process
                    if run.live:  # and once the run says it waits (run.status agrees with the result)
                        await run.wait_for("waiting", "succeeded", "failed", "cancelled", timeout=None)
                    pauses = graph.interrupts_of(run)  # every wait of the superstep, now that all are written
                    break
                if not run.live:
                    break
            event = await watch.next()
            if event is not None:
                _stream_event(sink, event)
            check = event is None or event.kind in TURN_ENDING
        while sink is not None and watch.events:
            sink("debug", watch.events.popleft(), ())
    finally:
        unsubscribe()
        if unsubscribe_deltas is not None:
            unsubscribe_deltas()
        if unwatch is not None:
            unwatch()
    if run.done and run.status == "failed":
        try:
            await run.result()
        except RunFailed as exc:
            cause = exc.__cause__
            if isinstance(cause, Exception):
                cause.add_note(f"(aether_nb run {run.id}; the next ainvoke on thread {thread_id!r} retries it)")
                raise cause.with_traceback(cause.__traceback__) from cause.__cause__
            raise
    if pauses and sink is not None:
        stream_pause(graph, run, thread_id, tuple(pause_interrupts(pauses)), sink)
    return turn_result(graph, run, thread_id, pauses)


def _stream_event(sink: Sink | None, event: Event) -> None:
    """An event of the turn to a stream's ``debug`` mode (a model's streamed text goes to ``messages`` as it is
    emitted: :func:`~aether_nb.flow.model_stream.stream_model_event`)."""
    if sink is None:
        return
    sink("debug", event, ())


def stream_pause(graph: CompiledGraph, run: Run, thread_id: str, dynamic: tuple[Interrupt, ...], sink: Sink) -> None:
    """The chunks of a turn that paused, as LangGraph's: per task paused at ``interrupt()``, its interrupts
    (``updates``) and the state its superstep started from with them (``values``); then, if tasks of that
    superstep finished, the state with their writes. A breakpoint: ``{"__interrupt__": ()}``."""
    latest = graph.checkpointer_for(run.session).latest(thread_id)
    if not dynamic:
        sink("updates", {"__interrupt__": ()}, ())
    groups: dict[str, list[Interrupt]] = {}
    for i in dynamic:  # (an interrupt's id starts with the key of the top-level task it paused)
        groups.setdefault(str(i.id).split("/", 1)[0], []).append(i)
    before = graph.spec.visible(latest.values) if latest is not None else {}
    engine = graph.engines.get(run.id)
    for key, group in groups.items():
        if all(i.id in sink.asked for i in group):
            continue  # (streamed when its task asked)
        asked = tuple(group)
        sink("updates", {"__interrupt__": asked}, ())
        sink(
            "values",
            {**before, "__interrupt__": asked} if isinstance(before, Mapping) else {"__interrupt__": asked},
            (),
        )
        task = engine.task_at(key) if engine is not None and sink.wants("tasks") else None
        if task is not None:  # (the task that runs the subgraph that asked)
            sink("tasks", task_result(task.tid, task.node, [], interrupts=asked), ())
    if latest is not None and any(isinstance(v, dict) for v in latest.pending.values()):
        sink("values", graph.spec.visible(effective_values(graph, latest)), ())


def turn_result(graph: CompiledGraph, run: Run | None, thread_id: str, pauses: list[tuple[str, Interrupt]]) -> Any:
    if run is None or run.status == "succeeded":
        status = "completed"
    elif run.status == "cancelled":
        status = "stopped"
    else:
        status = "interrupted"
    latest = graph.checkpointer.latest(thread_id)
    values = effective_values(graph, latest) if latest is not None else {}
    if graph.spec.kind == "root":  # a single-value state: the value itself, as LangGraph returns it
        value = graph.spec.output(values)
        asked = pause_interrupts(pauses)
        if not asked:
            return value
        # paused at interrupt(): LangGraph's invoke adds the interrupts to a dict value, else returns only them
        return {**value, "__interrupt__": asked} if isinstance(value, Mapping) else {"__interrupt__": asked}
    msgs = values.get("messages")
    turn_msgs = list(msgs[latest.turn_start :]) if isinstance(msgs, list) and latest is not None else []
    return InvokeResult(
        graph.spec.output(values),
        status=status,  # type: ignore[arg-type]
        state=state_or_none(graph, values),
        messages=turn_msgs,
        interrupts=[i for _, i in pauses],
        dynamic=pause_interrupts(pauses),
        thread_id=thread_id,
        run_id=run.id if run is not None else "",
        next=tuple(latest.next) if latest is not None else (),
        all_values=graph.spec.visible(values),
    )


def state_or_none(graph: CompiledGraph, values: dict[str, Any]) -> Any:
    """``res.state``: the values as the schema's type, or None while they cannot build one (a pydantic or
    dataclass state whose required fields have no value yet; ``res`` itself still holds the values)."""
    try:
        return graph.spec.to_state(values)
    except Exception:
        return None


def asked_without_answer(graph: CompiledGraph, run: Run) -> bool:
    """Whether the thread's turn waits at an ``interrupt()`` (not at a breakpoint, which ``None`` continues)."""
    return any(i.kind == "interrupt" for _, i in graph.interrupts_of(run))


def abandon(graph: CompiledGraph, run: Run) -> None:
    """Stop a paused turn a call gives up on purpose: unlike a stop, it leaves no call ledger (the nodes it was
    running run again with their calls, as LangGraph re-runs them; see :mod:`aether_nb.flow.ledger`)."""
    if run.live:
        graph.abandoned_runs.add(run.id)  # (the engine forgets it when the run's body returns)
    run.cancel()


def as_command(input: Any) -> Command[Any] | None:
    if isinstance(input, Command):
        return input
    if isinstance(input, Mapping) and set(input) == {"resume"}:
        return Command(resume=input["resume"])
    return None


def breakpoint_option(given: Any, compiled: tuple[str, ...] | str) -> tuple[str, ...] | str:
    """A turn's ``interrupt_before``/``interrupt_after``: the call's (``"*"`` or names), else the compiled ones."""
    if given is None:
        return compiled
    return "*" if given == "*" else tuple(given)


def matches(option: tuple[str, ...] | str, node: str) -> bool:
    """Whether a breakpoint option (``"*"`` or names) covers ``node``."""
    return option == "*" or node in option


def call_breakpoints(
    where: str, nodes: Mapping[str, Any], before: Sequence[str] | str | None, after: Sequence[str] | str | None
) -> dict[str, Any]:
    """A call's ``interrupt_before``/``interrupt_after`` (checked as ``compile()`` checks them, a single name
    standing for a list of it, then against the nodes), kept in the run's inputs. An empty list is no option, as
    LangGraph reads it (``interrupt_before or compiled``): a call passing ``[]`` (no extra breakpoints this time)
    keeps the compiled breakpoints, so an approval gate set at ``compile()`` is never skipped by accident."""
    out: dict[str, Any] = {}
    for key, value in (("interrupt_before", before), ("interrupt_after", after)):
        names = interrupt_names(where, key, value, one_name=True)
        if names is None or len(names) == 0:
            continue
        handlers = any_handler_names(nodes)  # (LangGraph's error handler nodes: they never pause)
        unknown = [n for n in names if n != "*" and n not in nodes and n not in handlers] if names != "*" else []
        if unknown:
            raise UsageError(f"{key}: {unknown} are not nodes of the graph; nodes: {sorted(nodes)}")
        out[key] = names
    return out


def check_call_options(durability: str | None, kwargs: Mapping[str, Any]) -> None:
    """Check LangGraph's call options aether_nb accepts without using them. ``durability`` (and the deprecated
    ``checkpoint_during``, ``False`` being ``durability="exit"``) is accepted so LangGraph code runs, but every
    superstep is checkpointed with its journal entries whatever it says: ``"exit"`` warns that it is not honored."""
    if "checkpoint_during" in kwargs and durability is None:
        durability = "async" if kwargs["checkpoint_during"] else "exit"
    # (by type first: ``in`` compares a NumPy array elementwise, whose truth is a bare ValueError)
    if durability is not None and (not isinstance(durability, str) or durability not in DURABILITY):
        raise UsageError(f"durability must be one of {DURABILITY}, got {shown(durability)}")
    if durability == "exit":
        warnings.warn(
            "durability='exit' (or checkpoint_during=False) is not honored: aether_nb checkpoints every superstep "
            "with its journal, which is what lets a turn resume after a failure or a restart; "
            "get_state_history lists them all. Leave the option out to silence this warning",
            UserWarning,
            stacklevel=3,
        )
    if not isinstance(kwargs.get("subgraphs", False), bool):  # (ainvoke's: chunks with namespaces, as astream's)
        raise UsageError(f"subgraphs takes True or False, got {shown(kwargs['subgraphs'])}", code="bad_arguments")
    unknown = sorted(set(kwargs) - {"debug", "print_mode", "checkpoint_during", "subgraphs"})
    if unknown:
        raise UsageError(f"unexpected keyword argument(s) {unknown}; see help(CompiledGraph.ainvoke)")


def select_output(values: Any, output_keys: str | Sequence[str] | None) -> Any:
    """LangGraph's ``output_keys``: one key gives its value, several a dict of them (an interrupt stays)."""
    if output_keys is None or not isinstance(values, Mapping):
        return values
    if isinstance(output_keys, str):
        return values.get(output_keys)
    keys = [*output_keys, "__interrupt__"]
    return {k: values[k] for k in keys if k in values}


def no_running_loop(what: str, instead: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise UsageError(
        f"{what} cannot block inside a running event loop (a notebook cell or async code): use `{instead}`",
        code="use_await",
    )


def answered_pause(session: Session, run: Run | None, by_call: set[str]) -> WaitRecord | None:
    """The last pause (interrupt or breakpoint) of the thread's last turn, if it was answered elsewhere than by
    ``ainvoke`` (the run widget, ``run.answer``): a resume that arrives after such an answer gets that turn's result
    instead of an error. A second ``Command(resume=...)`` after one that was used is still "nothing to resume"."""
    if run is None:
        return None
    pauses = [
        w
        for w in session.store.list_waits(run.id, status=None)
        if isinstance(w.meta, dict) and w.meta.get("flow") and w.status == "answered"
    ]
    last = max(pauses, key=lambda w: w.created_at) if pauses else None
    return None if last is None or last.token in by_call else last


async def invoke_turn(
    graph: CompiledGraph,
    input: Any,
    config: Mapping[str, Any] | None,
    sink: Sink | None,
    context: Any,
    breakpoints: Mapping[str, Any] | None = None,
    *,
    parsed: tuple[str, dict[str, Any], int | None, str] | None = None,
) -> Any:
    """One ``ainvoke``/``astream`` call: continue the thread's paused run with this input, or start a new turn
    (a new run) from the thread's head or from the past checkpoint the config names; then wait until it ends or
    pauses. ``parsed``: ``config`` as ``graph.parse_config`` gave it, when the caller parsed it already."""
    thread_id, cfg, checkpoint_id, _ = parsed if parsed is not None else graph.parse_config(config)
    session = graph.session
    cp = graph.checkpointer_for(session)
    check_thread_id(thread_id, graph.name, cp.key)
    command = as_command(input)
    check_copyable(input if command is None else command.update, "the input")  # (before the thread is touched)
    has_resume = command is not None and command.resume is not None
    run = graph.current_run(session, thread_id)
    paused: list[tuple[str, Interrupt]] | None = None  # (its open pauses, when settle_stop read them)
    if run is not None and run.live and not run.done:
        paused = await settle_stop(graph, run)  # a turn a cancelled call (or a stream left early) is stopping ends
    going_on = run is not None and not run.done
    # the head is decoded only when needed: continuing a paused run does not (a resume of a thousand threads
    # decoded a thousand heads for nothing)
    latest = None if going_on and checkpoint_id is None else cp.latest(thread_id)
    # a config naming a past checkpoint runs a branch from it (time travel); with Command(resume=...) it means
    # "answer the pause" (a snapshot's config at hand), so the thread's paused run is resumed
    travel = checkpoint_id is not None and not has_resume and (latest is None or checkpoint_id != latest.id)
    if run is not None and not run.done and travel:
        abandon(graph, run)  # running again from an older checkpoint abandons the pause at the head
    elif run is not None and not run.done and input is None and asked_without_answer(graph, run):
        # ainvoke(None, config) at an interrupt() pause: as LangGraph, the paused nodes run again without an
        # answer (a node that no longer asks completes; one that asks pauses again), their calls too. The paused
        # turn is stopped (its finished tasks' results stay on the checkpoint) and a new turn goes on from the
        # thread's head
        abandon(graph, run)
        paused = None  # (read again, should the turn still be going on)
        if run.live:
            await run.wait_for("cancelled", "succeeded", "failed", timeout=None)
        latest = cp.latest(thread_id)
    if run is not None and not run.done and not travel:
        graph.contexts[run.id] = context  # the resumed nodes run with this call's context (as LangGraph)
        graph.limits[run.id] = int(cfg.get("recursion_limit") or graph.recursion_limit)  # and its recursion limit
        note_resuming_call(graph, run.id, cfg)  # and its checkpoints' metadata (as LangGraph's)
        run = await continue_turn(graph, run, thread_id, input, command, sink, paused)
    else:
        carried: list[list[Any]] = []
        if has_resume and run is not None and run.status in ("failed", "cancelled") and latest is not None:
            assert command is not None  # questions the turn left open: a new turn answers them (as LangGraph)
            opens = left_open(session, latest)
            if opens:
                given = resume_answers(run, [(o.interrupt.id, o.interrupt) for o in opens], command.resume)
                carried = checked_answers(session, opens, given)
                checkpoint_id = None  # (a snapshot's config at hand means the thread's head, as for a live pause)
        branched = False
        past = checkpoint_id if latest is not None and checkpoint_id != latest.id else None
        if has_resume and not carried and run is not None and past is not None:
            assert command is not None  # a past checkpoint's question: a branch from it answers it (as LangGraph)
            branch = answer_past_question(graph, run, thread_id, past, command)
            if branch is not None:
                (carried, latest), checkpoint_id, branched = branch, None, True
        if has_resume and not carried:
            answered = answered_pause(session, run, graph.resumed_by_call)
            if run is None or answered is None:
                why = ""
                if run is not None and run.status == "failed":
                    why = (
                        f"; its last turn failed ({shown(run.error, 200)}) with no question open. "
                        "`await app.ainvoke(None, config)` runs the failed node again"
                    )
                elif run is not None and run.status == "cancelled" and latest is not None and latest.tasks:
                    why = (
                        "; its last turn was stopped with no question open. `await app.ainvoke(None, config)` runs "
                        "its pending nodes again"
                    )
                if run is None and latest is None:  # (a thread this graph never held: under its earlier name?)
                    why = moved_hint(graph, thread_id)
                raise UsageError(
                    f"Nothing to resume: thread {shown(thread_id)} is not paused at an interrupt{why}",
                    code="no_interrupt",
                )
            # answered meanwhile (in the run's widget): the turn went on; its result is what this call asks for
            assert command is not None
            if decode(answered.answer) != command.resume:
                warnings.warn(
                    f"the pause of thread {thread_id!r} was already answered with {decode(answered.answer)!r} "
                    f"(in the widget, or by another call); the resume value {command.resume!r} was not used",
                    UserWarning,
                    stacklevel=4,
                )
            return await until_pause(graph, run, thread_id, sink)
        start_input: Any = input
        if command is not None:
            if latest is None:
                raise UsageError(
                    f"thread {shown(thread_id)} is new: a Command has nothing to act on{moved_hint(graph, thread_id)}",
                    code="no_input",
                )
            base = cp.get(thread_id, checkpoint_id) if checkpoint_id is not None else latest
            assert base is not None
            if base.id != latest.id:  # a branch from a past checkpoint: its tasks run afresh (see flow.ledger)
                base = replace(base, ran={})
            # (the new head: a goto on a finished thread runs its target in this call, as in LangGraph; a resume
            # alone writes none, as LangGraph's)
            if not branched and (not carried or command.update is not None or command.goto_list()):
                latest = merge_at_pause(
                    graph,
                    cp,
                    thread_id,
                    base,
                    command.update,
                    command.goto_list(),
                    run_id=None,
                    now=session.clock.now(),
                )
            start_input, checkpoint_id = None, None
        if start_input is None and checkpoint_id is None and (latest is None or not going_on_tasks(latest)):
            if latest is None:
                raise EmptyInputError(
                    f"thread {shown(thread_id)} is new: give it an input, e.g. ainvoke({{...}}, config)"
                    f"{moved_hint(graph, thread_id)}",
                    code="no_input",
                )
            if sink is not None:  # nothing pending: the thread's state as it is (a stream's one values chunk)
                sink("values", graph.spec.visible(latest.values), ())
            return turn_result(graph, None, thread_id, [])
        rec = cp.get_thread(thread_id) or {}
        turn = int(rec.get("turn", 0)) + 1
        run_id = f"{graph.name}-{thread_id}-{turn}" + (f"-{cp.key}" if cp.key else "")
        cp.put_thread(thread_id, {"turn": turn, "run_id": run_id})
        inputs = graph.storable_inputs(
            run_id,
            {
                "thread_id": thread_id,
                "input": start_input,
                "config": cfg,
                "checkpoint_id": checkpoint_id,
                **(breakpoints or {}),
                **({ANSWERS_KEY: carried} if carried else {}),
            },
        )
        if sink is not None:
            graph.sinks[run_id] = sink
        graph.contexts[run_id] = context
        run = start_run(
            graph, inputs, run_id=run_id, session=session, hint="app.invoke(...)", meta={"thread_id": thread_id}
        )
    try:
        return await while_elsewhere(until_pause(graph, run, thread_id, sink))  # (a tool awaiting it: see slots)
    except asyncio.CancelledError as exc:
        # as in LangGraph, cancelling the call (or leaving astream early) stops the turn: its running nodes
        # are cancelled, the pending ones stay in the checkpoint, and ainvoke(None, config) goes on; the call
        # raises once the turn has unwound (its finished tasks' writes kept), so that next call goes on at once
        if run.cancel():
            tell_caller(exc, stopped_turn(graph.name, thread_id))
        await unwound(run, exc)
        raise
    finally:
        graph.sinks.pop(run.id, None)
        if sink is not None:
            sink.release()  # (after run.cancel(): an engine waiting for the reader is stopped, not woken)
        if run.done:
            graph.contexts.pop(run.id, None)
            graph.limits.pop(run.id, None)
            forget_call(graph, run.id)
