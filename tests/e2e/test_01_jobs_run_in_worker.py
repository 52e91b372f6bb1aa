"""1. Every migrated endpoint of the seed app queues its job, and a real worker runs it."""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.support import SEED_AFTER, RedisServer, Worker, copy_tree, imported
from tests.e2e.web import SEED_ENDPOINTS, run_seed_jobs

pytestmark = pytest.mark.e2e


def test_every_endpoint_queues_its_job_and_the_worker_runs_it(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: Callable[..., Worker],
    app_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tree = copy_tree(SEED_AFTER, tmp_path / "seed")
    report = json.loads((tree / "report.json").read_text())
    migrated = {s["task"] for s in report["sites"] if s["status"] == "migrated"}
    assert migrated, "the seed app's report lists no migrated site"
    assert migrated <= set(SEED_ENDPOINTS), "a migrated call site has no request in this test"

    broker = redis_server.url()
    monkeypatch.setenv("CELERY_BROKER_URL", broker)
    worker = start_worker(tree, broker, pool="prefork", concurrency=2)

    with imported(tree, "app.main") as main:
        jobs = asyncio.run(run_seed_jobs(main.app))

    worker_pids = worker.process_ids()
    log = worker.log()
    for task, job in jobs.items():
        assert job["status"] == "completed", (task, job, log)
        assert job["pid"] != os.getpid(), f"{task} ran in the web process"
        assert job["pid"] in worker_pids, (task, job["pid"], worker_pids)
        assert re.search(rf"Task {re.escape(task)}\[[-0-9a-f]+\] succeeded", log), (task, log)
    # The Pydantic body crossed the broker as JSON and was validated back into the model.
    export = jobs["app.tasks.observations_tasks.export_observations_task"]
    result = export["result"]
    result = json.loads(result) if isinstance(result, str) else result
    assert result == {
        "report_id": 2,
        "file": "observations_2.xlsx",
        "rows": 6,
        "with_evidence": False,
        "requested_by": "qa",
    }, export
    assert "unregistered task" not in log.lower()
    assert "Celery broker unavailable" not in log
