"""Small things a scratch tester met around static graphs: a documented example that did not build, asyncio noise
from an abandoned body, and a resume message that named the wrong way to resume."""

from __future__ import annotations

import re
from typing import Any

import aether_nb as ag
import aether_nb.tools
from aether_nb.runtime.session import Session


def test_the_example_at_the_top_of_aether_nb_tools_builds(session: Session) -> None:
    doc = aether_nb.tools.__doc__ or ""
    block = re.search(r"::\n\n(.*?)\n\n(?=\S)", doc, re.S)
    assert block is not None
    source = "\n".join(line[4:] for line in block.group(1).splitlines())
    namespace: dict[str, Any] = {"ag": ag}
    exec(compile(source, "aether_nb/tools.py docstring", "exec"), namespace)  # (our own docstring)
    graph = namespace["onboard"].build()  # the old example formatted an input into a prompt: a build error
    assert list(graph.nodes) == ["ask_text_1", "ask_approval_1", "welcome_1", "send_text_1"]
