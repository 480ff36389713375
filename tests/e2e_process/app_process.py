"""The real app as operators run it: `reflex run --env prod --backend-only`, in a process of its own.

`AppProcess` starts the backend (one granian worker, no Redis) on a free loopback port with an explicit
environment, waits for `/health/ready`, and stops it: SIGTERM to the whole process group (a clean
shutdown), or SIGKILL (a crash). Each instance runs in a project directory of its own (symlinks to the
code, a copy of rxconfig.py), so its `.web` is never the shared one the browser tests compile into.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import ROOT

APP_DB_NAME = "app-under-test"  # application_name of the app's PostgreSQL connections
READY_WITHIN = 90.0  # seconds; a cold start on a loaded 2-core machine takes ~10 s


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def app_env(database_url: str, port: int, **extra: str) -> dict[str, str]:
    """The child's environment: the test process's (master keys included) plus what the app needs."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "API_URL": f"http://127.0.0.1:{port}",
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        # production settings, as operators run it (a test master key, named so; PostgreSQL; no CORS wildcard)
        "APP_ENV": "production",
        "APP_KEYS_DEVELOPMENT_ONLY": "false",
        "CORS_ALLOWED_ORIGINS": f"http://127.0.0.1:{port}",
        "GRANIAN_WORKERS": "1",
        "MONITOR_INTERVAL_SECONDS": "0.5",
        # libpq names the app's connections, so a test can end exactly the dead app's backends
        "PGAPPNAME": APP_DB_NAME,
        "REFLEX_USE_SYSTEM_BUN": "1",
        "REFLEX_TELEMETRY_ENABLED": "false",
        "PATH": f"{ROOT / '.venv/bin'}:{ROOT / '.tools/node_modules/.bin'}:{os.environ.get('PATH', '')}",
        **extra,
    }
    # no Redis: one worker and in-process limiters; the database comes from DATABASE_URL alone
    for name in ("REDIS_URL", "REFLEX_REDIS_URL", "REFLEX_DB_URL", "REFLEX_ASYNC_DB_URL",
                 "PYTEST_CURRENT_TEST"):
        env.pop(name, None)
    return env


class AppProcess:
    """One backend process; `start()` may be called again after `stop()` / `kill()` (a restart)."""

    def __init__(self, workdir: Path, env: dict[str, str], port: int) -> None:
        self.dir, self.env, self.port = workdir, env, port
        self.dir.mkdir(parents=True, exist_ok=True)
        for entry in ("trading_app", "assets"):
            if not (self.dir / entry).exists():
                (self.dir / entry).symlink_to(ROOT / entry)
        shutil.copy(ROOT / "rxconfig.py", self.dir / "rxconfig.py")
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.log = self.dir / "app.log"

    def start(self) -> AppProcess:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        log = (self.dir / f"app-{self.starts}.log").open("wb")
        self.log = Path(log.name)
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "reflex", "run", "--env", "prod", "--backend-only",
             "--backend-host", "127.0.0.1", "--backend-port", str(self.port), "--loglevel", "info"],
            cwd=self.dir, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stop() reaches granian's workers too
        )
        log.close()
        return self

    def output(self, tail: int = 4000) -> str:
        """The end of the current run's log."""
        return self.log.read_text(errors="replace")[-tail:]

    def all_output(self) -> str:
        """The logs of every run of this process, oldest first."""
        runs = sorted(self.dir.glob("app-*.log"), key=lambda p: int(p.stem.split("-")[1]))
        return "".join(p.read_text(errors="replace") for p in runs)

    def wait_ready(self, within: float = READY_WITHIN) -> float:
        """Block until /health/ready is 200 and the monitor ticked; returns the seconds it took."""
        assert self.proc is not None
        began = time.monotonic()
        with httpx.Client(timeout=2) as client:
            while time.monotonic() - began < within:
                if self.proc.poll() is not None:
                    raise AssertionError(f"app exited with {self.proc.returncode}:\n{self.output()}")
                try:
                    r = client.get(f"{self.url}/health/ready")
                    if r.status_code == 200 and r.json()["components"]["scheduler"].get("ticks", 0) > 0:
                        return time.monotonic() - began
                except (httpx.HTTPError, KeyError, ValueError):
                    pass
                time.sleep(0.1)
        raise AssertionError(f"app on :{self.port} not ready after {within}s:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL the whole process group at once: a crash, nothing gets to clean up."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._wait_port_free()

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM the process group and wait (SIGKILL if it does not stop in time)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._reap_group()
        self._wait_port_free()

    def _reap_group(self) -> None:
        # a worker may outlive the supervisor by a moment; never leave one behind
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return
        os.killpg(self.proc.pid, signal.SIGKILL)

    def _wait_port_free(self, within: float = 10) -> None:
        began = time.monotonic()
        while time.monotonic() - began < within:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) != 0:
                    return
            time.sleep(0.05)
        raise AssertionError(f"port {self.port} still answers after the app stopped")
