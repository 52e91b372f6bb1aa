"""15. Time limits: with `time-limits`, a job that runs past its soft limit in a real prefork
worker gets SoftTimeLimitExceeded where it is (an async job where it awaits, a plain function
where it runs), may clean up, and its task fails; the async job does not stay on the worker's
event loop to wake up during the next job."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import RedisServer, Worker, wait_for
from tests.e2e.test_11_delivery import post, recorded
from tests.e2e.tinyapp import tiny_app

pytestmark = pytest.mark.e2e

JOBS = '''
"""Jobs that hang past their soft time limit, and a quick one."""

import asyncio
import json
import os
import time

from celery.exceptions import SoftTimeLimitExceeded
from fastapi import APIRouter, BackgroundTasks

router = APIRouter()


def record(event: str, **data: object) -> None:
    with open(os.environ["E2E_EVENTS"], "a", encoding="utf-8") as out:
        out.write(json.dumps({"event": event, "pid": os.getpid(), **data}) + "\\n")


async def _stuck_background(key: str, seconds: float) -> None:
    record("start", key=key)
    try:
        await asyncio.sleep(seconds)
        record("slept through", key=key)
    except SoftTimeLimitExceeded:
        record("soft time limit", key=key)
        await asyncio.sleep(0.1)  # cleaning up may await
        record("cleaned up", key=key)
        raise


def _stuck_sync_background(key: str, seconds: float) -> None:
    record("start", key=key)
    try:
        time.sleep(seconds)
        record("slept through", key=key)
    except SoftTimeLimitExceeded:
        record("soft time limit", key=key)
        raise


async def _quick_background(key: str, seconds: float) -> None:
    await asyncio.sleep(seconds)
    record("done", key=key)


@router.post("/stuck/{key}")
async def stuck(key: str, seconds: float) -> dict:
    asyncio.create_task(_stuck_background(key, seconds))
    return {"key": key}


@router.post("/stuck-sync/{key}")
async def stuck_sync(key: str, seconds: float, background_tasks: BackgroundTasks) -> dict:
    background_tasks.add_task(_stuck_sync_background, key, seconds)
    return {"key": key}


@router.post("/quick/{key}")
async def quick(key: str, seconds: float) -> dict:
    asyncio.create_task(_quick_background(key, seconds))
    return {"key": key}
'''


def events(path: Path, event: str, key: str) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    found = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [e for e in found if e["event"] == event and e["key"] == key]


def test_a_job_past_its_soft_limit_gets_soft_time_limit_exceeded(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: Callable[..., Worker],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tree = tiny_app(tmp_path / "limits", "jobs", JOBS, time_limits={"stuck*": 1}, max_retries=0)
    tasks = (tree / "app/tasks/jobs_tasks.py").read_text(encoding="utf-8")
    assert tasks.count("    soft_time_limit=1,\n    time_limit=61,\n") == 2, tasks
    log, broker = recorded(tmp_path, redis_server, monkeypatch)
    worker = start_worker(tree, broker, pool="prefork", concurrency=1, env={"E2E_EVENTS": str(log)})
    # the async job sleeps 3 s: past its 1 s soft limit, and, were it left on the loop, it would
    # wake up during the next job on the same process (which waits 3.5 s)
    post(tree, "/stuck/a?seconds=3", "/quick/next?seconds=3.5", "/stuck-sync/s?seconds=3")
    wait_for(lambda: events(log, "soft time limit", "s"), 60, "the plain job's soft limit")
    [start] = events(log, "start", "a")
    [limit] = events(log, "soft time limit", "a")
    assert limit["pid"] == start["pid"] and start["pid"] in worker.process_ids() - {worker.pid}
    assert events(log, "cleaned up", "a")
    assert events(log, "done", "next")  # it ran in between, on the same process and loop
    assert events(log, "slept through", "a") == events(log, "slept through", "s") == []
    text = worker.log()
    for task in ("stuck_task", "stuck_sync_task"):
        name = re.escape(f"app.tasks.jobs_tasks.{task}")
        assert re.search(rf"Soft time limit \(1s\) exceeded for {name}\[", text), text
        assert re.search(rf"Task {name}\[[-0-9a-f]+\] raised unexpected: SoftTimeLimitEx", text)
