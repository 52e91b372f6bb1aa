"""18. The new forms of background call site (docs/call-sites.md), on real processes.

A FastAPI app whose handlers start plain `def` jobs in the new ways: `loop.run_in_executor(None,
...)` with the future dropped, `submit` on a module-level `ThreadPoolExecutor`, a daemon
`threading.Thread(...).start()`, `asyncio.create_task(asyncio.to_thread(...))` and a response's
`background=BackgroundTask(...)`; a job whose parameter is annotated `Path` (given `ROOT / key`
on a thread); and two more forms of the page: `run_in_executor(pool, functools.partial(...))` and
`Thread(target=asyncio.run, args=(job(...),))`. Each job writes a row (its name, its arguments,
`os.getpid()`) to a SQLite file. `celery-codemod migrate` reports every site migrated. Served by
a real uvicorn on 127.0.0.1 and driven over HTTP, with a real redis-server and a real prefork
worker:

- every job runs exactly once, in the worker's pool process (never in the server's), with the
  arguments the handler passed; the `Path` parameter gets a real `Path` back in the worker;
- the response's task keeps SPEC §4a's order (an events file, in the order it was written, by the
  server, the client and the worker): the handler returns, the response is sent and the client
  has it, then the message is published, then the job starts in the worker. The control (the same
  task's `.delay()` awaited inside a handler) publishes before its handler returns;
- with the broker refusing connections, every rewritten site falls back: each request answers 200
  and each job runs exactly once, in the server's process, with one warning per site (the
  response's job still after the response).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.support import (
    RedisServer,
    Uvicorn,
    Worker,
    copy_tree,
    migrate,
    refused_url,
    wait_for,
)
from tests.e2e.tinyapp import write_tiny_app

pytestmark = pytest.mark.e2e

TASKS = "app.tasks.forms_tasks."

ENDPOINTS = '''
"""Handlers that start their jobs in the new ways: executors, threads, to_thread, responses."""

import asyncio
import functools
import json
import os
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask

router = APIRouter()
pool = ThreadPoolExecutor(max_workers=2)
ROOT = Path("/srv/e2e")


def _event(event: str, key: str) -> None:
    line = json.dumps({"event": event, "key": key, "pid": os.getpid(), "at": time.time()})
    with open(os.environ["E2E_EVENTS"], "a", encoding="utf-8") as out:
        out.write(line + "\\n")


def _record(job: str, args: dict) -> None:
    """One row per run: the job, the arguments it was handed, the process it runs in."""
    _event("job starts", args["key"])
    db = sqlite3.connect(os.environ["E2E_DB"], timeout=30)
    try:
        with db:
            db.execute("INSERT INTO runs VALUES (?, ?, ?)", (job, json.dumps(args), os.getpid()))
    finally:
        db.close()


def executor_job(key: str, count: int) -> None:
    _record("executor_job", {"key": key, "count": count})


def submit_job(key: str, count: int, label: str = "none") -> None:
    _record("submit_job", {"key": key, "count": count, "label": label})


def thread_job(key: str, sizes: list[int]) -> None:
    _record("thread_job", {"key": key, "sizes": sizes})


def to_thread_job(key: str, ratio: float) -> None:
    _record("to_thread_job", {"key": key, "ratio": ratio})


def response_job(key: str, email: str) -> None:
    _record("response_job", {"key": key, "email": email})


def partial_job(key: str, count: int, label: str = "none") -> None:
    _record("partial_job", {"key": key, "count": count, "label": label})


async def coroutine_job(key: str, count: int) -> None:
    await asyncio.sleep(0)
    _record("coroutine_job", {"key": key, "count": count})


def path_job(key: str, folder: Path, level: int = 1) -> None:
    kind = {"type": type(folder).__name__, "is_path": isinstance(folder, Path)}
    _record("path_job", {"key": key, "folder": str(folder), "level": level, **kind})


@router.post("/executor/{key}")
async def via_executor(key: str, count: int) -> dict:
    loop = asyncio.get_running_loop()
    loop.run_in_executor(None, executor_job, key, count)
    return {"key": key}


@router.post("/submit/{key}")
async def via_submit(key: str, count: int, label: str) -> dict:
    pool.submit(submit_job, key, count, label=label)
    return {"key": key}


@router.post("/thread/{key}")
def via_thread(key: str, size: int) -> dict:
    threading.Thread(target=thread_job, args=(key, [size, size * 2]), daemon=True).start()
    return {"key": key}


@router.post("/to-thread/{key}")
async def via_to_thread(key: str, ratio: float) -> dict:
    asyncio.create_task(asyncio.to_thread(to_thread_job, key, ratio))
    return {"key": key}


@router.post("/response/{key}")
async def via_response(key: str, email: str) -> JSONResponse:
    response = JSONResponse({"key": key}, background=BackgroundTask(response_job, key, email=email))
    _event("handler returns", key)
    return response


@router.post("/partial/{key}")
async def via_partial(key: str, count: int) -> dict:
    loop = asyncio.get_running_loop()
    loop.run_in_executor(pool, functools.partial(partial_job, key, count=count))
    return {"key": key}


@router.post("/asyncio-run/{key}")
def via_asyncio_run(key: str, count: int) -> dict:
    threading.Thread(target=asyncio.run, args=(coroutine_job(key, count),), daemon=True).start()
    return {"key": key}


@router.post("/path/{key}")
def via_path(key: str, level: int) -> dict:
    threading.Thread(
        target=path_job, args=(key, ROOT / key), kwargs={"level": level}, daemon=True
    ).start()
    return {"key": key}
'''

# Written after the migration. The control: the response's task published inside a handler, as
# an in-handler `.delay()` does (what SPEC §4a rules out for a job that runs after the response).
CONTROL = '''

@router.post("/control/{key}")
async def control(key: str, email: str) -> JSONResponse:
    """The control: published before the handler returns."""
    await asyncio.to_thread(response_task.delay, key, email=email)
    _event("handler returns", key)
    return JSONResponse({"key": key})
'''

# Written after the migration: what the web server does, in the events file. A publish of a
# job whose handler has returned waits (at most 30 s) until the client has recorded its
# response: if the response were not complete before the publish, the client would not have it,
# and "message published" would come first.
HOOKS = '''\
"""The web process's events: responses sent, messages published (written by the test)."""

import json
import os
import time

from celery.signals import after_task_publish, before_task_publish


def record(event, key, **data):
    line = json.dumps({"event": event, "key": key, "pid": os.getpid(), "at": time.time(), **data})
    with open(os.environ["E2E_EVENTS"], "a", encoding="utf-8") as out:
        out.write(line + "\\n")


def seen(key):
    with open(os.environ["E2E_EVENTS"], encoding="utf-8") as source:
        lines = [line for line in source.read().splitlines(keepends=True) if line.endswith("\\n")]
    return [e["event"] for e in map(json.loads, lines) if e.get("key") == key]


def key_of(body):
    args, kwargs, _ = body
    return str(args[0]) if args else str(kwargs["key"])


@before_task_publish.connect
def publishing(sender=None, body=None, **_):
    key = key_of(body)
    record("publish starts", key, task=sender)
    if "handler returns" in seen(key):
        deadline = time.monotonic() + 30
        while "response received" not in seen(key) and time.monotonic() < deadline:
            time.sleep(0.02)


@after_task_publish.connect
def published(sender=None, body=None, **_):
    record("message published", key_of(body), task=sender)


class RecordResponses:
    """ASGI middleware: "response sent" once the last body message has been handed to the server."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] == "/health":
            return await self.app(scope, receive, send)
        key = scope["path"].rsplit("/", 1)[-1]

        async def sending(message):
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                record("response sent", key)

        await self.app(scope, receive, sending)
'''
MAIN_HOOKS = """
from app.e2e_hooks import RecordResponses  # noqa: E402

app.add_middleware(RecordResponses)
"""

# One request per site: job -> (path with {key}, query parameters, the arguments the job gets
# besides its key).
SITES: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "executor_job": ("/executor/{key}", {"count": 3}, {"count": 3}),
    "submit_job": ("/submit/{key}", {"count": 5, "label": "Zoë"}, {"count": 5, "label": "Zoë"}),
    "thread_job": ("/thread/{key}", {"size": 4}, {"sizes": [4, 8]}),
    "to_thread_job": ("/to-thread/{key}", {"ratio": 0.25}, {"ratio": 0.25}),
    "response_job": ("/response/{key}", {"email": "a@example.com"}, {"email": "a@example.com"}),
    "path_job": ("/path/{key}", {"level": 7}, {"level": 7}),
    # two more forms of docs/call-sites.md: a partial on a shared pool, a thread's asyncio.run
    "partial_job": ("/partial/{key}", {"count": 2}, {"count": 2, "label": "none"}),
    "coroutine_job": ("/asyncio-run/{key}", {"count": 9}, {"count": 9}),
}
# The report's `call` and the task of each job's site.
CALLS = {
    "executor_job": ("loop.run_in_executor", "executor_task"),
    "submit_job": ("Executor.submit", "submit_task"),
    "thread_job": ("threading.Thread", "thread_task"),
    "to_thread_job": ("asyncio.create_task", "to_thread_task"),
    "response_job": ("BackgroundTask", "response_task"),
    "path_job": ("threading.Thread", "path_task"),
    "partial_job": ("loop.run_in_executor", "partial_task"),
    "coroutine_job": ("threading.Thread", "coroutine_task"),
}
FALLBACK_WARNING = "Celery broker unavailable"


def expected_args(job: str, key: str) -> dict[str, Any]:
    args = {"key": key, **SITES[job][2]}
    if job == "path_job":  # the worker's job got a Path, as the original one did
        args.update(folder=f"/srv/e2e/{key}", type=type(Path()).__name__, is_path=True)
    return args


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The app, migrated once (its JSON report), then instrumented: copy it for each test."""
    tree = write_tiny_app(tmp_path_factory.mktemp("new-forms") / "forms", "forms", ENDPOINTS)
    migrate(tree, "--report", "report.json")
    report = json.loads((tree / "report.json").read_text(encoding="utf-8"))
    endpoints = tree / "app/api/endpoints/forms.py"
    endpoints.write_text(endpoints.read_text(encoding="utf-8") + CONTROL, encoding="utf-8")
    (tree / "app/e2e_hooks.py").write_text(HOOKS, encoding="utf-8")
    with (tree / "app/main.py").open("a", encoding="utf-8") as out:
        out.write(MAIN_HOOKS)
    return tree, report


@pytest.fixture
def tree(tmp_path: Path, migrated: tuple[Path, dict[str, Any]]) -> Path:
    return copy_tree(migrated[0], tmp_path / "forms")


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """This test's SQLite file (its `runs` table made) and events file, as the app's env."""
    db, events = tmp_path / "runs.sqlite3", tmp_path / "events.jsonl"
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE runs (job TEXT, args TEXT, pid INTEGER)")
    connection.close()
    events.touch()
    return {"E2E_DB": str(db), "E2E_EVENTS": str(events)}


@pytest.fixture
def serve(serve_tree: Callable[..., Any]) -> Callable[..., Uvicorn]:
    """Start `uvicorn app.main:app` on 127.0.0.1 for a tree; every server is stopped after."""
    return partial(serve_tree, Uvicorn)


def runs(files: dict[str, str]) -> list[tuple[str, dict[str, Any], int]]:
    connection = sqlite3.connect(files["E2E_DB"], timeout=30)
    try:
        found = connection.execute("SELECT job, args, pid FROM runs ORDER BY rowid").fetchall()
    finally:
        connection.close()
    return [(job, json.loads(args), pid) for job, args, pid in found]


def runs_of(files: dict[str, str], key: str) -> list[tuple[str, dict[str, Any], int]]:
    return [run for run in runs(files) if run[1]["key"] == key]


def events(files: dict[str, str]) -> list[dict[str, Any]]:
    """The events, in the order they were written (each one line, appended in one write)."""
    text = Path(files["E2E_EVENTS"]).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]


def order_of(files: dict[str, str], key: str) -> list[str]:
    return [e["event"] for e in events(files) if e["key"] == key]


def post(server: Uvicorn, files: dict[str, str], job: str, key: str) -> None:
    """One request to `job`'s endpoint; the client records that it has the whole response."""
    path, params, _ = SITES[job]
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        response = http.post(path.format(key=key), params=params)
    assert response.status_code == 200, (job, response.status_code, response.text)
    assert response.json() == {"key": key}, (job, response.text)
    line = json.dumps({"event": "response received", "key": key, "pid": "client"})
    with open(files["E2E_EVENTS"], "a", encoding="utf-8") as out:
        out.write(line + "\n")


def run_every_site(server: Uvicorn, files: dict[str, str], suffix: str) -> dict[str, str]:
    """Drive each site once; wait for each job's row, then for a last job started after them
    all (a worker of concurrency 1 takes messages in order: no earlier message is left behind
    it). The key of each job."""
    keys = {job: f"{job}-{suffix}" for job in SITES}
    for job, key in keys.items():
        post(server, files, job, key)
    wait_for(lambda: all(runs_of(files, key) for key in keys.values()), 60, "every job's row")
    post(server, files, "executor_job", f"last-{suffix}")
    wait_for(lambda: runs_of(files, f"last-{suffix}"), 60, "the last job's row")
    return keys


def server_log(tree: Path) -> str:
    return (tree.parent / f"{tree.name}-uvicorn.log").read_text(errors="replace")


def test_every_new_form_is_reported_migrated(migrated: tuple[Path, dict[str, Any]]) -> None:
    report = migrated[1]
    sites = {site["implementation"].rpartition(".")[2]: site for site in report["sites"]}
    assert set(sites) == set(SITES), report["sites"]
    for job, (call, task) in CALLS.items():
        site = sites[job]
        assert (site["status"], site["reason"]) == ("migrated", None), site
        assert site["call"] == call, site
        assert site["task"] == TASKS + task, site
        assert site["path"] == "app/api/endpoints/forms.py", site
    assert report["summary"]["migrated"] == len(SITES), report["summary"]
    assert report["summary"]["errors"] == 0 and report["errors"] == [], report
    registered = {m["path"]: m["registered"] for m in report["tasks_modules"]}
    assert registered == {"app/tasks/forms_tasks.py": True}, report["tasks_modules"]


def test_every_job_runs_once_in_the_worker_with_its_arguments(
    tree: Path,
    files: dict[str, str],
    redis_server: RedisServer,
    start_worker: Callable[..., Worker],
    serve: Callable[..., Uvicorn],
) -> None:
    broker = redis_server.url()
    worker = start_worker(tree, broker, concurrency=1, env=files)
    server = serve(tree, {"CELERY_BROKER_URL": broker, **files})
    keys = run_every_site(server, files, "w")

    pool = worker.process_ids() - {worker.pid}
    assert server.proc is not None and server.proc.pid not in pool
    log = worker.log()
    for job, key in keys.items():
        found = runs_of(files, key)
        assert len(found) == 1, (job, found)  # once: not also in the web process
        name, args, pid = found[0]
        assert name == job and args == expected_args(job, key), (job, found, log)
        assert pid in pool, (job, pid, pool, server.proc.pid)
        task = re.escape(TASKS + CALLS[job][1])
        assert re.search(rf"Task {task}\[[-0-9a-f]+\] succeeded", log), (job, log)
    assert "unregistered task" not in log.lower(), log
    assert FALLBACK_WARNING not in server_log(tree), server_log(tree)


def test_the_response_s_job_is_published_after_the_client_has_the_response(
    tree: Path,
    files: dict[str, str],
    redis_server: RedisServer,
    start_worker: Callable[..., Worker],
    serve: Callable[..., Uvicorn],
) -> None:
    broker = redis_server.url()
    worker = start_worker(tree, broker, concurrency=1, env=files)
    server = serve(tree, {"CELERY_BROKER_URL": broker, **files})
    assert server.proc is not None

    post(server, files, "response_job", "after")
    wait_for(lambda: runs_of(files, "after"), 60, "the response's job to run")
    order = order_of(files, "after")
    assert sorted(order) == sorted(
        [
            "handler returns",
            "response sent",
            "response received",
            "publish starts",
            "message published",
            "job starts",
        ]
    ), order
    at = order.index
    assert at("handler returns") < at("response sent") < at("publish starts"), order
    assert at("response received") < at("message published"), order  # the client had it
    assert at("message published") < at("job starts"), order
    by_event = {e["event"]: e for e in events(files) if e["key"] == "after"}
    assert by_event["message published"]["task"] == TASKS + "response_task"
    assert by_event["message published"]["pid"] == server.proc.pid
    assert by_event["job starts"]["pid"] in worker.process_ids() - {worker.pid}

    # The control: the same task published inside a handler comes before the handler returns,
    # and so before the response: the events would show a publish too early.
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        response = http.post("/control/early", params={"email": "a@example.com"})
    assert response.status_code == 200, response.text
    wait_for(lambda: runs_of(files, "early"), 60, "the control's job to run")
    control = order_of(files, "early")
    assert control.index("message published") < control.index("handler returns"), control
    assert control.index("handler returns") < control.index("response sent"), control


def test_with_the_broker_refused_every_site_runs_its_job_in_the_server(
    tree: Path, files: dict[str, str], serve: Callable[..., Uvicorn]
) -> None:
    server = serve(tree, {"CELERY_BROKER_URL": refused_url(), **files})
    assert server.proc is not None
    keys = run_every_site(server, files, "f")

    for job, key in keys.items():
        found = runs_of(files, key)
        assert len(found) == 1, (job, found)
        name, args, pid = found[0]
        assert name == job and args == expected_args(job, key), (job, found)
        assert pid == server.proc.pid, (job, pid, server.proc.pid)  # the server's own process
    assert all(pid == server.proc.pid for _, _, pid in runs(files))
    assert not [e for e in events(files) if e["event"] == "message published"], events(files)
    # the response's job, run here, still runs after the response, as BackgroundTask ran it
    order = order_of(files, keys["response_job"])
    assert order.index("response sent") < order.index("job starts"), order
    log = server_log(tree)
    warnings = [line for line in log.splitlines() if line.startswith(FALLBACK_WARNING)]
    assert len(warnings) == len(SITES) + 1, log  # one per request, the last one's too
    assert all("refused" in line.lower() for line in warnings), warnings
