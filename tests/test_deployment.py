"""What can be checked of the production deployment without a Docker engine."""

from __future__ import annotations

import yaml

from tests.conftest import ROOT


def test_compose_file_defines_a_healthy_production_stack() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) >= {"web", "db", "redis"}
    web = services["web"]
    assert web["environment"]["APP_ENV"] == "production"
    assert web["environment"]["DATABASE_URL"].startswith("postgresql+psycopg://")
    assert web["environment"]["REDIS_URL"].startswith("redis://redis:")
    assert web["env_file"] == ".env"
    assert "8000:8000" in web["ports"]
    assert "/health/ready" in " ".join(web["healthcheck"]["test"])
    assert web["depends_on"]["db"]["condition"] == "service_healthy"
    assert web["depends_on"]["redis"]["condition"] == "service_healthy"
    db = services["db"]
    assert db["image"].startswith("postgres")
    assert any(v.startswith("pgdata:") for v in db["volumes"]) and "pgdata" in compose["volumes"]
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert "ping" in " ".join(services["redis"]["healthcheck"]["test"])


def test_image_migrates_on_start_and_runs_production_mode() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "reflex db migrate" in dockerfile and "--env prod" in dockerfile
    assert "REFLEX_USE_SYSTEM_BUN=1" in dockerfile


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "scripts/test.sh" in readme and "scripts/run.sh" in readme
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
