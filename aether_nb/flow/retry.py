"""LangGraph's ``RetryPolicy``, for code moving over with only its imports changed.

``from aether_nb.flow import RetryPolicy`` is, as LangGraph's, a ``NamedTuple`` of ``initial_interval``,
``backoff_factor``, ``max_interval``, ``max_attempts``, ``jitter`` (a bool) and ``retry_on`` (an exception class, a
sequence of them, or a predicate), with LangGraph's defaults, including its default ``retry_on``, which retries
connection errors and HTTP 5xx responses but not programming errors (``ValueError``, ``TypeError``, ``KeyError``,
...). Its fields read as LangGraph's do (``policy.retry_on`` is the predicate or classes given), so code that derives
one policy from another (``RetryPolicy(max_attempts=5, retry_on=base.retry_on)``, ``base._replace(...)``) keeps what
is retried. ``add_node(..., retry_policy=...)`` (and ``set_node_defaults``) take it, or aether_nb's own
``ag.RetryPolicy``, and run it as a :class:`LangGraphRetryPolicy`, whose waits and matching follow LangGraph's.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

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
    """An ``ag.RetryPolicy`` that waits and matches as LangGraph's: what the engine runs for a
    :class:`RetryPolicy` (made by :meth:`RetryPolicy.runtime`; its ``retry_on``/``jitter`` are the base class's)."""

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


RetryOn = type[BaseException] | Sequence[type[BaseException]] | Callable[[BaseException], bool]


class _RetryPolicyFields(NamedTuple):
    initial_interval: float = 0.5
    backoff_factor: float = 2.0
    max_interval: float = 128.0
    max_attempts: int = 3
    jitter: bool = True
    retry_on: RetryOn = default_retry_on


class RetryPolicy(_RetryPolicyFields):
    """LangGraph's ``RetryPolicy`` (same fields, order, defaults and NamedTuple behaviour: ``_replace``,
    ``_asdict``, equality). Unlike LangGraph's, bad values are refused here, when it is made, with a
    :class:`~aether_nb.errors.UsageError` (a ``_replace`` with bad values: when a node takes it)."""

    __slots__ = ()

    def __new__(
        cls,
        initial_interval: float = 0.5,
        backoff_factor: float = 2.0,
        max_interval: float = 128.0,
        max_attempts: int = 3,
        jitter: bool = True,
        retry_on: RetryOn = default_retry_on,
    ) -> RetryPolicy:
        self = super().__new__(cls, initial_interval, backoff_factor, max_interval, max_attempts, jitter, retry_on)
        self.runtime()  # (checks the values)
        return self

    def runtime(self) -> LangGraphRetryPolicy:
        """The ``ag.RetryPolicy`` the engine runs for this policy (LangGraph's waits and ``retry_on`` matching)."""
        for name in ("initial_interval", "backoff_factor", "max_interval"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise UsageError(f"RetryPolicy({name}=...) must be a number >= 0, got {shown(value)}")
        classes: tuple[type[BaseException], ...] = (Exception,)
        predicate: Callable[[BaseException], bool] | None = None
        given: Any = self.retry_on
        if isinstance(given, type) and issubclass(given, BaseException):
            classes = (given,)
        elif isinstance(given, (list, tuple)):
            classes = tuple(given)
        elif callable(given):
            predicate = given
        else:
            raise UsageError(
                "RetryPolicy(retry_on=...) takes an exception class, a sequence of them or a predicate, got "
                f"{shown(given)}"
            )
        return LangGraphRetryPolicy(
            max_attempts=self.max_attempts,
            backoff_s=float(self.initial_interval),
            max_backoff_s=float(min(self.max_interval, 1e9)),
            jitter=0.0,  # (the base class's relative jitter; LangGraph's is add_jitter)
            retry_on=classes,
            initial_interval=float(self.initial_interval),
            backoff_factor=float(self.backoff_factor),
            max_interval=float(self.max_interval),
            add_jitter=bool(self.jitter),
            predicate=predicate,
        )


AnyRetryPolicy = BaseRetryPolicy | RetryPolicy
"""What ``add_node(..., retry_policy=...)`` takes: aether_nb's ``ag.RetryPolicy`` or LangGraph's."""


def node_policies(where: str, retry: Any) -> tuple[BaseRetryPolicy, ...]:
    """A node's ``retry_policy=`` as the engine runs it: one policy or a list of them (the first whose ``retry_on``
    matches applies), each LangGraph-style one as its :class:`LangGraphRetryPolicy`. A LangGraph-style policy is a
    NamedTuple, so it is one policy, not a sequence of them.

    Raises:
        UsageError: naming ``where``, for anything else (a number of attempts, a dict of fields...).
    """
    if retry is None:
        return ()
    single = isinstance(retry, (BaseRetryPolicy, RetryPolicy))
    if not single and not isinstance(retry, (list, tuple)):
        retry = [retry]  # (refused below, with the value named)
    out: list[BaseRetryPolicy] = []
    for p in [retry] if single else retry:
        if isinstance(p, RetryPolicy):
            out.append(p.runtime())
        elif isinstance(p, BaseRetryPolicy):
            out.append(p)
        else:
            raise UsageError(
                f"{where}: expected RetryPolicy(...) (from aether_nb.flow), ag.RetryPolicy(...) or a list of them, "
                f"got {shown(p)}"
            )
    return tuple(out)


__all__ = ["AnyRetryPolicy", "LangGraphRetryPolicy", "RetryOn", "RetryPolicy", "default_retry_on", "node_policies"]
