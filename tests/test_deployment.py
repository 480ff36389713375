"""What can be checked of the production deployment without a Docker engine."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis
import yaml

from tests.conftest import ROOT


def test_compose_file_defines_a_healthy_production_stack() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) >= {"web", "db", "redis"}
    web = services["web"]
    assert web["environment"]["APP_ENV"] == "production"
    assert web["environment"]["DATABASE_URL"].startswith("postgresql+psycopg://")
    assert web["environment"]["REDIS_URL"].startswith("redis://:${REDIS_PASSWORD:?")
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


def _interpolate(value: str, env: dict[str, str]) -> str:
    """What docker compose makes of `${NAME:?message}` and `$$` in the compose file."""

    def var(match: re.Match[str]) -> str:
        if match.group(1) not in env:
            raise KeyError(match.group(1))  # compose refuses to start: the variable is required
        return env[match.group(1)]

    return re.sub(r"\$\{(\w+):\?[^}]*\}", var, value).replace("$$", "$")


def test_redis_needs_the_password_the_app_is_given(tmp_path: Path) -> None:
    """The compose file's own Redis command and URL, run against a real redis-server: without the
    password Redis refuses every command; the app's REDIS_URL and the health check log in."""
    if shutil.which("redis-server") is None:
        pytest.skip("no redis-server on this machine")
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    with pytest.raises(KeyError):  # no password in .env: compose does not start
        _interpolate(services["web"]["environment"]["REDIS_URL"], {})
    env = {"REDIS_PASSWORD": "a1b2c3d4e5f6a7b8c9d0"}
    redis_env = {k: _interpolate(v, env) for k, v in services["redis"]["environment"].items()}
    shell, flag, command = (_interpolate(part, env) for part in services["redis"]["command"])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(  # noqa: S603 - the compose file's command, on a private port
        [shell, flag, f"{command} --port {port} --bind 127.0.0.1 --dir {tmp_path} --appendonly no"],
        env={**os.environ, **redis_env},
        stdout=subprocess.DEVNULL,
    )
    try:
        url = _interpolate(services["web"]["environment"]["REDIS_URL"], env)
        url = url.replace("@redis:6379", f"@127.0.0.1:{port}")
        client = redis.Redis.from_url(url)
        for _ in range(100):
            try:
                assert client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=port).set("x", "y")
        check = _interpolate(services["redis"]["healthcheck"]["test"][1], env)
        check = check.replace("redis-cli", f"redis-cli -p {port}")
        assert subprocess.run(check, shell=True, env={**os.environ, **redis_env}, check=False).returncode == 0  # noqa: S602
        without = {k: v for k, v in os.environ.items() if k != "REDISCLI_AUTH"}
        assert subprocess.run(check, shell=True, env=without, check=False).returncode != 0  # noqa: S602
        client.close()
    finally:
        server.terminate()
        server.wait(timeout=10)


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


def test_metrics_add_up_the_workers_and_never_leave_through_the_proxy() -> None:
    web = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]
    assert web["environment"]["PROMETHEUS_MULTIPROC_DIR"] in web["tmpfs"]  # emptied at each start
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    block = conf[conf.index("location = /metrics"):]
    assert "return 404" in block[: block.index("}")]
