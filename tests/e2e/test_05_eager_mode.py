"""5. Eager mode (`task_always_eager`): the job runs, even when called inside a running loop."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import SEED_AFTER, copy_tree, imported, refused_url
from tests.e2e.web import SEED_ENDPOINTS, client, start_job

pytestmark = pytest.mark.e2e

REGENERATE = "app.tasks.planning_tasks.regenerate_pde_mappings_task"


@pytest.fixture
def eager_app(tmp_path: Path, app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    tree = copy_tree(SEED_AFTER, tmp_path / "seed")
    monkeypatch.setenv("CELERY_BROKER_URL", refused_url())  # eager tasks never publish
    with imported(tree, "app.main") as main:
        sys.modules["app.core.celery_app"].celery_app.conf.update(
            task_always_eager=True, task_eager_propagates=True
        )
        yield main


def test_eager_delay_inside_a_running_loop_runs_the_job(eager_app: Any) -> None:
    from app.core.job_manager import job_manager
    from app.tasks.planning_tasks import regenerate_pde_mappings_task

    threads_before = threading.active_count()

    async def endpoint_like() -> str:
        asyncio.get_running_loop()  # a loop is running in this thread, as in any async endpoint
        job_id = job_manager.create_job("pde_mapping_regeneration", {})
        regenerate_pde_mappings_task.delay(job_id, 1, 2)
        return job_id

    job_id = asyncio.run(endpoint_like())
    job = job_manager.get_job(job_id)
    assert job is not None
    assert job["status"] == "completed", job  # done when `.delay` returned
    assert job["result"] == {"report_id": 2, "regenerated": 4}
    assert job["pid"] == os.getpid()
    assert threading.active_count() <= threads_before, "the helper thread was left running"


def test_eager_delay_without_a_loop_runs_the_job(eager_app: Any) -> None:
    from app.core.job_manager import job_manager
    from app.tasks.planning_tasks import regenerate_pde_mappings_task

    for _ in range(2):  # the second call reuses this thread's loop
        job_id = job_manager.create_job("pde_mapping_regeneration", {})
        regenerate_pde_mappings_task.delay(job_id, 1, 2)
        job = job_manager.get_job(job_id)
        assert job is not None and job["status"] == "completed", job
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()


def test_eager_endpoints_answer_after_running_their_jobs(eager_app: Any) -> None:
    from app.core.job_manager import job_manager

    async def run() -> list[str]:
        async with client(eager_app.app) as http:
            return [
                await start_job(http, path, body)
                for task, (path, body) in SEED_ENDPOINTS.items()
                if "data_profiling" not in task
            ]

    for job_id in asyncio.run(run()):
        job = job_manager.get_job(job_id)
        assert job is not None and job["status"] == "completed", job
        assert job["pid"] == os.getpid()
