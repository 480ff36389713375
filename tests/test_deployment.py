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
    assert "8000" in web["expose"] and "ports" not in web  # only the proxy is published
    assert web["environment"]["GRANIAN_WORKERS"]
    assert "/health/ready" in " ".join(web["healthcheck"]["test"])
    assert web["depends_on"]["db"]["condition"] == "service_healthy"
    assert web["depends_on"]["redis"]["condition"] == "service_healthy"
    db = services["db"]
    assert db["image"].startswith("postgres")
    assert any(v.startswith("pgdata:") for v in db["volumes"]) and "pgdata" in compose["volumes"]
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert "ping" in " ".join(services["redis"]["healthcheck"]["test"])
    proxy = services["proxy"]
    assert "80:80" in proxy["ports"]
    assert proxy["depends_on"]["web"]["condition"] == "service_healthy"
    assert any(v.startswith("./deploy/nginx.conf:") for v in proxy["volumes"])


def test_proxy_passes_websockets_to_every_replica() -> None:
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "server web:8000" in conf
    event = conf[conf.index("location /_event"):]
    event = event[: event.index("}")]
    assert "proxy_set_header Upgrade $http_upgrade" in event
    assert "proxy_set_header Connection $connection_upgrade" in event
    assert "proxy_http_version 1.1" in event
    assert "X-Forwarded-For" in conf


def test_image_migrates_on_start_and_runs_production_mode() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "trading_app.cli migrate" in dockerfile and "--env prod" in dockerfile
    assert "REFLEX_USE_SYSTEM_BUN=1" in dockerfile


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "scripts/test.sh" in readme and "scripts/run.sh" in readme
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def test_migrate_command_applies_migrations_under_a_lock(pg_template: str) -> None:
    import os
    import subprocess
    import sys
    import uuid

    from tests.conftest import PG_BASE, _pg_admin

    name = f"mig_{uuid.uuid4().hex[:10]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        env = {**os.environ, "DATABASE_URL": f"postgresql://{PG_BASE.split('://', 1)[1]}/{name}"}
        runs = [subprocess.Popen([sys.executable, "-m", "trading_app.cli", "migrate"], cwd=ROOT, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
        assert [p.wait(timeout=120) for p in runs] == [0, 0]  # two replicas at once: both succeed
        import psycopg

        with psycopg.connect(f"{PG_BASE}/{name}") as conn:
            tables = {r[0] for r in conn.execute("select tablename from pg_tables where schemaname='public'")}
        assert {"users", "signals", "positions", "orders", "alembic_version"} <= tables
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
