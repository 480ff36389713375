"""Imports go one way. Every `import` in trading_app/ (lazy ones inside functions included) is read from
the source with `ast` and checked against the layers:

    domain, settings          import nothing of the app (the domain is pure; settings only read the env)
    db                        domain, settings
    venues                    + db (the paper venue keeps its books in the database)
    services                  + venues
    api, jobs, state          domain, settings, venues, services: never db, only through services
    components                + state
    pages                     + components, jobs (the dashboard shows the scheduler's status)
    trading_app.trading_app, trading_app.cli, the package itself: composition roots, anything

A module in no layer (a new top-level module) is a violation too: it has to be placed first.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = "trading_app"
BASE = frozenset({"domain", "settings"})
ALLOWED: dict[str, frozenset[str]] = {
    "domain": frozenset(),
    "settings": frozenset(),
    "startup_gc": frozenset(),
    "db": BASE,
    "venues": BASE | {"db"},
    "services": BASE | {"db", "venues"},
    "api": BASE | {"venues", "services"},
    "jobs": BASE | {"venues", "services"},
    "state": BASE | {"venues", "services"},
    "components": BASE | {"venues", "services", "state"},
    "pages": BASE | {"venues", "services", "state", "components", "jobs"},
}
ROOTS = frozenset({PACKAGE, f"{PACKAGE}.trading_app", f"{PACKAGE}.cli"})


def module_name(path: Path, source_root: Path) -> str:
    """`trading_app/pages/views.py` -> `trading_app.pages.views`; a package's `__init__` is the package."""
    parts = list(path.relative_to(source_root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, module: str) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, at any depth of the syntax tree.

    `from package import name` yields `package.name`: the name may be a submodule (`from trading_app
    import db`), and for an attribute the extra part changes nothing (same layer as the package).
    """
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against this module's package
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, node.module] if node.module else anchor)
            else:
                base = node.module or ""
            for alias in node.names:
                yield node.lineno, base if alias.name == "*" else f"{base}.{alias.name}"


def layer_of(module: str) -> str | None:
    """The layer of a module of the app (its first component below the package), None outside it."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    return parts[1] if len(parts) > 1 else PACKAGE


def violations(source_root: Path) -> list[str]:
    """Every import of `source_root/trading_app` that the layers forbid, as `file:line: a -> b`."""
    found = []
    for path in sorted((source_root / PACKAGE).rglob("*.py")):
        module = module_name(path, source_root)
        if module in ROOTS:
            continue
        layer = layer_of(module)
        where = path.relative_to(source_root)
        if layer not in ALLOWED:
            found.append(f"{where}: {module} is in no layer (add it to ALLOWED in tests/test_layers.py)")
            continue
        for line, target in imported_modules(path, module):
            target_layer = layer_of(target)
            if target_layer is None or target_layer == layer:
                continue
            if target_layer not in ALLOWED[layer]:
                found.append(f"{where}:{line}: {layer} may not import {target_layer} ({module} -> {target})")
    return found


def test_the_app_imports_only_down_the_layers() -> None:
    assert violations(ROOT) == []


# -- the checker itself, on a synthetic tree ---------------------------------------------------


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in {"trading_app/__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


CLEAN = {
    "trading_app/domain/__init__.py": "",
    "trading_app/domain/clock.py": "import datetime\n",
    "trading_app/settings.py": "import os\n",
    "trading_app/db/__init__.py": "",
    "trading_app/db/types.py": "from trading_app.domain.clock import *\nfrom ..settings import x\n",
    "trading_app/venues/__init__.py": "",
    "trading_app/venues/paper.py": "from trading_app.db import types\nfrom . import base\n",
    "trading_app/services/__init__.py": "",
    "trading_app/services/svc.py": "import trading_app.venues.paper\nfrom trading_app.db.types import T\n",
    "trading_app/pages/__init__.py": "",
    "trading_app/pages/page.py": (
        "from trading_app.services import svc\nfrom trading_app.components import c\nfrom .. import jobs\n"
    ),
    "trading_app/jobs.py": "from trading_app.services.svc import run\n",
    "trading_app/trading_app.py": "from trading_app.db import models\nfrom trading_app.pages import page\n",
}


def test_a_tree_that_keeps_the_layers_passes(tmp_path: Path) -> None:
    assert violations(_tree(tmp_path, CLEAN)) == []


D, P = "trading_app/domain/risk.py", "trading_app/pages/page.py"


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (D, "from trading_app.db.types import utcnow\n", "domain may not import db"),
        (D, "import trading_app.settings\n", "domain may not import settings"),
        (D, "from ..venues import base\n", "domain may not import venues"),
        ("trading_app/domain/__init__.py", "from ..services import x\n", "domain may not import services"),
        (P, "from trading_app.db.types import utcnow\n", "pages may not import db"),
        (P, "def f():\n    from trading_app import db\n", "pages may not import db"),
        ("trading_app/api/route.py", "from trading_app.pages import page\n", "api may not import pages"),
        ("trading_app/jobs.py", "from trading_app.db.engine import get_engine\n", "jobs may not import db"),
        ("trading_app/components/c.py", "from ..db import models\n", "components may not import db"),
        ("trading_app/db/types.py", "from trading_app.venues import paper\n", "db may not import venues"),
        ("trading_app/venues/paper.py", "from ..services.svc import x\n", "venues may not import services"),
        ("trading_app/services/svc.py", "from trading_app.pages import P\n", "services may not import pages"),
        ("trading_app/newthing.py", "", "trading_app.newthing is in no layer"),
    ],
)
def test_a_violating_import_is_reported(tmp_path: Path, name: str, text: str, expected: str) -> None:
    found = violations(_tree(tmp_path, {**CLEAN, name: text}))
    assert len(found) == 1 and expected in found[0], found
    assert found[0].startswith(name), found  # names the file (and line) to fix
