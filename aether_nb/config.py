"""The notebook's session: built once, configured with :func:`configure`, queried with :func:`runs`/:func:`get_run`.

This is the one process-wide object (STYLE: no other hidden singletons). Everything a run needs is reached
through it and passed down explicitly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aether_nb.errors import UsageError, shown
from aether_nb.runtime import session as _session
from aether_nb.runtime.session import Session

# Only what installing the default-session factory needs is imported here: ``import aether_nb`` imports this
# module, and the services, the scheduler and the run machinery are loaded when first used (W6, import time).
if TYPE_CHECKING:
    from aether_nb.runtime.clock import Clock
    from aether_nb.runtime.run import Run
    from aether_nb.services import ChannelAdapter
    from aether_nb.store.protocol import Store

_RESERVED_SERVICE_NAMES = frozenset(
    {
        "channel",
        "memory",
        "kv",
        "artifacts",
        "logger",
        "llm",
        "mcp",
        "svc",
        "step",
        "wait",
        "run",
        "session",
        "graph",
        "run_id",
        "node_id",
        "scope",
        "sleep",
    }
)
"""Every public name of ``NodeContext`` (``tests/services/test_odd_inputs.py`` keeps the two in step): a service
registered under one of them would be hidden by the built-in, and ``context.<name>()`` would fail with a bare
TypeError."""


def _open_store(spec: Any) -> Store:
    from aether_nb.store.memory import MemoryStore
    from aether_nb.store.protocol import Store

    if isinstance(spec, Store):
        return spec
    if spec is None or (isinstance(spec, str) and spec == ":memory:"):  # (by type first: an array's == is an array)
        return MemoryStore()
    if isinstance(spec, (str, os.PathLike)) and str(spec).strip():
        from aether_nb.runtime.checks import check_text
        from aether_nb.store.duckdb import DuckDBStore  # lazy: duckdb is heavy and only needed for files

        check_text(os.fspath(spec), "the store path", max_len=4096)
        return DuckDBStore(spec)
    raise UsageError(
        f"store must be a file path, ':memory:' or a Store object, got {shown(spec)}",
        code="bad_store",
    )


def _same_file(spec: Any, current: Any) -> bool:
    """Whether ``spec`` names the DuckDB file ``current`` (the session's store) has open already (and not closed:
    ``ag.store().close()`` then ``ag.configure(store=<the same file>)``, what the closed store's error says to do,
    opens it again)."""
    if not isinstance(spec, (str, os.PathLike)) or str(spec).strip() in ("", ":memory:"):
        return False
    if getattr(getattr(current, "inner", current), "closed", False) is True:
        return False
    location = getattr(current, "location", None)
    if not isinstance(location, str) or location == ":memory:":
        return False
    try:
        return os.path.realpath(os.fspath(spec)) == os.path.realpath(location)
    except (TypeError, ValueError, OSError):  # (an odd path: _open_store says what is wrong with it)
        return False


STORE_SUFFIX = ".aether.duckdb"
"""What a notebook's store file is named after the notebook's own name (``analysis.ipynb``:
``analysis.aether.duckdb``)."""


def notebook_path(
    env: Mapping[str, str] | None = None, user_ns: dict[str, Any] | None = None, cwd: str | os.PathLike[str] = "."
) -> Path | None:
    """The notebook this kernel runs for, or None (a console, a script).

    Found from VS Code's ``__vsc_ipynb_file__`` (in the kernel's namespace), else from Jupyter's
    ``JPY_SESSION_NAME`` (the notebook's path; a relative one is taken from the kernel's working directory, which
    Jupyter sets to the notebook's folder).
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    base = Path(cwd)
    candidates = [(user_ns or {}).get("__vsc_ipynb_file__"), environ.get("JPY_SESSION_NAME")]
    for raw in candidates:
        if not isinstance(raw, str) or not raw.strip():
            continue
        nb = Path(raw)
        if nb.suffix != ".ipynb":
            continue
        return nb if nb.is_absolute() and nb.parent.is_dir() else base / nb.name
    return None


def notebook_store_path(
    env: Mapping[str, str] | None = None, user_ns: dict[str, Any] | None = None, cwd: str | os.PathLike[str] = "."
) -> Path:
    """Where a notebook's store lives: ``<notebook>.aether.duckdb`` beside the notebook (see :func:`notebook_path`);
    without a notebook, ``./aether.duckdb``."""
    nb = notebook_path(env, user_ns, cwd)
    if nb is None:
        return Path(cwd) / "aether.duckdb"
    return nb.parent / (nb.stem + STORE_SUFFIX)


def build_default_session() -> Session:
    """The default session: in-memory store (``AETHER_NB_STORE`` may name a DuckDB file), console channel."""
    from aether_nb.services import install_builtin_services

    return install_builtin_services(Session(_open_store(os.environ.get("AETHER_NB_STORE") or None)))


_session.set_default_session_factory(build_default_session)


STORE_OPENED = "store_opened"
"""The session config's list of callables run after ``configure(store=...)`` opened another store (the notebook
extension reports there which runs of the new store wait for an answer or were cut off)."""


def session() -> Session:
    """The notebook's session (built on first use)."""
    return _session.default_session()


class _Unchanged:
    """The default of ``configure(max_concurrency=...)``: not given, the cap stays as it is. Why not None, the
    default of the other options: None is a value of this one (no cap), and ``configure(max_concurrency=None)``
    was silently ignored, leaving no way back to an uncapped session."""

    def __repr__(self) -> str:
        return "<unchanged>"


_UNCHANGED = _Unchanged()


def _refuse_unknown_options(unknown: Mapping[str, Any]) -> None:
    """Raise the UsageError for ``ag.configure``'s unknown keywords, naming the closest valid option and all."""
    import difflib
    import inspect

    valid = [p.name for p in inspect.signature(configure).parameters.values() if p.kind is p.KEYWORD_ONLY]
    names = sorted(unknown)
    close = difflib.get_close_matches(names[0], valid, n=1)
    hint = f" (did you mean {close[0]}=?)" if close else ""
    given = ", ".join(shown(n) for n in names)
    option = "options" if len(names) > 1 else "option"
    raise UsageError(
        f"ag.configure() has no {option} {given}{hint}; its options: {', '.join(valid)}", code="bad_arguments"
    )


def configure(
    *,
    store: Any = None,
    channel: ChannelAdapter | None = None,
    clock: Clock | None = None,
    llm: Any = None,
    max_concurrency: int | _Unchanged | None = _UNCHANGED,
    durability: str | None = None,
    max_live_waiting: int | None = None,
    mcp: Mapping[str, Any] | None = None,
    nested_sync: bool | None = None,
    executor: Any = None,
    widgets_per_cell: int | None = None,
    **unknown: Any,
) -> None:
    """Change the notebook's store, channel adapter, clock, LLM profile(s), MCP servers or executor.

    Returns nothing, so ``ag.configure(...)`` as a cell's last line prints nothing (``ag.session()`` is the
    session, ``ag.store()`` the store).

    Args:
        store: a DuckDB file path, ``":memory:"``, or a :class:`~aether_nb.store.Store`.
        channel: where the chat goes (``ConsoleChannel()``, ``aether_nb.testing.ScriptedChannel([...])``, ...).
        clock: a time source (tests use ``aether_nb.testing.ManualClock``).
        llm: an :class:`~aether_nb.services.llm.LLMProfile` or a dict of its settings (``model``, ``base_url``,
            ``api_key``, ``cache``, ``name``...), or a list of them; ``name`` defaults to ``"default"``.
        max_concurrency: a cap on bodies executing at once across all runs of the session: ``@graphify`` nodes
            (each run's own ``max_concurrency`` applies too), ``@graph_fn`` tool calls (an LLM's ``run_tools``
            and MCP tools included) and state graph tasks. A call waiting for a slot shows pending; a body nested
            in one that holds a slot runs in it; a body waiting for an answer gives its slot back meanwhile.
            ``None`` removes the cap (any time: the calls queued for its slots start at once); left out, it
            stays. Another cap is refused while runs are live (executing, or waiting in this kernel): their bodies
            hold, or take again once answered, slots of the cap they started under, and would run beside the new
            one's (a cap of 1 ran 3 bodies at once).
        durability: when run history reaches the store. ``"async"`` (default): steps are written in batches
            within 0.2 s of the event loop being free and at exit, waits and answers at once; ``"sync"``: each
            step is written before the code that called it continues (one transaction per step, ~1 ms with
            DuckDB); switching to it writes what is pending first. See README, "Durability".
        max_live_waiting: how many waiting runs stay in memory (default 64); beyond that the oldest ones that
            nobody watches leave memory and resume from the journal when answered. See README, "Durability".
        mcp: MCP servers by name, each ``{"command": [...]}`` (stdio) or ``{"url": ...}`` (streamable HTTP) plus
            options (``env``, ``cwd``, ``headers``, ``timeout_s``, ``call_timeout_s``, ``tool_prefix``); ``None``
            removes one. Nodes reach them as ``context.mcp(name)``, connected on first use. See README, "MCP".
        nested_sync: let ``agent.sync(...)`` run inside an already running event loop (a plain IPython terminal
            with autoawait, or a synchronous callback called from async code) through ``nest-asyncio2``. Off by
            default and refused in a Jupyter kernel, where nesting loses widget messages; see README, "Event
            loops and nest-asyncio".
        executor: where sync tool bodies run for runs not given their own ``executor=`` (an
            ``ag.DaskExecutor(...)``, or any object with ``name`` and ``submit``); ``"local"`` goes back to the
            kernel's thread pool. Runs already executing use it from their next tool call on. See README,
            "Scale out (Dask)".
        widgets_per_cell: how many live run widgets one cell draws (default 12); the runs a cell starts beyond
            them are counted in one line under them (README, "Big runs").

    Raises:
        UsageError: a run is live (executing, or waiting in this kernel) when the store or the cap
            (``max_concurrency``) would change (finish, answer or cancel it first), an argument is of the wrong
            kind, or it is not one of these (named with the valid ones: Python's "unexpected keyword argument"
            named none).
    """
    if unknown:
        _refuse_unknown_options(unknown)
    from aether_nb.runtime.history import DURABILITY_MODES, check_durability
    from aether_nb.runtime.scheduler import check_cap
    from aether_nb.services.llm import configure_llm
    from aether_nb.store import redact

    current = session()
    # Every plain setting is checked before any is applied: a bad one after good ones (``max_concurrency=-5`` last)
    # raised the UsageError with the ones before it applied already, a configuration nobody asked for.
    checked: dict[str, Any] = {}
    if durability is not None:
        if not isinstance(durability, str):  # (before check_durability's `in`: a NumPy array's == is an array)
            raise UsageError(f"durability must be one of {list(DURABILITY_MODES)}, got {shown(durability, 80)}")
        checked["durability"] = check_durability(durability)
    if max_live_waiting is not None and not _is_int_at_least(max_live_waiting, 0):
        raise UsageError(f"max_live_waiting must be an int >= 0, got {shown(max_live_waiting)}")
    if nested_sync is not None and not isinstance(nested_sync, bool):
        raise UsageError(f"nested_sync must be True or False, got {shown(nested_sync)}")
    if widgets_per_cell is not None and not _is_int_at_least(widgets_per_cell, 1):
        raise UsageError(f"widgets_per_cell must be an int >= 1, got {shown(widgets_per_cell)}")
    if executor is not None:
        from aether_nb.runtime.executors import check_executor

        local = isinstance(executor, str) and executor == "local"
        checked["executor"] = None if local else check_executor(executor, "ag.configure(executor=...)")
    if not isinstance(max_concurrency, _Unchanged):
        check_cap(max_concurrency)
        _check_cap_change(current, max_concurrency)
    if channel is not None and not (hasattr(channel, "deliver") and hasattr(channel, "present")):
        raise UsageError(f"channel must be a channel adapter (deliver/present), got {type(channel).__name__}")
    if clock is not None and not (hasattr(clock, "now") and hasattr(clock, "sleep_until")):
        raise UsageError(f"clock must have now() and sleep_until(), got {type(clock).__name__}")
    if store is not None and _same_file(store, current.store):
        store = None  # (a setup cell run again, Run All: the file is open already; its runs, waiting ones too, stay)
    new_store: Store | None = None
    if store is not None:  # (refused, or the file not opened, before anything applies: see "checked" above)
        live = [r.id for r in current.known_runs() if r.live]
        if live:
            raise UsageError(
                f"runs {live} are live on the current store (running, or waiting in this kernel): await, answer or "
                "cancel them before switching to another store"
            )
        new_store = _open_store(store)
    try:
        if durability is not None:
            current.store.durability = checked["durability"]
            if checked["durability"] == "sync":
                current.store.flush()  # ("sync" promises every completed step durable: those "async" left pending)
        if max_live_waiting is not None:
            current.max_live_waiting = max_live_waiting
        if nested_sync is not None:
            current.config["nested_sync"] = nested_sync
        if widgets_per_cell is not None:
            current.config["widgets_per_cell"] = widgets_per_cell
        if executor is not None:
            current.executor = checked["executor"]
        if max_concurrency is None:
            from aether_nb.runtime.slots import remove_session_limit

            remove_session_limit(current.config)  # (the calls queued under it go; those holding its slots keep them)
        elif not isinstance(max_concurrency, _Unchanged):
            current.config["global_max_concurrency"] = max_concurrency
        if new_store is not None:
            redact.prepare()  # (setup time: not the first run's, see prepare)
            current.use_store(new_store)  # (history the old store cannot write is reported, never blocks the switch)
    except BaseException:
        if new_store is not None and new_store is not store and current.store.inner is not new_store:
            new_store.close()  # opened here: a failed switch must not keep its file locked in this process
        raise
    if new_store is not None:
        current.config["store_configured"] = True
        for report in list(current.config.get(STORE_OPENED) or []):
            report()
    if channel is not None:
        current.config["channel"] = channel
    if clock is not None:
        current.clock = clock
    if llm is not None:
        configure_llm(current, llm)
    if mcp is not None:
        from aether_nb.mcp import registry

        registry.configure(current, mcp)


def _check_cap_change(current: Session, cap: int | None) -> None:
    """Refuse another session cap while runs are live. Why refuse rather than switch: the bodies under way hold
    units of the cap they started under (one waiting for an answer takes one again from it when answered), and
    a fresh cap counted beside them (lowered from 2 to 1 mid-flight, 3 bodies ran at once). The same cap again
    (a setup cell run again) and removing it (``None``: nothing to exceed) are always fine."""
    before = current.config.get("global_max_concurrency")
    if cap is None or cap == before:
        return
    live = [r.id for r in current.known_runs() if r.live]
    if not live:
        return
    shown_ids = ", ".join(live[:5]) + (f" and {len(live) - 5} more" if len(live) > 5 else "")
    now = "no cap" if before is None else f"the cap of {before}"
    raise UsageError(
        f"ag.configure(max_concurrency={cap}) refused: run(s) {shown_ids} are live (executing, or waiting in this "
        f"kernel) under {now}, and their tool calls would run beside the new cap's. Await, answer or cancel them "
        "first, then set the cap (or set it before starting runs); max_concurrency=None removes a cap at any time",
        code="runs_live",
    )


def _is_int_at_least(value: Any, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def store() -> Store:
    """The notebook's store; ``ag.store().sql("select ...")`` queries it (DuckDB store)."""
    return session().store


def runs(status: str | None = None, graph: str | None = None) -> list[Run]:
    """The runs the notebook's store knows, newest first (``status="waiting"`` for the ones to answer)."""
    return session().runs(status=status, graph=graph)


def get_run(run_id: str) -> Run:
    """The run with this id — live, or rebuilt from the store after a restart (await or answer it to resume)."""
    return session().get_run(run_id)


def register_context_service(name: str, service: Any) -> None:
    """Make ``service`` reachable from every node as ``context.<name>()`` and ``context.svc(name)``."""
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
        raise UsageError(f"a service name must be a public identifier, got {shown(name)}")
    if name in _RESERVED_SERVICE_NAMES:
        raise UsageError(f"{shown(name)} is a built-in NodeContext name; pick another service name")
    # (both were taken, and failed only at the first call inside a run: None has no methods, and a class's methods
    # got the call's first argument as their `self`)
    if service is None:
        raise UsageError(f"register_context_service({shown(name)}, None): register the service object itself")
    if isinstance(service, type):
        raise UsageError(
            f"register_context_service({shown(name)}, {service.__name__}) got a class; register an instance, "
            f"e.g. {service.__name__}(), whose methods the nodes call",
            code="service_class",
        )
    session().services[name] = service
