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
