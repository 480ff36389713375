"""The load generator of bench/webhook.py: raw HTTP/1.1 alert requests over keep-alive
connections (asyncio, no client library in the way), their answers and timings, and the CPU the
server and PostgreSQL spent on them.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass
class Answer:
    status: int
    body: bytes
    seconds: float


def alert_requests(
    hooks: list[tuple[str, str, str]], count: int, tag: str, port: int
) -> list[tuple[bytes, str]]:
    """Raw HTTP requests (and their alert ids), spread round-robin over the webhooks."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = []
    for n in range(count):
        _, hook_uuid, secret = hooks[n % len(hooks)]
        alert_id = f"{tag}-{n}"
        body = json.dumps({
            "secret": secret, "action": "buy", "market": "BTCUSDT.P", "order_type": "market",
            "price": 65123.5, "size_usd": "250", "sl_pct": "1.5", "tp_pct": "3", "alert_id": alert_id,
            "timestamp": now, "exchange": "BINANCE", "interval": "15",
            "comment": "Long entry: RSI crossed 30, volume confirmed",
        }).encode() + b"\n"
        head = (f"POST /api/webhooks/signal/{hook_uuid} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Content-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        out.append((head + body, alert_id))
    return out


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def burst(port: int, requests: list[bytes], concurrency: int) -> tuple[list[Answer], float]:
    """Send every request over `concurrency` keep-alive connections; (answers in order, seconds)."""
    connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(concurrency)]
    answers: list[Answer | None] = [None] * len(requests)
    next_index = itertools.count()

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (i := next(next_index)) < len(requests):
            start = time.perf_counter()
            writer.write(requests[i])
            status, body = await read_answer(reader)
            answers[i] = Answer(status, body, time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(run(r, w) for r, w in connections)), timeout=120)
    elapsed = time.perf_counter() - start
    for _, writer in connections:
        writer.close()
    return answers, elapsed  # type: ignore[return-value]


def quantile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]


@dataclass
class Round:
    rate: float
    p50_ms: float
    p99_ms: float
    server_cpu_us: float  # CPU time of the server processes per request
    postgres_cpu_us: float  # CPU time of every PostgreSQL process per request


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of the processes and their children."""
    import psutil

    total = 0.0
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            for p in [proc, *proc.children(recursive=True)]:
                times = p.cpu_times()
                total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def postgres_pids(database: str) -> list[int]:
    """The PostgreSQL backends serving `database` (their titles name it; other databases on the
    server, e.g. other test runs, are left out)."""
    import psutil

    pids = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        title = " ".join(proc.info["cmdline"] or [])
        if (proc.info["name"] or "").startswith("postgres") and f" {database} " in f" {title} ":
            pids.append(proc.pid)
    return pids


def measured_burst(port: int, requests: list[bytes], concurrency: int, server_pid: int,
                   database: str) -> tuple[list[Answer], Round]:
    pg = postgres_pids(database)
    server_before, pg_before = cpu_seconds([server_pid]), cpu_seconds(pg)
    answers, elapsed = asyncio.run(burst(port, requests, concurrency))
    server_cpu, pg_cpu = cpu_seconds([server_pid]) - server_before, cpu_seconds(pg) - pg_before
    seconds = [a.seconds for a in answers]
    n = len(answers)
    return answers, Round(n / elapsed, quantile(seconds, 0.5) * 1000, quantile(seconds, 0.99) * 1000,
                          server_cpu / n * 1e6, pg_cpu / n * 1e6)
