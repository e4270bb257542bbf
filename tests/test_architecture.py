"""Layering rules that keep the core pure and the two front doors (web, api) apart.

Each rule is a checker over a source tree that reports `file:line what`; the tests run
them on app/ and expect no offence, and a test of the tests runs them on a small fake
tree with one offence of each kind and expects each to be reported.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"


@dataclass(frozen=True)
class Import:
    module: str  # the full dotted name imported (for `from a import b`: a.b as well as a)
    line: int


def imports_of(tree: ast.AST) -> Iterator[Import]:
    """Every absolute import, anywhere in the module (functions and TYPE_CHECKING blocks too)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield Import(node.module, node.lineno)
            for alias in node.names:  # `from app.web import routes` imports app.web.routes
                yield Import(f"{node.module}.{alias.name}", node.lineno)


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def modules(root: Path) -> Iterator[tuple[str, ast.AST]]:
    """(path relative to the folder holding `app`, parsed module) for every .py file under root."""
    for path in sorted(root.rglob("*.py")):
        yield path.relative_to(root.parent).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


def is_in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def first_per_line(name: str, items: Iterator[Import]) -> list[str]:
    """One offence per import statement: the first offending name on its line."""
    seen: dict[int, str] = {}
    for item in items:
        seen.setdefault(item.line, f"{name}:{item.line} imports {item.module}")
    return [seen[line] for line in sorted(seen)]


def forbidden_imports(root: Path, importer: str, forbidden: tuple[str, ...]) -> list[str]:
    """Modules under the package `importer` (e.g. app/api) that import any of `forbidden`."""
    offences = []
    for name, tree in modules(root):
        if not name.startswith(importer + "/") and name != importer + ".py":
            continue
        hits = (item for item in imports_of(tree) if any(is_in(item.module, f) for f in forbidden))
        offences += first_per_line(name, hits)
    return offences


def front_doors_importing_each_other(root: Path) -> list[str]:
    return forbidden_imports(root, "app/api", ("app.web",)) + forbidden_imports(root, "app/web", ("app.api",))


def http_layer_importing_a_front_door(root: Path) -> list[str]:
    return forbidden_imports(root, "app/http", ("app.web", "app.api"))


SELECT_ALLOWED = ("app/services/", "app/db.py", "app/migrations/", "app/cli/")


def queries_outside_services(root: Path) -> list[str]:
    """Calls of `select(...)` (sqlmodel/sqlalchemy) outside the services and the database layer."""
    offences = []
    for name, tree in modules(root):
        if name.startswith(SELECT_ALLOWED) or name in SELECT_ALLOWED:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                if called == "select":
                    offences.append(f"{name}:{node.lineno} calls select(")
    return offences


HTMX_HEADER = re.compile(r"(?i)\bhx-[a-z]")
HTMX_MODULE = "app/web/htmx.py"


def docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def htmx_headers_outside_the_htmx_module(root: Path) -> list[str]:
    """String literals naming an HX-* header (any case) outside app/web/htmx.py (docstrings aside)."""
    offences = []
    for name, tree in modules(root):
        if name == HTMX_MODULE:
            continue
        skip = docstrings(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in skip
                and HTMX_HEADER.search(node.value)
            ):
                offences.append(f"{name}:{node.lineno} names an htmx header: {node.value!r}")
    return offences


ROUTES = "app.web.routes"
MAY_IMPORT_ROUTES = {"app/main.py"}


def route_modules_imported(root: Path) -> list[str]:
    """Imports of a route module (app.web.routes.<area>) by anything but app/main.py."""
    offences = []
    for name, tree in modules(root):
        if name in MAY_IMPORT_ROUTES:
            continue
        hits = (item for item in imports_of(tree) if item.module.startswith(ROUTES + "."))
        offences += first_per_line(name, hits)
    return offences


# The rules, on the real tree.


def test_api_and_web_never_import_each_other() -> None:
    offences = front_doors_importing_each_other(APP)
    assert offences == [], "\n".join(offences)


def test_the_http_layer_imports_neither_web_nor_api() -> None:
    offences = http_layer_importing_a_front_door(APP)
    assert offences == [], "\n".join(offences)


def test_queries_are_built_only_in_services_and_the_database_layer() -> None:
    offences = queries_outside_services(APP)
    assert offences == [], "\n".join(offences)


def test_only_the_htmx_module_names_htmx_headers() -> None:
    offences = htmx_headers_outside_the_htmx_module(APP)
    assert offences == [], "\n".join(offences)


def test_no_module_imports_a_route_module_but_main() -> None:
    offences = route_modules_imported(APP)
    assert offences == [], "\n".join(offences)


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


# The test of the tests: every checker reports a planted offence, with its file and line.

FAKE_TREE = {
    "app/main.py": "from app.web.routes import evidence\n",
    "app/api/things.py": '"""An API module."""\n\nimport json\nfrom app.web.auth import Principal\n',
    "app/web/routes/things.py": (
        '"""Mentions HX-Request in a docstring, which is fine."""\n'
        "from sqlmodel import select\n\n"
        "def handler(request):\n"
        "    from app.api.bodies import Thing\n"
        "    rows = session.exec(select(Thing))\n"
        "    return request.headers.get('HX-Target')\n"
    ),
    "app/web/routes/other.py": "from app.web.routes.things import handler\n",
    "app/web/htmx.py": "HEADER = 'HX-Request'\n",
    "app/http/errors.py": "from app.web import templating\n",
    "app/services/things.py": "from sqlmodel import select\nq = select(1)\n",
}


def fake_tree(tmp_path: Path) -> Path:
    for name, source in FAKE_TREE.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    return tmp_path / "app"


def test_the_checkers_report_each_planted_offence(tmp_path: Path) -> None:
    root = fake_tree(tmp_path)
    assert front_doors_importing_each_other(root) == [
        "app/api/things.py:4 imports app.web.auth",
        "app/web/routes/things.py:5 imports app.api.bodies",
    ]
    assert http_layer_importing_a_front_door(root) == ["app/http/errors.py:1 imports app.web"]
    assert queries_outside_services(root) == ["app/web/routes/things.py:6 calls select("]
    assert htmx_headers_outside_the_htmx_module(root) == [
        "app/web/routes/things.py:7 names an htmx header: 'HX-Target'"
    ]
    assert route_modules_imported(root) == ["app/web/routes/other.py:1 imports app.web.routes.things"]
    (root / "cli.py").write_text("from app.web.routes import evidence, things\n", encoding="utf-8")
    assert route_modules_imported(root) == [
        "app/cli.py:1 imports app.web.routes.evidence",
        "app/web/routes/other.py:1 imports app.web.routes.things",
    ]


def test_the_checkers_pass_a_clean_tree(tmp_path: Path) -> None:
    (tmp_path / "app" / "web").mkdir(parents=True)
    (tmp_path / "app" / "web" / "page.py").write_text("from app.http import auth\n", encoding="utf-8")
    root = tmp_path / "app"
    for check in (
        front_doors_importing_each_other,
        http_layer_importing_a_front_door,
        queries_outside_services,
        htmx_headers_outside_the_htmx_module,
        route_modules_imported,
    ):
        assert check(root) == [], check.__name__
