"""``context.artifacts().to_local_path(uri)``: an artifact as a file on disk, for code that wants a path."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from tests.conftest import arun


def test_to_local_path_writes_the_bytes_once_and_rewrites_a_changed_file(session: Session, tmp_path: Path) -> None:
    @ag.graph_fn(name="paths", outputs=["first", "second", "third"])
    async def paths(*, context: ag.NodeContext) -> Any:
        arts = context.artifacts()
        a = await arts.save_text("col\n1\n2\n", name="data.csv")
        first = await arts.to_local_path(a.uri, directory=tmp_path)
        second = await arts.to_local_path(a, directory=tmp_path)
        first.write_text("tampered")
        third = await arts.to_local_path(a.uri, directory=tmp_path)
        return {"first": str(first), "second": str(second), "third": third.read_text()}

    out = arun(paths())
    assert out["first"] == out["second"] and out["first"].endswith("data.csv")
    assert Path(out["first"]).parent.parent == tmp_path
    assert out["third"] == "col\n1\n2\n"  # a file changed on disk is written again from the artifact
    assert hashlib.sha256(Path(out["first"]).read_bytes()).hexdigest() == hashlib.sha256(b"col\n1\n2\n").hexdigest()


def test_to_local_path_of_an_unknown_artifact_names_it(session: Session) -> None:
    @ag.graph_fn(name="missing_path", outputs=[])
    async def missing_path(*, context: ag.NodeContext) -> Any:
        await context.artifacts().to_local_path("artifact://nope")
        return {}

    with pytest.raises(ag.RunFailed) as info:
        arun(missing_path())
    assert isinstance(info.value.__cause__, ag.UsageError) and "nope" in str(info.value.__cause__)


def test_to_local_path_into_a_file_instead_of_a_folder_is_a_usage_error(session: Session, tmp_path: Path) -> None:
    a_file = tmp_path / "f.csv"
    a_file.write_text("a,b\n")

    @ag.graph_fn(name="into_file", outputs=["said"])
    async def into_file(*, context: ag.NodeContext) -> Any:
        arts = context.artifacts()
        a = await arts.save_text("hello", name="h.txt")
        try:
            await arts.to_local_path(a.uri, directory=a_file)
        except ag.UsageError as exc:
            return {"said": str(exc)}
        return {"said": None}

    said = arun(into_file())["said"]
    assert said is not None and "directory=" in said and "f.csv" in said
    assert a_file.read_text() == "a,b\n"


@pytest.mark.parametrize("data", [b"hello", b"\xff\xfe", b"{'a': 1}", b""])
def test_load_json_of_an_artifact_that_is_not_json_is_a_usage_error(session: Session, data: bytes) -> None:
    @ag.graph_fn(name="not_json", outputs=["said"])
    async def not_json(*, context: ag.NodeContext) -> Any:
        arts = context.artifacts()
        a = await arts.save_bytes(data, name="h.bin")
        try:
            await arts.load_json(a)
        except ag.UsageError as exc:
            return {"said": str(exc)}
        return {"said": None}

    said = arun(not_json())["said"]
    assert said is not None and "is not JSON" in said and "load_text()" in said


@pytest.mark.parametrize("backend", ["memory", "duckdb"])
def test_saving_the_same_bytes_again_keeps_the_pin_and_the_labels(backend: str, tmp_path: Path) -> None:
    """A person saves a chart with labels and pins it, then sends the same chart to the chat under the same name:
    it is the same artifact, so it stays pinned and labelled (it was silently unpinned and its labels erased)."""
    from aether_nb.runtime import session as session_mod
    from aether_nb.store.duckdb import DuckDBStore
    from tests.conftest import make_session

    store = DuckDBStore(str(tmp_path / "a.duckdb")) if backend == "duckdb" else None
    s, _ = make_session(store)
    previous = session_mod.set_default_session(s)
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(64))

    @ag.graph_fn(name="charts", outputs=["pinned", "labels", "listed"])
    async def charts(*, context: ag.NodeContext) -> Any:
        arts = context.artifacts()
        a = await arts.save_bytes(png, mime="image/png", name="chart.png", labels={"topic": "Oslo"})
        await arts.pin(a.uri)
        await context.channel().send_image(png, alt="chart", name="chart.png")
        b = await arts.save_bytes(png, mime="image/png", name="chart.png", labels={"stage": "final"})
        listed = await arts.list(labels={"topic": "Oslo"})
        return {"pinned": b.pinned, "labels": b.labels, "listed": [x.uri for x in listed]}

    try:
        out = arun(charts())
        rec = s.store.artifact_list()
    finally:
        session_mod.set_default_session(previous)
        s.store.close()
    assert out["pinned"] is True
    assert out["labels"] == {"topic": "Oslo", "stage": "final"}
    assert len(out["listed"]) == 1
    assert [(r.name, r.pinned, r.labels) for r in rec] == [("chart.png", True, {"topic": "Oslo", "stage": "final"})]


def test_a_string_that_is_no_readable_file_path_is_a_usage_error(session: Session, tmp_path: Path) -> None:
    """``send_image("iVBORw0...")`` (base64 data passed as a str, taken for a path far too long for the system)
    and a folder are said in aether_nb's terms, not as an OSError from the file system."""

    @ag.graph_fn(outputs=["ok"])
    async def show(data: str, *, context: ag.NodeContext) -> dict[str, bool]:
        await context.channel().send_image(data, alt="chart")
        return {"ok": True}

    for data in ["iVBORw0KGgo" * 600, str(tmp_path)]:
        with pytest.raises(ag.RunFailed, match=r"readable file|is not a file") as caught:
            arun(show(data=data))
        assert isinstance(caught.value.__cause__, ag.UsageError)
        assert len(str(caught.value)) < 400
