"""4. Transient errors are retried with the configured backoff; a job that always fails stops."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import RedisServer, Worker, imported, wait_for
from tests.e2e.tinyapp import tiny_app
from tests.e2e.web import client

pytestmark = pytest.mark.e2e

BACKOFF = 1  # seconds; Celery's smallest retry_backoff
MAX_RETRIES = 2

ENDPOINTS = '''
"""Jobs that fail: a few times, always, or with an error that is not worth a retry."""

import asyncio
import itertools
import json
import os
import time

from fastapi import APIRouter

router = APIRouter()


def _attempt(key: str) -> int:
    """Record an attempt at the job `key`; return its number (1 for the first)."""
    path = os.environ["E2E_ATTEMPTS"]
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps({"key": key, "at": time.time(), "pid": os.getpid()}) + "\\n")
    with open(path, encoding="utf-8") as lines:
        return sum(json.loads(line)["key"] == key for line in lines)


async def _flaky_background(key: str, failures: int) -> None:
    await asyncio.sleep(0)
    attempt = _attempt(key)
    if attempt <= failures:
        raise ConnectionError(f"transient failure {attempt} of {key}")


async def _broken_background(key: str) -> None:
    _attempt(key)
    raise ConnectionError(f"{key} is always down")


async def _invalid_background(key: str) -> None:
    _attempt(key)
    raise ValueError(f"{key} is invalid: retrying cannot help")


@router.post("/flaky/{key}")
async def flaky(key: str, failures: int) -> dict:
    asyncio.create_task(_flaky_background(key, failures))
    return {"key": key}


@router.post("/broken/{key}")
async def broken(key: str) -> dict:
    asyncio.create_task(_broken_background(key))
    return {"key": key}


@router.post("/invalid/{key}")
async def invalid(key: str) -> dict:
    asyncio.create_task(_invalid_background(key))
    return {"key": key}
'''


def attempts(path: Path, key: str) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [a for a in map(json.loads, lines) if a["key"] == key]


def test_retries_back_off_then_succeed_or_give_up(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: Callable[..., Worker],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tree = tiny_app(
        tmp_path / "retries",
        "jobs",
        ENDPOINTS,
        retry_backoff=BACKOFF,
        max_retries=MAX_RETRIES,
        retry_on=["ConnectionError"],
    )
    generated = (tree / "app/tasks/jobs_tasks.py").read_text()
    assert "autoretry_for=(ConnectionError,)" in generated, generated
    record = tmp_path / "attempts.jsonl"
    broker = redis_server.url()
    monkeypatch.setenv("CELERY_BROKER_URL", broker)
    worker = start_worker(tree, broker, env={"E2E_ATTEMPTS": str(record)})

    async def run() -> None:
        async with client(main.app) as http:
            for path in ("/flaky/flaky?failures=2", "/broken/broken", "/invalid/invalid"):
                response = await http.post(path)
                assert response.status_code == 200, response.text

    with imported(tree, "app.main") as main:
        asyncio.run(run())

    # Flaky: fails twice, retried after 1 s then 2 s (retry-backoff * 2**n), then succeeds.
    def flaky_done() -> list[dict[str, Any]]:
        found = attempts(record, "flaky")
        return found if len(found) >= 3 else []

    flaky = wait_for(flaky_done, 30, "the flaky job's third attempt")
    gaps = [later["at"] - earlier["at"] for earlier, later in itertools.pairwise(flaky)]
    print(f"\nflaky job retried after {', '.join(f'{g:.2f} s' for g in gaps)}")  # a figure only
    assert all(a["pid"] in worker.process_ids() for a in flaky)
    succeeded = re.compile(r"flaky_task\[[-0-9a-f]+\] succeeded")
    wait_for(lambda: succeeded.search(worker.log()), 10, "the flaky job's success in the log")
    # the countdowns the worker scheduled (what Celery logs), not the wall-clock gaps
    countdowns = re.findall(r"flaky_task\[[-0-9a-f]+\] retry: Retry in (\d+)s", worker.log())
    assert countdowns == [str(BACKOFF * 2**n) for n in range(2)], countdowns

    # Broken: the first run and MAX_RETRIES retries, then the task fails for good.
    gave_up = re.compile(r"broken_task\[[-0-9a-f]+\] raised unexpected")
    wait_for(lambda: gave_up.search(worker.log()), 30, "the broken job to give up")
    log = worker.log()
    assert len(attempts(record, "broken")) == 1 + MAX_RETRIES
    assert "ConnectionError('broken is always down')" in log
    retries = re.findall(r"broken_task\[[-0-9a-f]+\] retry: Retry in (\d+)s", log)
    assert retries == [str(BACKOFF * 2**n) for n in range(MAX_RETRIES)], retries

    # Invalid: ValueError is not in retry-on, so it is not retried.
    assert len(attempts(record, "invalid")) == 1
    assert re.search(r"invalid_task\[[-0-9a-f]+\] raised unexpected: ValueError", log), log
    assert not re.search(r"invalid_task\[[-0-9a-f]+\] retry", log)
