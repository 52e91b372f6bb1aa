"""10. Queues per phase: with `queues = {"planning_tasks" = "llm"}`, a worker started with `-Q llm`
runs the seed app's planning jobs, and a worker on the default queue runs every other job and no
planning job. The routes go through the app's `task_routes` (the generated routes module), not
the `queue` task attribute that Celery 5 deprecates: CDeprecationWarning is an error here, in
the web process (where a task is bound when it is first published) and in the workers."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.support import FIXTURES, RedisServer, Worker, copy_tree, imported
from tests.e2e.web import SEED_ENDPOINTS, run_seed_jobs

DEPRECATION = "celery.exceptions.CDeprecationWarning"
pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings(f"error::{DEPRECATION}")]

CASE = FIXTURES / "cases" / "queues_seed_app" / "after"
PLANNING = "app.tasks.planning_tasks."


def test_each_queue_s_worker_runs_its_jobs_and_only_those(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: Callable[..., Worker],
    app_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tree = copy_tree(CASE, tmp_path / "seed")
    planning = [t for t in SEED_ENDPOINTS if t.startswith(PLANNING)]
    others = [t for t in SEED_ENDPOINTS if not t.startswith(PLANNING)]
    assert planning and others
    assert not any("queue=" in p.read_text() for p in (tree / "app/tasks").glob("*_tasks.py"))
    broker = redis_server.url()
    monkeypatch.setenv("CELERY_BROKER_URL", broker)
    llm = start_worker(tree, broker, queues="llm", error_on=DEPRECATION)
    default = start_worker(tree, broker, error_on=DEPRECATION)  # Celery's default queue, `celery`

    with imported(tree, "app.main") as main:
        from app.core.celery_app import celery_app

        jobs = asyncio.run(run_seed_jobs(main.app))
        routes = celery_app.conf.task_routes  # as the web process published with them
    assert {task: routes[task] for task in planning} == {t: {"queue": "llm"} for t in planning}

    llm_pids, default_pids = llm.process_ids(), default.process_ids()
    for task, job in jobs.items():
        assert job["status"] == "completed", (task, job)
        expected = llm_pids if task in planning else default_pids
        assert job["pid"] in expected, (task, job["pid"], llm_pids, default_pids)
    llm_log, default_log = llm.log(), default.log()
    for task in planning:
        assert re.search(rf"Task {re.escape(task)}\[[-0-9a-f]+\] succeeded", llm_log), llm_log
    # what each worker received or ran ("Task NAME[id] received / succeeded")
    assert not re.search(rf"Task {re.escape(PLANNING)}\w+\[", default_log), default_log
    for task in others:
        assert not re.search(rf"Task {re.escape(task)}\[", llm_log), (task, llm_log)
    assert "DeprecationWarning" not in llm_log + default_log
