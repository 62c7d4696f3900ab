"""The shape of the code: module sizes, layers, import cycles, typed seams.

These read the source with `ast` (nothing is imported), so they hold for every module,
whether or not a test happens to load it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "storage", "trainer")
MAX_LINES = 300
# What each layer may not import (prefix match on the imported module).
FORBIDDEN = {
    "storage": ("bot", "trainer"),
    "trainer": ("bot", "storage"),
    "bot.core": ("bot.room", "bot.matrix", "bot.http", "bot.cli", "bot.dev", "bot.app"),
    "bot.matrix": ("bot.room", "bot.http", "bot.cli", "bot.app"),
}
# The one module a lower layer may read from bot/: the shared job states, which import nothing.
ALLOWED = ("bot.core.types",)


def modules() -> dict[str, Path]:
    """Every module of the three packages by dotted name."""
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = modules()


def imported(name: str, path: Path) -> Iterator[str]:
    """Modules `name` imports anywhere in its source (TYPE_CHECKING and local ones too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                # `from pkg import module` imports the module; `from mod import name` the module.
                sub = f"{base}.{alias.name}"
                yield sub if sub in MODULES else base


def graph() -> dict[str, set[str]]:
    return {
        name: {dep for dep in imported(name, path) if dep in MODULES and dep != name}
        for name, path in MODULES.items()
    }


def test_no_module_in_bot_is_over_300_lines() -> None:
    long = {
        name: count
        for name, path in MODULES.items()
        if name.startswith("bot") and (count := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert {} == long


def test_no_import_cycles() -> None:
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for dep in sorted(edges[node]):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for name in sorted(edges):
        if name not in index:
            visit(name)
    assert [] == cycles


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layers_import_only_downwards(layer: str) -> None:
    wrong = sorted(
        f"{name} imports {dep}"
        for name, deps in graph().items()
        if name == layer or name.startswith(layer + ".")
        for dep in deps
        if dep not in ALLOWED
        and any(dep == bad or dep.startswith(bad + ".") for bad in FORBIDDEN[layer])
    )
    assert [] == wrong


def _is_any(annotation: ast.expr | None) -> bool:
    """`Any`, `Any | None` or `Optional[Any]`: an object whose type is not said."""
    if annotation is None:
        return False
    text = ast.unparse(annotation).replace("typing.", "").replace(" ", "")
    return text in {"Any", "Any|None", "None|Any", "Optional[Any]", "'Any'"}


def untyped_seams(path: Path) -> Iterator[str]:
    """Parameters, returns and attributes typed `Any` (JSON as dict[str, Any] is fine)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
            for arg in params:
                if _is_any(arg.annotation):
                    yield f"{path.name}:{node.lineno} {node.name}({arg.arg}: Any)"
            if _is_any(node.returns):
                yield f"{path.name}:{node.lineno} {node.name}() -> Any"
        elif isinstance(node, ast.AnnAssign) and _is_any(node.annotation):
            yield f"{path.name}:{node.lineno} {ast.unparse(node.target)}: Any"


def test_no_seam_is_typed_any() -> None:
    found = [seam for path in MODULES.values() for seam in untyped_seams(path)]
    assert [] == found


def test_no_formatter_escapes() -> None:
    skipped = [
        f"{path.relative_to(REPO)}:{number}"
        for path in [*MODULES.values(), *(REPO / "tests").rglob("*.py")]
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if line.rstrip().endswith("# fmt" + ": skip")
    ]
    assert [] == skipped
