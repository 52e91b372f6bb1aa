"""6. Module-level async resources bound to a loop keep working from one task to the next.

The job uses an `asyncio.Lock` (bound to the loop of its first contended use) and a
`redis.asyncio` client (whose connections belong to the loop that opened them), both created once
at import. The reference pattern (a new loop per task) breaks both from the second task on.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.support import RedisServer, Worker, imported, wait_for
from tests.e2e.tinyapp import tiny_app
from tests.e2e.web import client

pytestmark = pytest.mark.e2e

RUNS = 3

ENDPOINTS = '''
"""A job that uses module-level async resources."""

import asyncio
import json
import os
import threading

import redis.asyncio as aioredis
from fastapi import APIRouter

router = APIRouter()

_lock = asyncio.Lock()
_client = aioredis.Redis.from_url(os.environ["E2E_RESULTS_URL"])
_first_loop: list[asyncio.AbstractEventLoop] = []


async def _hold(run: int) -> None:
    async with _lock:  # a waiter, so the lock binds itself to the running loop
        await asyncio.sleep(0.005)
        await _client.incr(f"e2e:held:{run}")


async def _use_resources_background(run: int) -> None:
    loop = asyncio.get_running_loop()
    _first_loop.append(loop)
    record = {"run": run, "pid": os.getpid(), "thread": threading.get_ident(), "loop": id(loop)}
    try:
        await asyncio.gather(*(_hold(run) for _ in range(3)))
        record["held"] = int(await _client.get(f"e2e:held:{run}"))
        record["same_loop"] = loop is _first_loop[0]
    except Exception as exc:
        record["error"] = repr(exc)
        raise
    finally:
        await asyncio.shield(_client.rpush("e2e:runs", json.dumps(record)))


@router.post("/runs/{run}")
async def use_resources(run: int) -> dict:
    asyncio.create_task(_use_resources_background(run))
    return {"run": run}
'''


@pytest.mark.parametrize("pool", ["prefork", "threads"])
def test_async_resources_survive_consecutive_tasks(
    pool: str,
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: Callable[..., Worker],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tree = tiny_app(tmp_path / "resources", "resources", ENDPOINTS, max_retries=0)
    broker, results = redis_server.url(0), redis_server.url(1)
    monkeypatch.setenv("CELERY_BROKER_URL", broker)
    monkeypatch.setenv("E2E_RESULTS_URL", results)
    worker = start_worker(tree, broker, pool=pool, concurrency=1)
    store = redis_server.client(1)

    def finished(count: int) -> list[dict[str, object]]:
        runs = [json.loads(r) for r in store.lrange("e2e:runs", 0, -1)]
        return runs if len(runs) >= count else []

    with imported(tree, "app.main") as main:
        for run in range(1, RUNS + 1):  # consecutive: each task starts after the last one ended

            async def request(run: int = run) -> None:
                async with client(main.app) as http:
                    response = await http.post(f"/runs/{run}")
                    assert response.status_code == 200, response.text

            asyncio.run(request())
            wait_for(lambda run=run: finished(run), 30, f"task {run} in the worker")

    runs = finished(RUNS)
    store.close()
    assert [r.get("error") for r in runs] == [None] * RUNS, (runs, worker.log())
    assert [r["held"] for r in runs] == [3] * RUNS
    assert all(r["same_loop"] for r in runs), runs
    assert len({r["pid"] for r in runs}) == 1, "all three tasks in one worker process"
    assert runs[0]["pid"] in worker.process_ids()
    assert "Task app.tasks.resources_tasks.use_resources_task[" in worker.log()
