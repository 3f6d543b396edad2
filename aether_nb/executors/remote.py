"""What runs on a Dask worker for ``ag.DaskExecutor``: one tool body, its result pickled where it was made, and the
means to stop the body when its node is cancelled or times out.

This module travels to the workers *by value* (``cloudpickle.register_pickle_by_value``), so workers need Dask and
the libraries the tools themselves use, not aether_nb, and never run code of another aether_nb version. That is why
it imports only the standard library, cloudpickle and distributed, and nothing from aether_nb.

The code travels once per worker: :class:`BodyRegistry` is a worker plugin, registered when the executor starts (the
scheduler installs it on workers that join later). One body is then the Dask task ``pickle.loads(payload)``, whose
payload (:class:`BodyCall`) unpickles into a call of :func:`run_body` (a few hundred bytes of code, pickled once per
kernel), which hands the body to the plugin. Dask would pickle a task's function by reference, which needs the
module installed on the worker; ``pickle.loads`` is in every Python. The plugin returns ``(kind, where, data)``
instead of the bare value, so the kernel learns which worker ran the body, and gets a clear error (naming the
output) when a result cannot be pickled instead of a failure inside Dask's transport.

A body's exception is a reply too (``"raised"``), never raised through Dask: Dask's worker logs every task error as
``Compute Failed ... Exception: <its repr>``, and a body's error message can hold what the body was given (an API
key in a ``401`` message). That log reaches the worker's and the scheduler's logs, and on a local cluster the
kernel's stderr, so the saved notebook. The reply carries exactly what Dask's own error message would (the
exception and its traceback pickled by ``distributed.core.error_message``), and the kernel raises it as Dask's
client would, so the error is the same there.

Stopping a body: Python cannot kill a thread, but it can raise an exception in one at its next bytecode
(``PyThreadState_SetAsyncExc``). The registry raises :class:`Interrupted` only while the body of that very call
runs, and the body's exit clears any such exception still pending under the same lock, so the interruption can
never land in Dask's own code or in the next task of that thread. Code inside one C call (``time.sleep``, I/O, a
numpy kernel) finishes that call first.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import operator
import pickle
import reprlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import cloudpickle
from distributed import Reschedule
from distributed.diagnostics.plugin import WorkerPlugin

PLUGIN_NAME = "aether_nb-3"
"""The worker plugin's name, with the version of this protocol: kernels of one version share one registry per
worker; another version registers its own beside it."""

WHERE_NOTE = "aether_nb: raised on Dask worker "
"""Prefix of the note added to an exception a body raised: the kernel reads the worker's address from it."""

OK, UNPICKLABLE, UNLOADABLE, INTERRUPTED, EXITED, RAISED, UNANNOUNCED = (
    "ok",
    "unpicklable",
    "unloadable",
    "interrupted",
    "exited",
    "raised",
    "unannounced",
)
"""The kinds of reply a body gives (``"unannounced"``: its start could not be told to the kernel, so it never ran)."""

STARTED_TOPIC = "aether_nb-started-"
"""Prefix of the Dask event topic on which a worker says a body starts (the rest: the executor's tag, the part of
the call token before its dot); the message is the token. The kernel's node shows pending until then, its timeout
starts then, and a task lost with its worker is only sent again when its body never started."""

_STOPPED_KEPT = 10_000  # tokens of stopped calls a worker remembers (a call stopped before it started never starts)


class Interrupted(BaseException):
    """Raised inside a body whose node was cancelled or timed out (a BaseException, so ``except Exception`` in the
    body does not swallow it)."""


class BodyCall:
    """A body to run on a worker; unpickling it calls :func:`run_body` (see the module docstring).

    Args:
        runner: ``cloudpickle.dumps(run_body)``, made once per kernel.
        inner: ``cloudpickle.dumps((fn, args, kwargs))``, unpickled on the worker by the plugin, so that a package
            missing there is reported as such.
        label: the tool's name (for messages).
        token: this call's id (to stop it).
    """

    def __init__(self, runner: bytes, inner: bytes, label: str, token: str) -> None:
        self.runner = runner
        self.inner = inner
        self.label = label
        self.token = token

    def __reduce__(self) -> tuple[Any, ...]:
        return operator.call, (_Pickled(self.runner), self.inner, self.label, self.token)


class _Pickled:
    """Unpickles into the object pickled in ``data``."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __reduce__(self) -> tuple[Any, ...]:
        return pickle.loads, (self.data,)


def run_body(inner: bytes, label: str, token: str) -> tuple[str, str, Any]:
    """On a worker: hand one body to this worker's :class:`BodyRegistry`."""
    from distributed import get_worker

    worker = get_worker()
    registry: Any = worker.plugins.get(PLUGIN_NAME)  # a BodyRegistry (of the first kernel that registered it)
    if registry is None:
        message = f"the {PLUGIN_NAME} worker plugin is missing here (a DaskExecutor registers it when it starts)"
        return UNLOADABLE, worker.address, message

    def announce() -> None:
        # An RPC, answered once the scheduler has passed the event on to the kernel's client: a body never starts
        # unannounced, even when its worker dies the next instant (then it must not be sent again).
        from distributed.utils import sync

        topic = STARTED_TOPIC + token.partition(".")[0]
        sync(worker.loop, worker.scheduler.log_event, topic=topic, msg=token)

    reply: tuple[str, str, Any] = registry.run(inner, token, worker.address, announce)
    return reply


class _Running:
    """One body running in a worker thread."""

    __slots__ = ("ended", "ident", "interrupted")

    def __init__(self, ident: int) -> None:
        self.ident = ident
        self.interrupted = False
        self.ended: concurrent.futures.Future[None] = concurrent.futures.Future()


class BodyRegistry(WorkerPlugin):
    """Runs bodies on one worker and knows which runs where (by call token), to stop a cancelled node's body."""

    idempotent = True  # registering it again (another kernel, a new executor) keeps the one in place

    def __init__(self) -> None:
        self._init_state()

    def _init_state(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, _Running] = {}
        self._stopped: OrderedDict[str, None] = OrderedDict()

    def __getstate__(self) -> dict[str, Any]:
        return {}  # a lock does not travel; the worker builds its own state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._init_state()

    def run(
        self, inner: bytes, token: str, where: str, announce: Callable[[], None] | None = None
    ) -> tuple[str, str, Any]:
        """Run one body in this thread: ``(kind, where, data)``; ``data`` is the pickled result for ``"ok"``, a
        message for ``"unpicklable"``/``"unloadable"``, the pickled exception and traceback (:func:`raised_payload`)
        for ``"raised"``, with a note naming the worker. Only Dask's own ``Reschedule`` propagates, for Dask.

        ``announce()`` tells the kernel the body starts, before it starts (and outside :meth:`enter`, so that no
        interruption can land in Dask's code): a body stopped meanwhile is announced and never runs, which only
        makes the kernel more careful, never run it twice."""
        try:
            fn, args, kwargs = pickle.loads(inner)
        except Exception as exc:
            return UNLOADABLE, where, f"{type(exc).__name__}: {exc}"
        if announce is not None:
            with self._lock:
                if token in self._stopped:
                    return INTERRUPTED, where, None
            try:
                announce()
            except Exception as exc:
                return UNANNOUNCED, where, f"{type(exc).__name__}: {exc}"
        try:
            if not self.enter(token):
                return INTERRUPTED, where, None
            try:
                value = fn(*args, **kwargs)
            finally:
                self.leave(token)
        except Interrupted:
            self.leave(token)  # again: the interruption may have fired inside the first leave()
            return INTERRUPTED, where, None
        except (SystemExit, KeyboardInterrupt) as exc:
            # Dask lets these through to end the worker process (every body on it would fail as KilledWorker):
            # the kernel gets the exception as a reply instead, its traceback as data.
            exc.add_note(WHERE_NOTE + where)
            return EXITED, where, exit_payload(exc)
        except BaseException as exc:
            if isinstance(exc, Reschedule):  # a request to Dask, which it does not log
                raise
            exc.add_note(WHERE_NOTE + where)
            # A reply, not raised: Dask would log its repr (see the module docstring).
            return RAISED, where, raised_payload(exc)
        try:
            data = cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            return UNPICKLABLE, where, f"{unpicklable_part(value)} ({type(exc).__name__}: {exc})"
        return OK, where, data

    def enter(self, token: str) -> bool:
        """The body of ``token`` starts in this thread; False when it was stopped before it could start."""
        with self._lock:
            if token in self._stopped:
                return False
            self._running[token] = _Running(threading.get_ident())
            return True

    def leave(self, token: str) -> None:
        """The body of ``token`` ended (idempotent). Clears an interruption still pending for this thread first, so
        none can fire after this returns (while the lock is held, no new one is raised)."""
        with self._lock:
            _set_async_exc(threading.get_ident(), None)
            entry = self._running.pop(token, None)
        if entry is not None and not entry.ended.done():
            entry.ended.set_result(None)

    def stop(self, token: str) -> concurrent.futures.Future[None] | None:
        """Stop the body of ``token``: interrupt it if it runs here (returns a future set once it has ended), and
        make sure it never starts here later (returns None when it does not run here)."""
        with self._lock:
            self._stopped[token] = None
            while len(self._stopped) > _STOPPED_KEPT:
                self._stopped.popitem(last=False)
            entry = self._running.get(token)
            if entry is None:
                return None
            if not entry.interrupted:  # one interruption per body: a second could fire while the first unwinds
                entry.interrupted = True
                _set_async_exc(entry.ident, Interrupted)
            return entry.ended

    def stop_many(self, tokens: list[str]) -> dict[str, concurrent.futures.Future[None]]:
        """Stop several bodies at once: every token is marked stopped *before* any body is interrupted, so that a
        thread freed by an interruption cannot start a body whose node was cancelled in the same breath (its own
        stop would otherwise race the worker picking its next queued task). Returns the ended-futures of those
        that run here."""
        with self._lock:
            for token in tokens:
                self._stopped[token] = None
            while len(self._stopped) > _STOPPED_KEPT:
                self._stopped.popitem(last=False)
        running: dict[str, concurrent.futures.Future[None]] = {}
        for token in tokens:
            ended = self.stop(token)
            if ended is not None:
                running[token] = ended
        return running


def raised_payload(exc: BaseException) -> tuple[bytes, bytes | None]:
    """A body's exception as ``(exception, traceback)``, each pickled as Dask's worker pickles a task's error
    (``distributed.core.error_message``: a message over ``distributed.admin.max-error-length`` cut, an exception
    that does not pickle sent as ``Exception(repr)``, tblib for the traceback, None when too long), so that the
    kernel rebuilds the very error Dask's client raised. Call it inside the ``except`` block: the traceback is
    ``sys.exc_info()``'s. When even that fails (a ``__str__`` that raises), an ``Exception`` naming the type."""
    from distributed.core import error_message

    try:
        message = error_message(exc)
        exception = bytes(message["exception"].data)
        frames = message["traceback"]
        return exception, (bytes(frames.data) if frames is not None else None)
    except Exception as failure:
        plain = Exception(f"{type(exc).__qualname__} (its error could not be sent back: {type(failure).__name__})")
        for note in getattr(exc, "__notes__", None) or ():
            if isinstance(note, str) and note.startswith(WHERE_NOTE):
                plain.add_note(note)
        return bytes(pickle.dumps(plain, protocol=pickle.HIGHEST_PROTOCOL)), None


def exit_payload(exc: BaseException) -> bytes:
    """A body's ``SystemExit`` / ``KeyboardInterrupt`` as ``(type, args, notes, traceback)``, the traceback as
    tblib's dict (as Dask sends one). Not the exception itself: Dask's workers pickle exceptions with tblib's
    reducer, which rebuilds them without ``__init__`` (a ``SystemExit``'s ``code`` came back None). When its
    type or arguments do not pickle, a plain one of its kind with their text."""
    try:
        from tblib import Traceback

        frames: Any = Traceback(exc.__traceback__).as_dict() if exc.__traceback__ is not None else None
    except Exception:
        frames = None
    notes = [n for n in getattr(exc, "__notes__", None) or () if isinstance(n, str)]
    try:
        return bytes(cloudpickle.dumps((type(exc), exc.args, notes, frames), protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:
        plain = SystemExit if isinstance(exc, SystemExit) else KeyboardInterrupt
        args = tuple(repr(a) for a in exc.args)
        return bytes(cloudpickle.dumps((plain, args, notes, frames), protocol=pickle.HIGHEST_PROTOCOL))


def _set_async_exc(ident: int, exc_type: type[BaseException] | None) -> None:
    """Raise ``exc_type`` in thread ``ident`` at its next bytecode; ``None`` clears a pending one."""
    # Built per call: a ctypes function pointer cannot be pickled with this module.
    if exc_type is None:
        clear = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p)(
            ("PyThreadState_SetAsyncExc", ctypes.pythonapi)
        )
        clear(ident, None)
    else:
        raise_in = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.py_object)(
            ("PyThreadState_SetAsyncExc", ctypes.pythonapi)
        )
        raise_in(ident, exc_type)


def unpicklable_part(value: Any) -> str:
    """Which part of ``value`` does not pickle: ``output 'g' (generator: <generator ...>)`` for an outputs dict."""
    if isinstance(value, dict):
        for key, item in value.items():
            try:
                cloudpickle.dumps(item)
            except Exception:
                return f"output {key!r} ({describe(item)})"
    return f"the returned value ({describe(value)})"


def describe(value: Any) -> str:
    """``generator: <generator object f at 0x...>``, cut short."""
    short = reprlib.Repr()
    short.maxstring = short.maxother = 80
    return f"{type(value).__qualname__}: {short.repr(value)}"


async def stop_body(token: str, dask_worker: Any = None) -> str:
    """Run on every worker (``client.run``) to stop the body of ``token``: ``"stopped"`` once it has ended here,
    ``"idle"`` when it does not run here (it never will), ``"unknown"`` without the registry."""
    registry = dask_worker.plugins.get(PLUGIN_NAME) if dask_worker is not None else None
    if registry is None:
        return "unknown"
    ended = registry.stop(token)
    if ended is None:
        return "idle"
    await asyncio.wrap_future(ended)
    return "stopped"


async def stop_bodies(tokens: list[str], dask_worker: Any = None) -> list[str] | str:
    """Run on every worker (``client.run``) to stop the bodies of ``tokens`` together (see
    :meth:`BodyRegistry.stop_many`): the tokens whose body ran here, once each has ended; ``"unknown"`` without the
    registry."""
    registry = dask_worker.plugins.get(PLUGIN_NAME) if dask_worker is not None else None
    if registry is None:
        return "unknown"
    running = registry.stop_many(tokens)
    for ended in running.values():
        await asyncio.wrap_future(ended)
    return sorted(running)
