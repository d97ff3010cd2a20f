"""Dependency arrows point inward (DESIGN.md "Layout"): checked on the source, not by review.

Every import counts, those inside functions too; only `if TYPE_CHECKING:` blocks (never run)
are left out.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "connector"

# Each part of the package (a sub-package or a top-level module) -> the parts it may import.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "tomlfile": {"errors"},
    "logs": set(),
    "config": {"errors", "tomlfile"},
    "engine": {"errors"},
    "wording": set(),
    "shipped": {"errors", "connector"},
    "mapping": {"engine", "errors", "tomlfile", "shipped", "connector"},
    "sequence_sections": {"engine", "errors"},
    "sequence_file": {"engine", "errors", "tomlfile", "wording", "sequence_sections"},
    "sequence_export": {"engine", "errors", "sequence_sections"},
    "step_input": {"engine", "errors"},
    "dataverse": {"config", "errors"},
    "store": {"engine", "errors"},
    "pipeline": {"engine", "store", "config", "errors"},
    "plugins": {"engine", "pipeline", "config", "errors"},
    "app": {"pipeline", "store", "engine", "mapping", "config", "errors"},
    "sync": {"app", "pipeline", "store", "engine", "mapping", "dataverse", "config", "errors",
             "logs"},
    "mockserver": set(),
    "health": {"errors"},
    "metrics": {"app", "sync", "store", "health", "config", "errors"},
    "doctor": {"app", "sync", "mapping", "dataverse", "config", "errors", "logs"},
    "demo": {"app", "sync", "pipeline", "store", "engine", "dataverse", "mockserver", "web",
             "sequence_file", "shipped", "wording", "config"},
    "labels": {"engine"},
    "where": {"mapping", "store", "config", "errors"},
    "readmodels": {"app", "store", "engine", "labels", "errors"},
    "connecting": {"app", "pipeline", "store", "engine", "errors"},
    "web": {"app", "sync", "pipeline", "store", "engine", "mapping", "dataverse", "mockserver",
            "demo", "doctor", "metrics", "health", "sequence_file", "sequence_export",
            "sequence_sections", "step_input", "shipped", "wording", "readmodels", "connecting",
            "labels", "where", "config", "errors", "logs"},
    "cli": {"app", "sync", "pipeline", "store", "engine", "mapping", "dataverse", "mockserver",
            "demo", "doctor", "metrics", "health", "sequence_file", "sequence_export",
            "sequence_sections", "step_input", "shipped", "wording", "readmodels", "connecting",
            "labels", "where", "web", "config", "errors", "logs"},
    "__main__": {"cli"},
    "connector": set(),  # the package's own __init__
}
# The product's core, which must work without the example plugin.
CORE = ("engine", "store", "pipeline", "app", "sync", "mapping", "dataverse", "config")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def part_of(module: str) -> str:
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "connector"


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skipped


@cache
def imports_of(module: str) -> frozenset[str]:
    """The connector modules `module` imports, at any depth of its code."""
    tree = ast.parse(modules()[module].read_text(encoding="utf-8"))
    skipped = _type_checking_nodes(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")
                if modules()[module].name != "__init__.py":
                    package.pop()
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            submodules = {f"{base}.{a.name}" for a in node.names} & set(modules())
            # `from package import module` depends on the module; `from module import name`
            # (or a package's own names) on the module or package itself.
            found.update(submodules or {base})
    return frozenset(n for n in found if n in modules() and n != module)


def test_every_part_is_declared() -> None:
    parts = {part_of(m) for m in modules()}
    assert parts - set(ALLOWED) == set(), "declare the new part in ALLOWED"


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_part_imports_only_inward(part: str) -> None:
    offences = [
        f"{module} imports {name}"
        for module in modules() if part_of(module) == part
        for name in imports_of(module)
        if part_of(name) != part and part_of(name) not in ALLOWED[part]
    ]
    assert not offences, "\n".join(offences)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node, or with a self-loop (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_between_parts() -> None:
    graph: dict[str, set[str]] = {}
    for module in modules():
        graph.setdefault(part_of(module), set()).update(
            part_of(n) for n in imports_of(module) if part_of(n) != part_of(module)
        )
    assert _cycles(graph) == []


def test_no_import_cycle_between_modules() -> None:
    graph = {module: set(imports_of(module)) for module in modules()}
    assert _cycles(graph) == []


def test_the_core_does_not_import_the_example_plugin() -> None:
    offences = [
        f"{module} imports {name}"
        for module in modules() if part_of(module) in CORE
        for name in imports_of(module) if part_of(name) == "plugins"
    ]
    assert not offences, "\n".join(offences)


def test_the_cycle_finder_sees_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_web_console_reads_the_store_in_one_place_and_writes_no_sql() -> None:
    """connector/web stays thin: state reads go through web/data.py (one place to re-point
    when the store changes), writes through App.execute; no SQLAlchemy anywhere in it."""
    offences = []
    for module, path in modules().items():
        if part_of(module) != "web":
            continue
        text = path.read_text(encoding="utf-8")
        if path.name != "data.py" and any(part_of(n) == "store" for n in imports_of(module)):
            offences.append(f"{module} imports the store")
        if "sqlalchemy" in text or "connector.mockserver" in text:
            offences.append(f"{module} uses SQLAlchemy or the mock")
    assert not offences, "\n".join(offences)
