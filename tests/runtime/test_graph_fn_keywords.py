"""``@graph_fn(entrypoint=..., flow_id=...)``, AetherGraph's registry metadata (``entrypoint`` is documented there as
unused), are accepted and kept on the agent; they ended in a bare ``TypeError``."""

from __future__ import annotations

from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from tests.conftest import arun


def test_aethergraph_metadata_keywords_are_kept(session: Session) -> None:
    @ag.graph_fn(
        name="hello2",
        inputs=["name"],
        outputs=["greeting"],
        version="0.1.0",
        description="d",
        entrypoint=True,
        flow_id="onboarding",
    )
    async def hello(name: str, *, context: ag.NodeContext) -> dict[str, Any]:
        return {"greeting": f"Hello, {name}!"}

    assert arun(hello(name="Ada")) == {"greeting": "Hello, Ada!"}
    assert (hello.entrypoint, hello.flow_id, hello.version, hello.description) == (True, "onboarding", "0.1.0", "d")


def test_defaults() -> None:
    @ag.graph_fn(name="plain_meta")
    async def plain_meta() -> None: ...

    assert plain_meta.entrypoint is False and plain_meta.flow_id is None


@pytest.mark.parametrize(("kw", "says"), [({"entrypoint": "yes"}, "entrypoint="), ({"flow_id": 3}, "flow_id=")])
def test_values_of_the_wrong_type_are_refused(kw: dict[str, Any], says: str) -> None:
    with pytest.raises(ag.UsageError, match=says):

        @ag.graph_fn(name="wrong", **kw)
        async def wrong() -> None: ...
