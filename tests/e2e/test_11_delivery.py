"""11. Delivery and ordering: a killed worker's job is run again (at-least-once) or lost
(at-most-once, the control); a worker killed as a whole hands its job to the next one after the
visibility timeout; an `add_task` job is published no earlier than BackgroundTasks would have
started it (the in-handler `.delay()` of earlier versions, the control, publishes before the
handler returns); a loop of `add_task` calls queues each iteration's values."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import RedisServer, Worker, imported, wait_for
from tests.e2e.tinyapp import tiny_app
from tests.e2e.web import client

pytestmark = pytest.mark.e2e

JOBS = '''
"""A slow job, and jobs that record when things happen."""

import asyncio
import json
import os
import time

from fastapi import APIRouter, BackgroundTasks, Depends

router = APIRouter()


def record(event: str, **data: object) -> None:
    with open(os.environ["E2E_EVENTS"], "a", encoding="utf-8") as out:
        out.write(json.dumps({"event": event, "at": time.time(), "pid": os.getpid(), **data}))
        out.write("\\n")


async def _slow_background(key: str, seconds: float) -> None:
    record("start", key=key)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    record("done", key=key)


def _job_background(key: str) -> None:
    record("job starts", key=key)


def get_db():
    record("dependency enters")
    try:
        yield "db"
    finally:
        record("dependency exits")


@router.post("/slow/{key}")
async def slow(key: str, seconds: float) -> dict:
    asyncio.create_task(_slow_background(key, seconds))
    return {"key": key}


@router.post("/order/{key}")
async def order(key: str, background_tasks: BackgroundTasks, db: str = Depends(get_db)) -> dict:
    background_tasks.add_task(_job_background, key)
    record("handler returns")
    return {"key": key}


@router.post("/loop")
async def loop(background_tasks: BackgroundTasks) -> dict:
    for key in ("a", "b", "c"):
        background_tasks.add_task(_job_background, key)
    return {"queued": 3}
'''
# The in-handler form that earlier versions wrote for an add_task site: the control.
IN_HANDLER = """

@router.post("/control/{key}")
async def control(key: str, db: str = Depends(get_db)) -> dict:
    task = await asyncio.to_thread(job_task.delay, key)
    record("handler returns")
    return {"key": key, "task": task.id}
"""
VISIBILITY = """
if os.environ.get("E2E_VISIBILITY"):
    celery_app.conf.broker_transport_options = {
        "visibility_timeout": float(os.environ["E2E_VISIBILITY"]),
        # kombu sweeps for messages to restore every interval * throttle s (100 s by default)
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }
"""


def events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def keyed(path: Path, event: str, key: str) -> list[dict[str, Any]]:
    return [e for e in events(path) if e["event"] == event and e.get("key") == key]


def recorded(
    tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, str]:
    """The events file (this process and the workers write to it) and the broker's URL."""
    log = tmp_path / "events.jsonl"
    broker = redis_server.url()
    monkeypatch.setenv("CELERY_BROKER_URL", broker)
    monkeypatch.setenv("E2E_EVENTS", str(log))
    return log, broker


def post(tree: Path, *paths: str, wrap: Callable[[Any], Any] | None = None) -> None:
    with imported(tree, "app.main") as main:
        app = wrap(main.app) if wrap else main.app

        async def run() -> None:
            async with client(app) as http:
                for path in paths:
                    response = await http.post(path)
                    assert response.status_code == 200, response.text

        asyncio.run(run())


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return tiny_app(tmp_path / "delivery", "jobs", JOBS)


@pytest.mark.parametrize("delivery", ["at-least-once", "at-most-once"])
def test_a_killed_child_s_job_is_run_again_only_at_least_once(
    delivery: str,
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: Callable[..., Worker],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tree = tiny_app(tmp_path / delivery, "jobs", JOBS, delivery=delivery)
    tasks = (tree / "app/tasks/jobs_tasks.py").read_text(encoding="utf-8")
    assert ("acks_late=True" in tasks) == (delivery == "at-least-once"), tasks
    log, broker = recorded(tmp_path, redis_server, monkeypatch)
    worker = start_worker(tree, broker, env={"E2E_EVENTS": str(log)})
    post(tree, "/slow/k1?seconds=3")
    started = wait_for(lambda: keyed(log, "start", "k1"), 30, "the job to start in the worker")
    child = started[0]["pid"]
    assert child in worker.process_ids() and child != worker.pid
    os.kill(child, signal.SIGKILL)
    wait_for(lambda: "WorkerLostError" in worker.log(), 30, "the worker to see its child lost")
    if delivery == "at-least-once":
        wait_for(lambda: keyed(log, "done", "k1"), 30, "the job to run again and complete")
        assert len(keyed(log, "start", "k1")) == 2
    else:
        post(tree, "/slow/k2?seconds=0")  # queued behind k1, had k1 been put back
        wait_for(lambda: keyed(log, "done", "k2"), 30, "the next job to complete")
        time.sleep(1)
        assert keyed(log, "done", "k1") == []
        assert len(keyed(log, "start", "k1")) == 1  # lost: the message was acknowledged


def test_a_killed_worker_s_job_is_taken_over_after_the_visibility_timeout(
    tmp_path: Path,
    tree: Path,
    redis_server: RedisServer,
    start_worker: Callable[..., Worker],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with (tree / "app/core/celery_app.py").open("a", encoding="utf-8") as out:
        out.write(VISIBILITY)
    log, broker = recorded(tmp_path, redis_server, monkeypatch)
    first = start_worker(tree, broker, env={"E2E_EVENTS": str(log)})
    # the job (2 s) must be shorter than the visibility timeout (3 s): a longer one would be
    # handed out again while the second worker still runs it (the report's Next Steps say so)
    post(tree, "/slow/k1?seconds=2")
    wait_for(lambda: keyed(log, "start", "k1"), 30, "the job to start in the first worker")
    os.killpg(first.pid, signal.SIGKILL)  # the whole worker: main process and pool
    killed = time.time()
    wait_for(lambda: first.proc is not None and first.proc.poll() is not None, 10, "it to die")
    second = start_worker(
        tree, broker, env={"E2E_EVENTS": str(log), "E2E_VISIBILITY": "3"}, concurrency=1
    )
    done = wait_for(lambda: keyed(log, "done", "k1"), 60, "the second worker to take it over")
    starts = keyed(log, "start", "k1")
    time.sleep(1)
    starts = keyed(log, "start", "k1")
    assert len(starts) == 2 and starts[1]["pid"] in second.process_ids(), starts
    print(f"\ntaken over {starts[1]['at'] - killed:.1f} s after the kill; done {done[0]['at']}")


def in_order(log: Path) -> list[str]:
    return [e["event"] for e in sorted(events(log), key=lambda e: e["at"])]


def test_an_add_task_job_is_published_no_earlier_than_it_would_have_started(
    tmp_path: Path,
    tree: Path,
    redis_server: RedisServer,
    start_worker: Callable[..., Worker],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from celery.signals import after_task_publish

    # 1. The original app, BackgroundTasks in the web process: when does its job start?
    original = tmp_path / "original"
    shutil.copytree(tree, original)
    (original / "app/api/endpoints/jobs.py").write_text(
        textwrap.dedent(JOBS).lstrip(), encoding="utf-8"
    )
    shutil.rmtree(original / "app/tasks")
    (original / "app/tasks").mkdir()
    (original / "app/tasks/__init__.py").write_text("")
    log = tmp_path / "original.jsonl"
    monkeypatch.setenv("E2E_EVENTS", str(log))

    def recorder(app: Any) -> Any:
        async def recorded(scope: Any, receive: Any, send: Any) -> None:
            async def sending(message: Any) -> None:
                await send(message)
                if message["type"] == "http.response.body" and not message.get("more_body"):
                    write("response sent")

            await app(scope, receive, sending)

        return recorded

    def write(event: str) -> None:
        with open(os.environ["E2E_EVENTS"], "a", encoding="utf-8") as out:
            out.write(json.dumps({"event": event, "at": time.time(), "pid": os.getpid()}) + "\n")

    post(original, "/order/o1", wrap=recorder)
    before_job = in_order(log)[: in_order(log).index("job starts")]
    assert {"handler returns"} <= set(before_job), in_order(log)

    # 2. The migrated app: the message is published no earlier than that.
    jobs = tree / "app/api/endpoints/jobs.py"
    jobs.write_text(jobs.read_text(encoding="utf-8") + IN_HANDLER, encoding="utf-8")
    log = tmp_path / "migrated.jsonl"
    monkeypatch.setenv("E2E_EVENTS", str(log))
    broker = redis_server.url()
    monkeypatch.setenv("CELERY_BROKER_URL", broker)
    worker = start_worker(tree, broker, env={"E2E_EVENTS": str(log)})

    def published(**_: Any) -> None:
        write("message published")

    after_task_publish.connect(published, weak=False)
    try:
        post(tree, "/order/m1", wrap=recorder)
        wait_for(lambda: keyed(log, "job starts", "m1"), 30, "the job to start in the worker")
        order = in_order(log)
        assert keyed(log, "job starts", "m1")[0]["pid"] in worker.process_ids()
        at = order.index("message published")
        assert set(before_job) <= set(order[:at]), order
        assert order.index("job starts") > at
        print(f"\noriginal: {in_order(tmp_path / 'original.jsonl')}\nmigrated: {order}")

        # 3. The control: the in-handler `.delay()` publishes before the handler returns.
        log.unlink()
        post(tree, "/control/c1", wrap=recorder)
        order = in_order(log)
        assert order.index("message published") < order.index("handler returns"), order
    finally:
        after_task_publish.disconnect(published)


def test_a_loop_of_add_task_calls_queues_each_iteration_s_values(
    tmp_path: Path,
    tree: Path,
    redis_server: RedisServer,
    start_worker: Callable[..., Worker],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log, broker = recorded(tmp_path, redis_server, monkeypatch)
    worker = start_worker(tree, broker, env={"E2E_EVENTS": str(log)})
    post(tree, "/loop")

    def all_three() -> list[str]:
        found = sorted(e["key"] for e in events(log) if e["event"] == "job starts")
        return found if len(found) == 3 else []

    assert wait_for(all_three, 30, "the three jobs") == ["a", "b", "c"]
    assert all(e["pid"] in worker.process_ids() for e in events(log) if e["event"] == "job starts")
