"""The app starts clean: importing and compiling it, as `reflex run` does, logs no deprecation and
raises no DeprecationWarning from Reflex, and the theme (configured in rxconfig.py) still applies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import app_tree

# Runs in a fresh interpreter (Reflex reports each deprecation once per process) in an app tree of
# its own, so the compiled `.web` lands there. Prints one JSON line: what was reported.
PROBE = """
import json, logging, warnings

reported = []


class Deprecations(logging.Handler):
    def emit(self, record):
        if getattr(record, "kind", None) == "deprecation" or "deprecat" in record.getMessage().lower():
            reported.append(f"{record.name}: {record.getMessage()}")


logging.getLogger().addHandler(Deprecations(logging.DEBUG))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from reflex.utils import prerequisites

    prerequisites.get_compiled_app(use_rich=False)
found = [
    f"{w.category.__name__} at {w.filename}:{w.lineno}: {w.message}"
    for w in caught
    if issubclass(w.category, DeprecationWarning | PendingDeprecationWarning | FutureWarning)
]
print(json.dumps({"logged": reported, "warned": found}))
"""


@pytest.mark.slow
def test_the_app_compiles_without_deprecations_and_keeps_its_theme(tmp_path: Path) -> None:
    tree = app_tree(tmp_path / "app")
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}", "PYTHONPATH": str(tree)}
    result = subprocess.run(  # noqa: S603 - our own interpreter and probe
        [sys.executable, "-c", PROBE], cwd=tree, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["logged"] == []
    assert [w for w in report["warned"] if "/reflex" in w] == []
    # the theme reaches the compiled app: accent and radius on the root, light before hydration
    root = (tree / ".web" / "app" / "root.jsx").read_text()
    assert 'accentColor:"indigo"' in root and 'radius:"medium"' in root
    assert 'defaultColorMode = "light"' in (tree / ".web" / "utils" / "context.jsx").read_text()
