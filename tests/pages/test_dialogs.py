"""Every confirmation the UI asks for comes from one place, `components.dialogs.confirm`."""

from __future__ import annotations

import ast

from tests.conftest import ROOT


def test_alert_dialogs_are_built_only_by_the_shared_confirm() -> None:
    builders = []
    for path in sorted((ROOT / "trading_app").rglob("*.py")):
        tree = ast.parse(path.read_text())
        if any(isinstance(n, ast.Attribute) and n.attr == "alert_dialog" for n in ast.walk(tree)):
            builders.append(str(path.relative_to(ROOT)))
    assert builders == ["trading_app/components/dialogs.py"]
