"""The Python names promoted ``@graphify`` source uses, chosen so that none hides another.

Promoted source is pasted into the notebook that defined the agent, so it binds and reads names there:

* the tools it calls, by the name their object is bound to (``increment`` for ``@ag.tool(name="inc") def
  increment``: the registered name ``inc`` is bound nowhere) or by the expression an MCP tool gives (``calc.add``);
* ``ag`` and what it imports (``from aether_nb.tools import read_env``);
* the graph's parameters, which must be the agent's input names (``@graphify`` calls the body with them);
* one variable per node.

An input named like a tool the body calls (``def agent(add)`` calling the tool ``add``) would hide that tool inside
the body, so the body then reads every input from one ``**inputs`` dict instead (the graph's inputs keep the agent's
names); a node's variable never takes the name of an input, a tool, an import or another variable (an input
``double_1`` makes the first ``double`` node's variable ``double_1_``, its node id stays ``double_1``).
"""

from __future__ import annotations

import keyword
import sys
from collections.abc import Iterable
from typing import Any


def identifier(name: object) -> bool:
    """Whether ``name`` can be written as a Python name in source."""
    return isinstance(name, str) and name.isidentifier() and not keyword.iskeyword(name)


def bound_name(tool: Any, registered: str) -> str:
    """The name promoted source calls ``tool`` by: a name bound to the tool object in the module that defined it (a
    notebook's ``__main__`` is its namespace), preferring the function's own name, then the registered one; else the
    function's name (a tool defined inside a function is bound in no module), else the registered name."""
    fn = getattr(tool, "fn", tool)
    own = getattr(fn, "__name__", None)
    module = sys.modules.get(getattr(fn, "__module__", None) or "")
    namespace: dict[str, Any] = dict(vars(module)) if module is not None else {}
    for name in (own, registered):
        if identifier(name) and namespace.get(str(name)) is tool:
            return str(name)
    others = sorted(k for k, v in namespace.items() if v is tool and identifier(k) and not k.startswith("_"))
    if others:
        return others[0]
    return str(own) if identifier(own) else registered


def root_name(expression: str) -> str:
    """The name an expression such as ``calc.tools['x']`` or ``ag.mcp.servers()['s'].add`` starts with."""
    head = ""
    for ch in expression:
        if not (ch.isalnum() or ch == "_"):
            break
        head += ch
    return head


class Names:
    """Hands out names that collide with none taken before (see the module docstring)."""

    def __init__(self, taken: Iterable[str]) -> None:
        self.taken = set(taken)

    def fresh(self, wanted: str, suffix: str = "_") -> str:
        """``wanted`` if it is free, else ``wanted`` with ``suffix`` (then a number) appended; the name is taken."""
        base = wanted if identifier(wanted) else f"n_{wanted}"
        name, n = base, 1
        while name in self.taken:
            name = f"{base}{suffix}" if n == 1 else f"{base}{suffix}{n}"
            n += 1
        self.taken.add(name)
        return name
