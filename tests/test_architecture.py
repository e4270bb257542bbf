"""Layering rules that keep the core pure."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_domain_imports_only_the_standard_library_and_itself() -> None:
    offenders = []
    for path in sorted((APP / "domain").rglob("*.py")):
        for name in imported_modules(path):
            top = name.split(".")[0]
            if name.startswith("app.domain") or top in sys.stdlib_module_names or top == "__future__":
                continue
            offenders.append(f"{path.relative_to(APP)} imports {name}")
    assert offenders == []


def test_services_never_import_fastapi_or_starlette() -> None:
    offenders = [
        f"{path.relative_to(APP)} imports {name}"
        for path in sorted((APP / "services").rglob("*.py"))
        for name in imported_modules(path)
        if name.split(".")[0] in {"fastapi", "starlette"} or name.startswith(("app.web", "app.api"))
    ]
    assert offenders == []


def test_every_domain_module_states_its_rule() -> None:
    missing = [
        path.name
        for path in sorted((APP / "domain").glob("*.py"))
        if not ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert missing == []
