"""The one-way rule, checked on the source: no import cycle in ``bot/`` or ``engine/``, the
engine never imports the bot, and front ends never import each other or the composition
root. Lazy imports inside functions count too (a cycle hidden in a function is still one)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("bot", "engine")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Project modules ``name`` imports (``TYPE_CHECKING`` blocks excluded: no run time)."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def skip(node: ast.AST) -> bool:
        return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if skip(child):
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - child.level
                                                      + 1] + ([base] if base else []))
                found.add(base)
                found.update(f"{base}.{a.name}" for a in child.names)
            visit(child)

    visit(tree)
    resolved = set()
    for target in found:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            resolved.add(target)
    return resolved


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            # a package's __init__ importing its own submodules is not a cycle of design
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                out.append(sorted(part))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def _without_package_inits(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Edges from a module to the package it sits in are Python's doing (importing
    ``a.b`` runs ``a/__init__``), not the module's: drop them."""
    return {name: {t for t in targets if not name.startswith(t + ".")}
            for name, targets in graph.items()}


def test_no_import_cycles():
    assert _cycles(_without_package_inits(_graph())) == []


def test_the_engine_never_imports_the_bot():
    graph = _graph()
    bad = {m: sorted(t for t in ts if t.split(".")[0] == "bot")
           for m, ts in graph.items() if m.startswith("engine")}
    assert {m: ts for m, ts in bad.items() if ts} == {}


def test_front_ends_import_neither_each_other_nor_the_app():
    graph = _graph()
    fronts = ("bot.frontends.telegram", "bot.frontends.discord", "bot.frontends.console")
    for module, targets in graph.items():
        mine = next((f for f in fronts if module == f or module.startswith(f + ".")), None)
        if mine is None:
            continue
        others = [t for t in targets for f in fronts
                  if f != mine and (t == f or t.startswith(f + "."))]
        assert others == [], (module, others)
        assert "bot.app" not in targets, module
        reach = ("bot.storage", "bot.jobs.dispatcher", "bot.jobs.delivery")
        assert not any(t.startswith(reach) for t in targets), \
            (module, sorted(targets))


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
