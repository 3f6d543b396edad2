"""What one body of ``ag.DaskExecutor`` sends to the cluster: the worker-side module, registered to travel by value,
and each body's payload, pickled in the kernel (with an error that names what could not be pickled)."""

from __future__ import annotations

import functools
import inspect
import pickle
from collections.abc import Callable
from typing import Any

from aether_nb.errors import UsageError, shown

__all__ = ["pack", "remote_module"]


@functools.cache
def remote_module() -> Any:
    """The worker-side module, registered to travel by value (workers need not have aether_nb installed)."""
    import cloudpickle

    from aether_nb.executors import remote

    cloudpickle.register_pickle_by_value(remote)
    return remote


def pack(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], label: str, token: str) -> bytes:
    """The payload of one body: the Dask task is ``pickle.loads(payload)`` (see :mod:`aether_nb.executors.remote`)."""
    import cloudpickle

    remote = remote_module()
    try:
        inner = cloudpickle.dumps((fn, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise _not_picklable(fn, args, kwargs, label, exc) from exc
    return pickle.dumps(remote.BodyCall(_runner(), inner, label, token), protocol=pickle.HIGHEST_PROTOCOL)


@functools.cache
def _runner() -> bytes:
    """``remote.run_body`` pickled by value, once per kernel (each payload carries these bytes)."""
    import cloudpickle

    return bytes(cloudpickle.dumps(remote_module().run_body, protocol=pickle.HIGHEST_PROTOCOL))


def _not_picklable(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], label: str, exc: Exception
) -> UsageError:
    """Name what could not be pickled: the function itself, or one input (by parameter name)."""
    import cloudpickle

    remote = remote_module()
    fix = (
        "Pass plain data (numbers, strings, lists, dicts, dataclasses), or keep the tool in the kernel with "
        '@ag.tool(..., executor="local").'
    )
    try:
        cloudpickle.dumps(fn)
    except Exception as fn_exc:
        return UsageError(
            f"tool {label}: its function cannot be pickled to send it to the Dask workers "
            f"({type(fn_exc).__name__}: {fn_exc}); it probably refers to a lock, a connection or an open file "
            'defined outside it. Create such objects inside the body, or use @ag.tool(..., executor="local").',
            code="not_picklable",
        )
    try:
        named = dict(inspect.signature(fn).bind(*args, **kwargs).arguments)
    except (TypeError, ValueError):
        named = {**{f"argument {i}": a for i, a in enumerate(args)}, **kwargs}
    for name, value in named.items():
        try:
            cloudpickle.dumps(value)
        except Exception as value_exc:
            return UsageError(
                f"tool {label}: input {shown(name)} ({remote.describe(value)}) cannot be pickled to send it to "
                f"the Dask "
                f"workers ({type(value_exc).__name__}: {value_exc}). {fix}",
                code="not_picklable",
            )
    return UsageError(
        f"tool {label}: its inputs cannot be pickled to send them to the Dask workers ({type(exc).__name__}: {exc}). "
        f"{fix}",
        code="not_picklable",
    )
