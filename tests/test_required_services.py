"""The suite fails, never skips, when PostgreSQL or Redis is missing (what CI relies on)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("TEST_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:1/postgres", "PostgreSQL"),
        ("TEST_REDIS_URL", "redis://127.0.0.1:1/0", "Redis"),
    ],
)
def test_a_missing_service_fails_the_run(variable: str, value: str, named: str) -> None:
    env = {**os.environ, variable: value}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_settings.py"]
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 3, run.stdout[-2000:]
    assert f"{named} is required" in run.stdout + run.stderr
