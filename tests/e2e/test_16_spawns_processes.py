"""16. A job that starts processes, on real workers.

The premise (`spawns-processes`): a hand-written Celery task that starts a
`multiprocessing.Process` fails on a prefork worker, whose pool processes are daemonic
(`AssertionError: daemonic processes are not allowed to have children`, read back from a Redis
result backend; the child never runs), and the same task succeeds on a `-P threads` worker (the
child runs and writes its marker file). Its exit code is not asserted: a child forked from a
thread of a `ThreadPoolExecutor` (Celery's threads pool) exits with 1 after its target has run,
as CPython's `concurrent.futures` exit hook tries to join the thread the child was forked from
(plain CPython does the same on 3.11 to 3.13; a `solo` worker, or the `spawn` or `forkserver`
start method, gives 0).

The tool's answer: `fixtures/cases/reason_spawns_processes_threads/before` (`queues` routes
`render_tiles_task` and `render_map_task` to `cpu`, `pools` serves `cpu` with threads), migrated by
`celery-codemod migrate`, has its `render_tiles` (`multiprocessing.Process`) and `render_map`
(`ProcessPoolExecutor`) sites migrated and routed to `cpu` in the web process's `task_routes`.
Driven over HTTP through the rewritten handlers, each job runs on the real `-Q cpu -P threads`
worker and its child processes start, write their markers and end; the thread-only job goes to
the default queue's prefork worker. The control: the migrated `render_tiles_task` published to
the default queue instead fails there with the same AssertionError (its retry says so) and its
child never runs, so the routing is what lets the job work.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from tests.e2e.support import (
    FIXTURES,
    RedisServer,
    Worker,
    copy_tree,
    imported,
    migrate,
    wait_for,
)
from tests.e2e.web import client

pytestmark = pytest.mark.e2e

DAEMONIC = "daemonic processes are not allowed to have children"

SPAWNER = '''\
"""A hand-written Celery task whose body starts a process."""

import multiprocessing
import os

from celery import Celery

app = Celery(
    "spawner",
    broker=os.environ["CELERY_BROKER_URL"],
    backend=os.environ["E2E_RESULT_BACKEND"],
)


def _mark(path: str) -> None:
    with open(path, "w", encoding="utf-8") as out:
        out.write(str(os.getpid()))


@app.task(name="spawner.spawn")
def spawn(path: str) -> dict:
    child = multiprocessing.Process(target=_mark, args=(path,))
    child.start()
    child.join()
    return {"pid": os.getpid(), "exitcode": child.exitcode}
'''


def test_a_task_that_starts_a_process_fails_on_prefork_and_runs_on_threads(
    tmp_path: Path, redis_server: RedisServer, start_worker: Callable[..., Worker]
) -> None:
    tree = tmp_path / "spawner"
    tree.mkdir()
    (tree / "spawner.py").write_text(SPAWNER, encoding="utf-8")
    broker, backend = redis_server.url(0), redis_server.url(1)
    env = {"E2E_RESULT_BACKEND": backend}
    prefork = start_worker(tree, broker, app_module="spawner", queues="prefork", env=env)
    threads = start_worker(
        tree, broker, app_module="spawner", pool="threads", queues="threads", env=env
    )
    on_prefork, on_threads = tmp_path / "prefork.marker", tmp_path / "threads.marker"

    sender = Celery("sender", broker=broker, backend=backend)
    try:
        failed = sender.send_task("spawner.spawn", args=[str(on_prefork)], queue="prefork")
        succeeded = sender.send_task("spawner.spawn", args=[str(on_threads)], queue="threads")
        failure = failed.get(timeout=60, propagate=False)
        result = succeeded.get(timeout=60)
        assert failed.state == "FAILURE", (failed.state, prefork.log())
        assert isinstance(failure, AssertionError) and str(failure) == DAEMONIC, repr(failure)
        assert DAEMONIC in (failed.traceback or "")
    finally:
        sender.close()

    assert not on_prefork.exists()  # the child was never started
    assert result["pid"] == threads.pid  # the threads pool runs tasks in the worker's process
    child = int(on_threads.read_text(encoding="utf-8"))
    assert child not in threads.process_ids()  # a process of its own, joined and gone
    assert re.search(
        r"Task spawner\.spawn\[[-0-9a-f]+\] raised unexpected: AssertionErr", prefork.log()
    )
    assert DAEMONIC not in threads.log()


CASE = FIXTURES / "cases" / "reason_spawns_processes_threads" / "before"
TASKS = "app.tasks.render_tasks."

# The fixture's jobs print; the copy's write one marker file per call, from the process it runs in.
DRAW = '    print("tile", tile)\n'
MARK = """

def _mark(tile: int) -> None:
    import json
    import multiprocessing
    import os
    import threading

    record = {
        "tile": tile,
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "process": multiprocessing.current_process().name,
        "thread": threading.current_thread().name,
    }
    folder = os.environ["E2E_MARKERS"]
    final = os.path.join(folder, f"{tile}-{os.getpid()}.json")
    with open(final + ".tmp", "w", encoding="utf-8") as out:  # renamed whole: never read half
        out.write(json.dumps(record))
    os.replace(final + ".tmp", final)
"""

MAIN = '''\
"""ASGI entry point (written by the test)."""

from fastapi import FastAPI

from app.api.render import router

app = FastAPI()
app.include_router(router)
'''


def markers(folder: Path) -> dict[int, dict[str, Any]]:
    found = [json.loads(p.read_text(encoding="utf-8")) for p in folder.glob("*.json")]
    return {record["tile"]: record for record in found}


def test_the_migrated_job_runs_its_processes_on_the_threads_queue(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: Callable[..., Worker],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tree = copy_tree(CASE, tmp_path / "render")
    migrate(tree, "--report", "report.json")
    report = json.loads((tree / "report.json").read_text(encoding="utf-8"))
    sites = {site["function"]: site for site in report["sites"]}
    for function, task in (("tiles", "render_tiles_task"), ("maps", "render_map_task")):
        assert sites[function]["status"] == "migrated", sites[function]
        assert sites[function]["task"] == TASKS + task
    handlers = (tree / "app/api/render.py").read_text(encoding="utf-8")
    assert "partial(render_tiles_task.delay, count)" in handlers, handlers

    # Make the jobs observable: the copy's `_draw` (run in the child processes) leaves a marker.
    service = tree / "app/services/render.py"
    source = service.read_text(encoding="utf-8")
    assert source.count(DRAW) == 1, source
    service.write_text(source.replace(DRAW, "    _mark(tile)\n") + MARK, encoding="utf-8")
    (tree / "app/main.py").write_text(MAIN, encoding="utf-8")
    folder = tmp_path / "markers"
    folder.mkdir()
    env = {"E2E_MARKERS": str(folder)}

    broker = redis_server.url()
    monkeypatch.setenv("CELERY_BROKER_URL", broker)  # wins over the app's hard-coded broker
    cpu = start_worker(tree, broker, pool="threads", concurrency=2, queues="cpu", env=env)
    default = start_worker(tree, broker, env=env)  # prefork, Celery's default queue `celery`

    with imported(tree, "app.main") as main:
        from app.core.celery_app import celery_app
        from app.tasks.render_tasks import render_tiles_task

        async def run() -> None:
            async with client(main.app) as http:
                for path in ("/tiles/7", "/maps/3", "/previews/5"):
                    response = await http.post(path)
                    assert response.status_code == 200, response.text

        asyncio.run(run())
        routes = celery_app.conf.task_routes  # as the web process published with them
        # The control: the same migrated task, sent to the prefork worker's queue.
        render_tiles_task.apply_async((11,), queue="celery")

    assert routes[TASKS + "render_tiles_task"] == {"queue": "cpu"}
    assert routes[TASKS + "render_map_task"] == {"queue": "cpu"}
    assert TASKS + "render_preview_task" not in routes

    try:
        done = wait_for(
            lambda: (lambda m: m if {7, 0, 1, 2, 5} <= m.keys() else None)(markers(folder)),
            60,
            "every job's marker",
        )
    except TimeoutError as exc:
        raise AssertionError(f"{exc}; the workers' logs:\n{cpu.log()}\n{default.log()}") from exc
    cpu_pids, default_pids = cpu.process_ids(), default.process_ids()
    for tile in (7, 0, 1, 2):  # render_tiles' Process, render_map's ProcessPoolExecutor
        record = done[tile]
        assert record["pid"] != cpu.pid and record["pid"] not in cpu_pids, record  # ended
        assert record["ppid"] in cpu_pids, (record, cpu_pids)  # started by the threads worker
        assert record["process"] != "MainProcess", record
    assert done[5]["pid"] in default_pids - {default.pid}, done[5]  # a thread in a pool process
    assert done[5]["thread"] != "MainThread", done[5]

    cpu_log = cpu.log()
    for task in ("render_tiles_task", "render_map_task"):
        assert re.search(rf"Task {re.escape(TASKS + task)}\[[-0-9a-f]+\] succeeded", cpu_log)
    assert DAEMONIC not in cpu_log, cpu_log
    assert not re.search(rf"Task {re.escape(TASKS)}render_preview_task\[", cpu_log), cpu_log
    wait_for(
        lambda: re.search(
            rf"Task {re.escape(TASKS)}render_tiles_task\[[-0-9a-f]+\] retry: .*{DAEMONIC}",
            default.log(),
        ),
        60,
        "the prefork worker to refuse the process",
    )
    default_log = default.log()
    assert re.search(
        rf"Task {re.escape(TASKS)}render_preview_task\[[-0-9a-f]+\] succeeded", default_log
    )
    assert not re.search(rf"Task {re.escape(TASKS)}render_map_task\[", default_log)
    assert 11 not in markers(folder)  # the control's child never ran
