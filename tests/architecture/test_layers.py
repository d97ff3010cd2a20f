"""Dependency arrows point inward (DESIGN.md "Layout"): checked on the source, not by review."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "connector"

# package -> the connector modules it may import (itself is always allowed)
ALLOWED: dict[str, set[str]] = {
    "engine": {"connector.errors"},
    "mockserver": set(),
    "mapping": {"connector.engine", "connector.errors", "connector.tomlfile", "connector"},
    "dataverse": {"connector.config", "connector.errors"},
    "store": {"connector.engine", "connector.errors"},
    "pipeline": {"connector.engine", "connector.store", "connector.config", "connector.errors"},
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module == "connector":
            found.update(f"connector.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {name for name in found if name == "connector" or name.startswith("connector.")}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_inward(package: str) -> None:
    own = f"connector.{package}"
    allowed = ALLOWED[package]
    offences = []
    for path in sorted((PACKAGE / package).rglob("*.py")):
        for name in imported_modules(path):
            if name == own or name.startswith(own + "."):
                continue
            if any(name == a or name.startswith(a + ".") for a in allowed if a != "connector"):
                continue
            if name == "connector" and "connector" in allowed:
                continue
            offences.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    assert not offences, "\n".join(offences)


def test_the_web_console_reads_the_store_in_one_place_and_writes_no_sql() -> None:
    """connector/web stays thin: state reads go through web/data.py (one place to re-point
    when the store changes), writes through App.execute; no SQLAlchemy anywhere in it."""
    offences = []
    for path in sorted((PACKAGE / "web").rglob("*.py")):
        names = imported_modules(path)
        text = path.read_text(encoding="utf-8")
        if path.name != "data.py" and any(n.startswith("connector.store") for n in names):
            offences.append(f"{path.name} imports the store")
        if "sqlalchemy" in text or "connector.mockserver" in text:
            offences.append(f"{path.name} uses SQLAlchemy or the mock")
    assert not offences, "\n".join(offences)
