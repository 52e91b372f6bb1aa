"""10. Queues per phase: with `queues = {"planning_tasks" = "llm"}`, a worker started with `-Q llm`
runs the seed app's planning jobs, and a worker on the default queue runs every other job and no
planning job."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.support import FIXTURES, RedisServer, Worker, copy_tree, imported
from tests.e2e.web import SEED_ENDPOINTS, run_seed_jobs

pytestmark = pytest.mark.e2e

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
    broker = redis_server.url()
    monkeypatch.setenv("CELERY_BROKER_URL", broker)
    llm = start_worker(tree, broker, queues="llm")
    default = start_worker(tree, broker)  # Celery's default queue, `celery`

    with imported(tree, "app.main") as main:
        jobs = asyncio.run(run_seed_jobs(main.app))

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
