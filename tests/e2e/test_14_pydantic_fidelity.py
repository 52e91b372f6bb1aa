"""14. Pydantic arguments arrive as they left, on the real broker and a real worker: a job that
writes `model_dump(exclude_unset=True)` (a PATCH) writes exactly the fields the request set, nested
models included, and a `default_factory=uuid4` field keeps the request's value, not one made in
the worker. Through `BackgroundTasks.add_task` and `asyncio.create_task` sites alike."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import RedisServer, Worker, imported, wait_for
from tests.e2e.tinyapp import tiny_app
from tests.e2e.web import client

pytestmark = pytest.mark.e2e

ENDPOINTS = '''
"""PATCH-style jobs: what the request set is all they may write."""

import asyncio
import json
import os
from uuid import UUID, uuid4

from fastapi import APIRouter, BackgroundTasks
from pydantic import BaseModel, Field

router = APIRouter()


class Tag(BaseModel):
    name: str
    color: str = "red"


class EventUpdate(BaseModel):
    title: str | None = None
    description: str | None = None
    tags: list[Tag] = []
    request_id: UUID = Field(default_factory=uuid4)


def _write(key: str, changes: dict, event_in: EventUpdate) -> None:
    record = {
        "key": key,
        "changes": changes,
        "request_id": str(event_in.request_id),
        "pid": os.getpid(),
    }
    with open(os.environ["E2E_STORED"], "a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\\n")


def apply_patch(key: str, event_in: EventUpdate) -> None:
    _write(key, event_in.model_dump(mode="json", exclude_unset=True), event_in)


async def _patch_event_background(key: str, event_in: EventUpdate) -> None:
    apply_patch(key, event_in)


def patch_event_sync(key: str, event_in: EventUpdate) -> None:
    apply_patch(key, event_in)


def seen(event_in: EventUpdate) -> dict:
    return {
        "changes": event_in.model_dump(mode="json", exclude_unset=True),
        "request_id": str(event_in.request_id),
    }


@router.patch("/queued/{key}")
async def queued(key: str, event_in: EventUpdate) -> dict:
    asyncio.create_task(_patch_event_background(key, event_in))
    return seen(event_in)


@router.patch("/after/{key}")
async def after(key: str, event_in: EventUpdate, background_tasks: BackgroundTasks) -> dict:
    background_tasks.add_task(patch_event_sync, key, event_in=event_in)
    return seen(event_in)
'''

BODIES = {
    "title-only": {"title": "renamed"},
    "nulled": {"description": None},  # set to its default: still a change to write
    "nested": {"tags": [{"name": "a"}, {"name": "b", "color": "blue"}]},
    "nothing": {},
}


def stored(path: Path) -> dict[str, dict[str, Any]]:
    if not path.exists():
        return {}
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return {r["key"]: r for r in records}


def test_a_patch_job_in_the_worker_writes_what_the_request_set(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: Callable[..., Worker],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tree = tiny_app(tmp_path / "fidelity", "events", ENDPOINTS)
    endpoint = (tree / "app/api/endpoints/events.py").read_text(encoding="utf-8")
    assert endpoint.count("event_in_fields_set=fields_set_of(event_in)") == 2, endpoint
    record = tmp_path / "stored.jsonl"
    broker = redis_server.url()
    monkeypatch.setenv("CELERY_BROKER_URL", broker)
    monkeypatch.setenv("E2E_STORED", str(record))
    worker = start_worker(tree, broker, env={"E2E_STORED": str(record)})
    expected: dict[str, dict[str, Any]] = {}

    with imported(tree, "app.main") as main:

        async def run() -> None:
            async with client(main.app) as http:
                for route in ("queued", "after"):
                    for name, body in BODIES.items():
                        key = f"{route}-{name}"
                        response = await http.patch(f"/{route}/{key}", json=body)
                        assert response.status_code == 200, response.text
                        expected[key] = response.json()

        asyncio.run(run())

    done = wait_for(
        lambda: (lambda found: found if len(found) == len(expected) else None)(stored(record)),
        30,
        "every job to run in the worker",
    )
    for key, request in expected.items():
        job = done[key]
        assert job["pid"] in worker.process_ids(), key
        assert job["changes"] == request["changes"], key
        assert job["request_id"] == request["request_id"], key
    # The control: what the request set is not what a model rebuilt from JSON counts as set.
    assert expected["queued-title-only"]["changes"] == {"title": "renamed"}
    assert done["after-nested"]["changes"] == {
        "tags": [{"name": "a"}, {"name": "b", "color": "blue"}]
    }
