"""Argument checks of the fakes in :mod:`aether_nb.testing`: a fake given garbage refuses it when it is made.

A fake that took ``embed_dim=-5`` or ``ManualClock("now")`` failed later, inside the code under test, with an error
that pointed at that code instead of at the test's setup.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

from aether_nb.errors import UsageError, shown


def check_number(value: Any, what: str, *, low: float | None = None) -> float:
    """``value`` as a finite real number, a NumPy one too (``>= low`` when given); bools, NaN and infinities are
    refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise UsageError(f"{what} must be a finite number, got {shown(value, 80)}", code="bad_argument")
    if low is not None and value < low:
        raise UsageError(f"{what} must be {low:g} or more, got {shown(value, 80)}", code="bad_argument")
    return float(value)


def check_time(value: object, what: str) -> float:
    """``value`` as a time in seconds: a real number, an infinity too (never reached), but not NaN (which compares
    false with every time, so a sleeper would never wake and never be refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise UsageError(f"{what} takes a time in seconds, got {shown(value, 80)}", code="bad_argument")
    return float(value)


def check_int(value: Any, what: str, *, low: int) -> int:
    """``value`` as an int ``>= low``: an integer (a NumPy one too), not a bool nor a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise UsageError(f"{what} must be an int >= {low}, got {shown(value, 80)}", code="bad_argument")
    return int(value)


def check_items(value: Any, what: str, example: str) -> list[Any]:
    """``value`` (an iterable of items) as a list. A string, bytes or a dict is refused: iterated, it would give
    characters, byte values or keys, each taken as an item."""
    if isinstance(value, (str, bytes, bytearray, Mapping)) or not isinstance(value, Iterable):
        raise UsageError(f"{what} takes a list, e.g. {example}; got {shown(value, 80)}", code="bad_argument")
    return list(value)
