"""LangGraph's ``RetryPolicy`` signature, for code moving over with only its imports changed.

``from aether_nb.flow import RetryPolicy`` takes LangGraph's arguments — ``initial_interval``, ``backoff_factor``,
``max_interval``, ``max_attempts``, ``jitter`` (a bool), ``retry_on`` (an exception class, a sequence of them, or
a predicate) — with LangGraph's defaults, including its default ``retry_on``, which retries connection errors and
HTTP 5xx responses but not programming errors (``ValueError``, ``TypeError``, ``KeyError``, ...). It returns an
``ag.RetryPolicy`` (so ``add_node(..., retry_policy=...)`` and everything else that takes one accept it) whose
waits and matching follow LangGraph's.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aether_nb.errors import UsageError, shown
from aether_nb.runtime.scheduler import RetryPolicy as BaseRetryPolicy

_PROGRAMMING_ERRORS = (
    ValueError,
    TypeError,
    ArithmeticError,
    ImportError,
    LookupError,
    NameError,
    SyntaxError,
    RuntimeError,
    ReferenceError,
    StopIteration,
    StopAsyncIteration,
    OSError,
)


def default_retry_on(exc: BaseException) -> bool:
    """LangGraph's default: retry connection errors and HTTP 5xx responses (``httpx``/``requests`` errors that
    carry a response), not programming errors; anything else is retried."""
    if isinstance(exc, ConnectionError):
        return True
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if type(exc).__name__ in ("HTTPStatusError", "HTTPError") and isinstance(status, int):
        return 500 <= status < 600
    return not isinstance(exc, _PROGRAMMING_ERRORS)


@dataclass(frozen=True)
class LangGraphRetryPolicy(BaseRetryPolicy):
    """An ``ag.RetryPolicy`` that waits and matches as LangGraph's (made by :func:`RetryPolicy`)."""

    initial_interval: float = 0.5
    backoff_factor: float = 2.0
    max_interval: float = 128.0
    add_jitter: bool = True
    predicate: Callable[[BaseException], bool] | None = field(default=None, compare=False)

    def delay(self, attempt: int) -> float:
        interval = min(self.max_interval, self.initial_interval * self.backoff_factor ** (attempt - 1))
        return interval + (random.uniform(0, 1) if self.add_jitter else 0.0)

    def matches(self, exc: BaseException) -> bool:
        if self.predicate is not None:
            return bool(self.predicate(exc))
        return isinstance(exc, self.retry_on)


def RetryPolicy(
    initial_interval: float = 0.5,
    backoff_factor: float = 2.0,
    max_interval: float = 128.0,
    max_attempts: int = 3,
    jitter: bool = True,
    retry_on: type[BaseException] | Sequence[type[BaseException]] | Callable[[BaseException], bool] = default_retry_on,
) -> LangGraphRetryPolicy:
    """LangGraph's ``RetryPolicy(...)`` (same arguments, order and defaults) as an ``ag.RetryPolicy``."""
    for name, value in (
        ("initial_interval", initial_interval),
        ("backoff_factor", backoff_factor),
        ("max_interval", max_interval),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise UsageError(f"RetryPolicy({name}=...) must be a number >= 0, got {shown(value)}")
    classes: tuple[type[BaseException], ...] = (Exception,)
    predicate: Callable[[BaseException], bool] | None = None
    given: Any = retry_on
    if isinstance(given, type) and issubclass(given, BaseException):
        classes = (given,)
    elif isinstance(given, (list, tuple)):
        classes = tuple(given)
    elif callable(given):
        predicate = given
    else:
        raise UsageError(
            "RetryPolicy(retry_on=...) takes an exception class, a sequence of them or a predicate, got "
            f"{shown(retry_on)}"
        )
    kwargs: dict[str, Any] = {"max_attempts": max_attempts, "backoff_s": float(initial_interval)}
    return LangGraphRetryPolicy(
        **kwargs,
        max_backoff_s=float(min(max_interval, 1e9)),
        jitter=0.0,
        retry_on=classes,
        initial_interval=float(initial_interval),
        backoff_factor=float(backoff_factor),
        max_interval=float(max_interval),
        add_jitter=bool(jitter),
        predicate=predicate,
    )


__all__ = ["LangGraphRetryPolicy", "RetryPolicy", "default_retry_on"]
