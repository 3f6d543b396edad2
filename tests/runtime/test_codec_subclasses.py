"""Subclasses of JSON types keep their type through the journal and the store.

The codec chose a value's JSON form with ``isinstance``: a ``collections.Counter`` was journaled as a dict, an
``IntEnum`` member as an int, a ``str`` enum member as a string, ``numpy.float64`` as a float. Live, the body got
the object its tool returned; after a restart, replayed from the journal, it got the base type and took another
path (``hasattr(counts, "most_common")``, ``level is Level.HIGH``), with no ReplayMismatch to say so. The form is
chosen by the exact type now: plain values keep their fast path and their fingerprints, the rest is tagged or
pickled and comes back as it was.
"""

from __future__ import annotations

import collections
import datetime
import enum
import json
import pathlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aether_nb.runtime import codec


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Color(str, enum.Enum):  # noqa: UP042 - the spelling of str enums before StrEnum, still the common one
    RED = "red"


class Mode(enum.StrEnum):
    FAST = "fast"


class Tagged(dict):  # type: ignore[type-arg]
    pass


class Items(list):  # type: ignore[type-arg]
    pass


class Name(str):
    pass


class Count(int):
    pass


class Ratio(float):
    pass


def stored(value: Any) -> Any:
    """``value`` as a new process reads it back from the store: encoded, as JSON text, decoded."""
    return codec.decode(json.loads(json.dumps(codec.encode(value))))


SUBCLASSED = [
    collections.Counter(["a", "b", "a"]),
    collections.OrderedDict([("b", 1), ("a", 2)]),
    collections.defaultdict(list, {"k": [1]}),
    collections.defaultdict(None, {1: "non-string key"}),
    Level.HIGH,
    Color.RED,
    Mode.FAST,
    Tagged(a=1),
    Items([1, 2]),
    Name("n"),
    Count(3),
    Ratio(0.5),
    np.float64(1.25),
    np.float64("nan"),
    bytearray(b"\x00\x01"),
]


@pytest.mark.parametrize("value", SUBCLASSED, ids=lambda v: type(v).__name__)
def test_a_subclass_of_a_json_type_comes_back_as_itself(value: Any) -> None:
    found = stored({"alone": value, "in_dict": {"v": value}, "in_list": [value], "deep": {"l": [{"v": value}]}})
    for back in (found["alone"], found["in_dict"]["v"], found["in_list"][0], found["deep"]["l"][0]["v"]):
        assert type(back) is type(value)
        assert back == value or (back != back and value != value)  # (NaN)


def test_the_collections_dicts_stay_json_and_keep_what_makes_them_so() -> None:
    """Tagged, not pickled: readable in ``sql()`` and searched by redaction as a dict; a defaultdict keeps its
    factory, a Counter its counting, an OrderedDict its order."""
    encoded = codec.encode({"c": collections.Counter({"x": 2}), "d": collections.defaultdict(int)})
    assert encoded["c"] == {"__aether__": "dict", "cls": "Counter", "map": {"x": 2}}
    back = stored({"c": collections.Counter({"x": 2}), "d": collections.defaultdict(int, {"y": 1})})
    assert back["c"].most_common(1) == [("x", 2)]
    back["d"]["missing"] += 1
    assert back["d"] == {"y": 1, "missing": 1}
    order = stored(collections.OrderedDict([("b", 1), ("a", 2)]))
    order.move_to_end("b")
    assert list(order) == ["a", "b"]
    keys = stored({Level.LOW: "low", Color.RED: "red"})
    assert [type(k) for k in keys] == [Level, Color]


def test_a_subclass_that_cannot_be_pickled_is_refused_like_any_such_value() -> None:
    class Local(dict):  # type: ignore[type-arg]
        """Defined in a function: pickle cannot find it by name."""

    with pytest.raises(codec.NotEncodable, match=r"Local cannot be stored \(not JSON, not picklable"):
        codec.encode({"v": Local(a=1)})
    with pytest.raises(codec.NotEncodable, match="not picklable"):
        codec.encode(collections.defaultdict(lambda: 0))


def test_plain_values_keep_their_encoding_and_their_fingerprints() -> None:
    """Old journals must still replay: the fingerprints of plain values are pinned (computed by the codec before
    this change), and so are those of subclass *arguments*, which hash as their base type's content (a run started
    before the upgrade and resumed after it matches its journal)."""
    values = {
        "flat": {"x": 1, "name": "a", "f": 1.5, "ok": True, "none": None},
        "nested": {"items": [1, 2.5, "three", None, False], "meta": {"k": "v", "n": -7}},
        "tuple_set": {"t": (1, "a"), "s": {3, 1, 2}, "fs": frozenset({"x"})},
        "keys": {1: "one", (2, 3): [4]},
        "bytes_dates": {"b": b"\x00\xff", "d": datetime.date(2024, 2, 29), "p": pathlib.PurePosixPath("a/b")},
        "nonfinite": [float("nan"), float("inf")],
        "text": "héllo",
        "int": 10**30,
        "counter_input": {"c": collections.Counter("aab"), "lvl": Level.HIGH, "color": Color.RED},
    }
    pinned = {
        "flat": "1c1d33488a95bc0d",
        "nested": "e14a58c035b9fcbb",
        "tuple_set": "206dda4eada36223",
        "keys": "b5675b1f500997be",
        "bytes_dates": "5487113f51e59f3b",
        "nonfinite": "216a810c95d85e1c",
        "text": "42963537255fe0aa",
        "int": "fa72d4146f76703a",
        "counter_input": "15e3733958470fbf",
    }
    assert {k: codec.fingerprint(v) for k, v in values.items()} == pinned
    plain = {"a": [1, {"b": None}], "c": "d", "e": 1.5}
    assert codec.encode(plain) == plain and codec.encode(plain["a"]) == plain["a"]


def test_a_tagged_value_whose_fields_redaction_masked_reads_as_the_mask() -> None:
    """Redaction masks every field of a container under a credential key, the tag too: such a value used to make
    its journal or KV entry unreadable (``unknown encoded value tag``)."""
    assert codec.decode({"token": {"__aether__": "[REDACTED]", "b64": "[REDACTED]"}}) == {"token": "[REDACTED]"}


AGENT = """
import asyncio, collections, enum, json, sys
import numpy as np
import aether_nb as ag

class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2

class Color(str, enum.Enum):
    RED = "red"

DB, PHASE = sys.argv[1], sys.argv[2]
ag.configure(store=DB)

@ag.tool(outputs=["counts", "level", "color", "mean", "order"])
def analyse(text: str) -> dict:
    words = text.split()
    return {"counts": collections.Counter(words), "level": Level.HIGH, "color": Color.RED,
            "mean": np.float64(len(words)) / 2, "order": collections.OrderedDict((w, i) for i, w in enumerate(words))}

def kinds(r):
    return {k: type(v).__module__ + "." + type(v).__qualname__ for k, v in r.items()}

@ag.graph_fn(outputs=["kinds", "kv", "top"])
async def agent(text: str, *, context):
    r = await analyse(text)
    await context.kv().set("level", Level.LOW)
    await context.channel().ask_text("continue?")   # the run waits here: the process ends
    stored = await context.kv().get("level")
    return {"kinds": kinds(r), "kv": type(stored).__qualname__, "top": r["counts"].most_common(1)[0][0]}

async def main():
    if PHASE == "start":
        run = agent.start(text="a b a", run_id="sub1")
        await run.wait_for("waiting", timeout=30)
        print("WAITING", flush=True)
        return
    run = ag.get_run("sub1")
    await run.answer("yes")
    out = await run
    print("OUT", json.dumps({"kinds": out["kinds"], "kv": out["kv"], "top": out["top"]}), flush=True)

asyncio.run(main())
"""


def test_a_run_resumed_in_a_new_process_gets_the_types_its_tool_returned(tmp_path: Path) -> None:
    script, db = tmp_path / "agent.py", tmp_path / "nb.aether.duckdb"
    script.write_text(AGENT)

    def phase(name: str) -> str:
        res = subprocess.run(
            [sys.executable, str(script), str(db), name], capture_output=True, text=True, timeout=120, check=False
        )
        assert res.returncode == 0, res.stderr
        return res.stdout

    assert "WAITING" in phase("start")
    out = json.loads(phase("answer").split("OUT ", 1)[1])
    assert out["kinds"] == {
        "counts": "collections.Counter",
        "level": "__main__.Level",
        "color": "__main__.Color",
        "mean": "numpy.float64",
        "order": "collections.OrderedDict",
    }
    assert out["kv"] == "Level" and out["top"] == "a"
