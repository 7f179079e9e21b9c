"""bot/'s layout shows the architecture: adapters -> service -> store, and no import circles.

Every module under bot/ is parsed (not imported), so a layering mistake fails here even when
the offending import sits inside a function or under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BOT = ROOT / "bot"


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, e.g. "bot.telegram.chat"
    target: str  # the imported bot module, e.g. "bot.service"
    at_import_time: bool  # False when inside a function (a lazy import)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def bot_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(BOT.rglob("*.py"))}


MODULES = bot_modules()


def _resolve(name: str) -> str | None:
    """The bot module `name` refers to: itself, or the package when `name` is an attribute."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imported_names(node: ast.AST, module: str) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:  # relative: resolve against the importing module's package
            package = module.split(".")
            is_package = MODULES[module].name == "__init__.py"
            base = package[: len(package) - node.level + (1 if is_package else 0)]
            stem = ".".join(base + ([node.module] if node.module else []))
        else:
            stem = node.module or ""
        # `from bot.reports import chart` imports the module bot.reports.chart.
        return [f"{stem}.{alias.name}" for alias in node.names] or [stem]
    if (  # importlib.import_module("bot.x")
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute | ast.Name)
        and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
        == "import_module"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return [node.args[0].value]
    return []


def imports_of(module: str) -> list[Import]:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for name in _imported_names(node, module):
            target = _resolve(name)
            if target is not None and target != module:
                found.append(Import(module, target, not in_function))
        inside = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(tree, False)
    return found


ALL_IMPORTS = [edge for module in MODULES for edge in imports_of(module)]


def layer(module: str) -> str:
    """bot.telegram.chat -> telegram; bot.service -> service; bot -> bot."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def find_cycle(edges: set[tuple[str, str]]) -> list[str] | None:
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := walk(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := walk(start)):
            return cycle
    return None


def test_the_parser_sees_the_known_arrows() -> None:
    """Guards the test itself: a parser that found nothing would pass every rule below."""
    edges = {(e.source, e.target) for e in ALL_IMPORTS}
    assert ("bot.telegram.chat", "bot.service") in edges
    assert ("bot.service", "bot.store.db") in edges
    assert ("bot.nudges.tick", "bot.reports.progress") in edges  # importlib, by name
    assert ("bot.store.db", "bot.store.migrations") in edges  # inside a function
    assert find_cycle({("a", "b"), ("b", "c"), ("c", "a")}) == ["a", "b", "c", "a"]
    assert find_cycle({("a", "b"), ("b", "c")}) is None


def test_no_import_cycle_among_bot_modules() -> None:
    """Counting every import that runs when a module is imported (TYPE_CHECKING ones too)."""
    edges = {(e.source, e.target) for e in ALL_IMPORTS if e.at_import_time}
    # A package's __init__ runs before its modules; that is not a circle of ours.
    edges = {(a, b) for a, b in edges if not a.startswith(b + ".")}
    assert find_cycle(edges) is None


def test_no_cycle_among_the_parts_of_bot_even_through_lazy_imports() -> None:
    """Between sub-packages (store, service, nudges, telegram, ...) even a function-local
    import counts: a lazy import only hides a circle, it does not remove it."""
    edges = {(layer(e.source), layer(e.target)) for e in ALL_IMPORTS}
    edges = {(a, b) for a, b in edges if a != b and b != "bot"}
    assert find_cycle(edges) is None


FORBIDDEN = {
    "store": {"service", "delivery", "nudges", "telegram", "terminal", "reports", "pictures"},
    "service": {"telegram", "terminal", "nudges", "reports", "pictures"},
    "delivery": {"telegram", "terminal", "nudges", "reports"},
    "nudges": {"telegram", "terminal"},
    "reports": {"telegram", "terminal", "nudges"},
    "pictures": {"telegram", "terminal", "service", "store"},
}


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_dependencies_point_one_way(part: str) -> None:
    wrong = sorted(
        f"{e.source} -> {e.target}"
        for e in ALL_IMPORTS
        if layer(e.source) == part and layer(e.target) in FORBIDDEN[part]
    )
    assert wrong == []


def test_every_module_belongs_to_a_known_part() -> None:
    """A new flat module at the top must be an entry point or an operations tool."""
    top = {
        name for name in MODULES if name.count(".") == 1 and MODULES[name].name != "__init__.py"
    }
    assert top == {
        "bot.__main__",
        "bot.settings",
        "bot.logs",
        "bot.health",
        "bot.stats",
        "bot.service",
        "bot.delivery",
    }
