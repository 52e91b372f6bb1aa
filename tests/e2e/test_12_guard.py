"""12. The run-time guard of unverified arguments (`unverified-args = "guard"`, the default): a
site whose job's parameters carry no annotations is migrated; called with plain strings it is
queued and the worker runs it; called with a value the serializer would change (a tuple comes
back a list) it runs in the web process, with a warning naming the task. Both through the real
broker and a real worker."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import RedisServer, Worker, imported, wait_for
from tests.e2e.tinyapp import tiny_app
from tests.e2e.web import client

pytestmark = pytest.mark.e2e

ENDPOINTS = '''
"""A job whose parameters carry no annotations, given computed values."""

import asyncio
import json
import os

from fastapi import APIRouter

router = APIRouter()


def as_text(key):
    return f"text-{key}"


def as_pair(key):
    return (key, len(key))


async def _store_background(key, value):
    with open(os.environ["E2E_STORED"], "a", encoding="utf-8") as out:
        record = {"key": key, "type": type(value).__name__, "pid": os.getpid()}
        out.write(json.dumps(record) + "\\n")


@router.post("/text/{key}")
async def text(key: str) -> dict:
    value = as_text(key)
    asyncio.create_task(_store_background(key, value))
    return {"key": key}


@router.post("/pair/{key}")
async def pair(key: str) -> dict:
    value = as_pair(key)
    asyncio.create_task(_store_background(key, value))
    return {"key": key}
'''


def stored(path: Path, key: str) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [r for r in records if r["key"] == key]


def test_the_guard_queues_what_survives_and_runs_the_rest_here(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: Callable[..., Worker],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tree = tiny_app(tmp_path / "guard", "jobs", ENDPOINTS)
    endpoint = (tree / "app/api/endpoints/jobs.py").read_text(encoding="utf-8")
    assert "guarded_delay, store_task, key, value" in endpoint, endpoint
    record = tmp_path / "stored.jsonl"
    broker = redis_server.url()
    monkeypatch.setenv("CELERY_BROKER_URL", broker)
    monkeypatch.setenv("E2E_STORED", str(record))
    worker = start_worker(tree, broker, env={"E2E_STORED": str(record)})
    caplog.set_level(logging.INFO)

    with imported(tree, "app.main") as main:

        async def run() -> None:
            async with client(main.app) as http:
                for path in ("/text/a", "/pair/b"):
                    response = await http.post(path)
                    assert response.status_code == 200, response.text
                await asyncio.sleep(0.5)  # the fallback job runs on this loop

        asyncio.run(run())

    queued = wait_for(lambda: stored(record, "a"), 30, "the plain job to run in the worker")
    assert queued[0]["pid"] in worker.process_ids() and queued[0]["type"] == "str"
    here = wait_for(lambda: stored(record, "b"), 10, "the guarded job to run here")
    assert here == [{"key": "b", "type": "tuple", "pid": os.getpid()}]  # as the original did
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        "The arguments of app.tasks.jobs_tasks.store_task would not survive the json serializer"
        in w
        for w in warnings
    ), warnings
    assert "store_task" in worker.log() and not stored(record, "b")[1:]
