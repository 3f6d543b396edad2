"""Starting runs: the one path from "call this agent with these inputs" to a :class:`Run` task.

Shared by graph_fn, graphify graphs and state graphs, so they agree on idempotent run ids: an unfinished run with
the id is resumed (its completed steps replayed), a finished one is returned as it is (a failed one re-executed
only with ``retry_failed``), and the same id with other inputs or another agent is a :class:`UsageError`. Made by a
run's own code, a start is a journaled step of that run whose value is the id (:mod:`~aether_nb.runtime.child_runs`),
so a resumed body gets the run it started, never a second one.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aether_nb.errors import UsageError, shown
from aether_nb.runtime.checks import check_depth, check_run_id
from aether_nb.runtime.child_runs import start_in_run
from aether_nb.runtime.codec import NotEncodable, encode, fingerprint
from aether_nb.runtime.executors import check_executor
from aether_nb.runtime.registry import Runnable
from aether_nb.runtime.run import Run
from aether_nb.runtime.session import Session, default_session
from aether_nb.runtime.storable import inputs_are_durable
from aether_nb.store.records import RunRecord
from aether_nb.store.redact import register_credential_inputs


def check_resume_mode(resume_mode: Any) -> bool:
    """Whether ``resume_mode`` asks to run a failed run's failed steps again (``"failed_nodes"``); None: no."""
    # (by type first: `in` compares with ==, which a NumPy array answers with an array that has no truth value)
    if resume_mode is not None and (not isinstance(resume_mode, str) or resume_mode != "failed_nodes"):
        raise UsageError(
            f"resume_mode must be None or 'failed_nodes' (run a failed run's failed steps again), got "
            f"{shown(resume_mode)}",
            code="bad_resume_mode",
        )
    return resume_mode is not None


def start_run(
    target: Runnable,
    inputs: dict[str, Any],
    *,
    run_id: str | None,
    session: Session | None,
    hint: str,
    meta: dict[str, Any] | None = None,
    retry_failed: bool = False,
    executor: Any = None,
    asked: dict[str, Any] | None = None,
) -> Run:
    """Start (or resume, or return) the run of ``target`` with ``inputs``; see the module docstring.

    ``asked``: the run options (``meta["options"]``) the caller passed explicitly. A run keeps the options it
    started with, so a resume asking for others is refused rather than silently run with the stored ones.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise UsageError(
            f"{target.name}.start() needs a running event loop (a notebook, or async code); in a script use {hint}",
            code="no_loop",
        ) from None
    if session is not None and not isinstance(session, Session):
        raise UsageError(f"session must be an aether_nb Session, got {type(session).__name__}")
    chosen = check_executor(executor, f"{target.name}.start()")
    session = session or default_session()
    check_depth(inputs, f"the inputs of {target.name}")
    register_credential_inputs(inputs)  # (a password it is given, quoted by its error or outputs, is masked there too)
    try:
        fp = fingerprint(inputs)
    except NotEncodable as exc:
        raise UsageError(f"the inputs of {target.name} cannot be stored: {exc}", code="inputs_not_storable") from exc
    if run_id is not None:
        check_run_id(run_id)
    child = start_in_run(target, inputs, run_id, session)
    if child is not None:  # made by a run's code: the run this step started (or starts now, under the id journaled)
        run_id, meta = child.run_id, {**(meta or {}), **child.meta}
    if run_id is not None:
        record = session.store.get_run(run_id)
        if record is not None:
            if record.kind != target.kind or record.graph != target.name:
                raise UsageError(
                    f"run_id {shown(run_id)} belongs to {record.kind} {shown(record.graph)}, not {shown(target.name)}; "
                    "pick another run_id",
                    run_id=run_id,
                    code="run_id_taken",
                )
            if record.inputs_fingerprint != fp:
                raise UsageError(
                    f"run {shown(run_id)} was started with other inputs ({record.inputs}); resume it with the "
                    "same inputs, or use a new run_id for new inputs",
                    run_id=run_id,
                    code="inputs_mismatch",
                )
            run = session.get_run(run_id)
            executes = not run.done or (retry_failed and run.status == "failed")
            if executes and asked:
                _check_options(record, asked)
            if not run.live and executes:
                run.start_execution(target, inputs, resumed=True, executor=chosen)
            elif child is None or not child.replayed:  # (a replayed body's start: nothing for the notebook to show)
                session.returned(run)
            return run
    else:
        run_id = session.new_run_id()
    try:
        stored_inputs = encode(inputs)
    except NotEncodable as exc:
        raise UsageError(
            f"the inputs of {target.name} cannot be stored ({exc}), so the run could not be resumed; "
            "pass JSON-friendly or picklable values",
            code="inputs_not_storable",
        ) from exc
    now = session.clock.now()
    record = RunRecord(
        run_id=run_id,
        graph=target.name,
        status="pending",
        inputs=stored_inputs,
        inputs_fingerprint=fp,
        created_at=now,
        updated_at=now,
        kind=target.kind,
        # inputs holding a secret are stored redacted, so such a run cannot be resumed in a new process
        meta={**(meta or {}), "durable_inputs": inputs_are_durable(stored_inputs)},
    )
    session.store.put_run(record)
    run = Run(session, record)
    run.start_execution(target, inputs, resumed=False, executor=chosen)
    return run


def _check_options(record: RunRecord, asked: dict[str, Any]) -> None:
    """Refuse options that differ from those the run started with: its resume would ignore them."""
    stored = dict((record.meta or {}).get("options") or {})
    changed = [k for k, v in asked.items() if stored.get(k) != v]
    if not changed:
        return
    given = ", ".join(f"{k}={shown(asked[k])}" for k in changed)
    kept = ", ".join(f"{k}={shown(stored.get(k))}" for k in changed)
    raise UsageError(
        f"run {shown(record.run_id)} started with {kept}: a run keeps its options when it is resumed (a resume after "
        f"a restart must run as the run started), so {given} would be ignored. Resume it without them (start(..., "
        f"run_id={record.run_id!r}) or the same call without {', '.join(changed)}), or start a new run (another "
        "run_id) with the new options",
        run_id=record.run_id,
        code="options_changed",
    )
