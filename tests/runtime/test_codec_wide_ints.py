"""Ints too long for decimal text (over ``sys.get_int_max_str_digits()`` digits, 4,300 by default) are kept
exactly: a call's fingerprint hashes them, the run's stored outputs and inputs take them, and the stored text reads
back through :func:`decode` as the same int. Before, each of these raised a bare ``ValueError("Exceeds the limit
(4300 digits) for integer string conversion")`` (``await run`` raised it, not ``RunFailed``, and the run stayed
``running``)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.codec import decode, encode, fingerprint
from aether_nb.runtime.storable import inputs_are_durable, stored_outputs
from aether_nb.store import values
from tests.conftest import arun

BIG = math.factorial(2000)  # 5,736 digits


@pytest.mark.parametrize(
    "value",
    [{"n": BIG}, {"n": -BIG, "s": "x"}, [BIG, (BIG, 1)], {1: BIG}, BIG],
    ids=["flat", "negative", "nested", "int-keys", "bare"],
)
def test_a_call_with_an_int_past_the_digit_limit_has_a_stable_fingerprint(value: Any) -> None:
    fp = fingerprint(value)
    assert fp == fingerprint(value)
    assert fingerprint({"n": BIG}) != fingerprint({"n": BIG + 1})


def test_the_stored_text_of_an_int_past_the_digit_limit_decodes_to_the_same_int() -> None:
    value = {"n": BIG, "m": [-BIG, (BIG, "x")], "small": 2**70}
    back = decode(json.loads(values.dump_json(encode(value))))
    assert back == value
    assert json.loads(values.dump_json({"small": 2**70}))["small"] == 2**70  # ints that fit stay JSON numbers


def test_run_outputs_and_inputs_holding_such_an_int_are_stored() -> None:
    encoded, why = stored_outputs({"n": BIG})
    assert why is None
    assert decode(json.loads(values.dump_json(encoded))) == {"n": BIG}
    assert inputs_are_durable(encode({"n": BIG}))


def test_a_run_returning_or_given_such_an_int_succeeds(session: Any) -> None:
    @ag.graph_fn(name="returns_big")
    async def returns_big(n: int, *, context: Any) -> dict[str, Any]:
        return {"n": n, "m": BIG}

    async def main() -> tuple[Any, str]:
        run = returns_big.start(n=BIG)
        return await run, run.status

    out, status = arun(main())
    assert out == {"n": BIG, "m": BIG}
    assert status == "succeeded"


def test_a_tool_argument_holding_such_an_int_is_recorded(session: Any) -> None:
    @ag.tool(outputs=["bits"])
    def bits(x: int) -> dict[str, Any]:
        return {"bits": x.bit_length()}

    @ag.graph_fn(name="calls_tool")
    async def calls_tool(*, context: Any) -> dict[str, Any]:
        return await bits(x=BIG)

    assert arun(calls_tool()) == {"bits": BIG.bit_length()}
