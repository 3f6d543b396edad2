"""The package's structure, pinned: one owner per piece of state, imports that point one way.

* No module of ``aether_nb`` reads another module's underscore members: whoever owns a piece of state gives the
  others a public method for it.
* No import cycle between the modules of ``aether_nb/runtime`` (imports inside ``if TYPE_CHECKING:`` only exist for
  the type checker and do not count; imports inside functions do).
* The runtime imports neither the services, the notebook layer nor the flow package.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "aether_nb"
IPYTHON_PROTOCOL = ("_repr_", "_ipython_")


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        name = name.removesuffix(".__init__")
        out[name] = ast.parse(path.read_text(), str(path))
    return out


def _defined_privates(tree: ast.Module) -> set[str]:
    """Underscore names this module defines: functions, classes, class attributes, slots, ``self._x = ...``."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name):
                    names.add(t.id)
            value = node.value
            if value is not None and any(isinstance(t, ast.Name) and t.id == "__slots__" for t in targets):
                names.update(
                    c.value for c in ast.walk(value) if isinstance(c, ast.Constant) and isinstance(c.value, str)
                )
    return {n for n in names if n.startswith("_")}


def test_no_module_reads_another_modules_underscore_members() -> None:
    offenders = []
    for name, tree in _modules().items():
        own = _defined_privates(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute):
                continue
            attr = node.attr
            if not attr.startswith("_") or (attr.startswith("__") and attr.endswith("__")):
                continue
            if attr.startswith(IPYTHON_PROTOCOL) or attr in own:
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            offenders.append(f"{name}:{node.lineno} .{attr}")
    assert offenders == []


def test_no_module_imports_another_modules_underscore_names() -> None:
    """``from aether_nb.x import _y`` is the same read as ``x._y`` (a private module such as ``aether_nb._lazy`` is
    the package's own helper, not another module's member, and may be imported)."""
    modules = _modules()
    offenders = []
    for name, tree in modules.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("aether_nb"):
                for alias in node.names:
                    private = alias.name.startswith("_") and not alias.name.startswith("__")
                    if private and f"{node.module}.{alias.name}" not in modules:
                        offenders.append(f"{name}:{node.lineno} {node.module}.{alias.name}")
    assert offenders == []


def _imports(tree: ast.Module, package: str) -> set[str]:
    """Modules of ``package`` imported at run time (skipping ``if TYPE_CHECKING:`` blocks)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(package):
            found.add(node.module)
            for alias in node.names:  # "from aether_nb.runtime import session"
                found.add(f"{node.module}.{alias.name}")
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith(package))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def test_no_import_cycle_in_the_runtime() -> None:
    modules = {n: t for n, t in _modules().items() if n.startswith("aether_nb.runtime")}
    graph = {n: {m for m in _imports(t, "aether_nb.runtime") if m in modules and m != n} for n, t in modules.items()}
    cycles = []
    state: dict[str, int] = {}

    def dfs(n: str, path: list[str]) -> None:
        state[n] = 1
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                cycles.append(" -> ".join([*path[path.index(m) :], m]))
            elif m not in state:
                dfs(m, [*path, m])
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            dfs(n, [n])
    assert cycles == []


def test_the_runtime_imports_no_upper_layer() -> None:
    upper = ("aether_nb.services", "aether_nb.notebook", "aether_nb.flow", "aether_nb.mcp", "aether_nb.config")
    found = []
    for name, tree in _modules().items():
        if name.startswith("aether_nb.runtime"):
            found += [f"{name} -> {m}" for m in _imports(tree, "aether_nb") if m.startswith(upper)]
    assert found == []
