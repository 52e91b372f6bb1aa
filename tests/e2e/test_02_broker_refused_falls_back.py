"""2. Broker refusing connections: the endpoint still answers and the job runs in-process."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest

from tests.e2e.support import SEED_AFTER, copy_tree, imported, refused_url
from tests.e2e.web import SEED_ENDPOINTS, client, finished_job, start_job

pytestmark = pytest.mark.e2e

# The generated call sites; the seed app's hand-migrated one logs a message of its own.
GENERATED = {
    task: request for task, request in SEED_ENDPOINTS.items() if "data_profiling" not in task
}
FALLBACK_WARNING = "Celery broker unavailable"


def test_refused_broker_falls_back_to_asyncio_in_the_web_process(
    tmp_path: Path,
    app_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tree = copy_tree(SEED_AFTER, tmp_path / "seed")
    monkeypatch.setenv("CELERY_BROKER_URL", refused_url())
    caplog.set_level(logging.INFO)

    async def run() -> list[dict[str, object]]:
        async with client(main.app) as http:
            requests = (start_job(http, path, body) for path, body in GENERATED.values())
            ids = await asyncio.gather(*requests)
            return list(await asyncio.gather(*(finished_job(http, i) for i in ids)))

    with imported(tree, "app.main") as main:
        jobs = asyncio.run(run())

    for job in jobs:
        assert job["status"] == "completed", job
        assert job["pid"] == os.getpid(), "the fallback must run the job in the web process"
    warnings = [
        r
        for r in caplog.records
        if r.levelno == logging.WARNING and r.getMessage().startswith(FALLBACK_WARNING)
    ]
    assert len(warnings) == len(GENERATED), [r.getMessage() for r in caplog.records]
    assert all("refused" in r.getMessage().lower() for r in warnings), warnings[0].getMessage()
    assert {r.name for r in warnings} == {
        "app.tasks.async_runner",  # the add_task site's publish_or_run (observations)
        "app.api.v1.endpoints.planning",
        "app.api.v1.endpoints.planning_llm_background",
        "app.api.v1.endpoints.sample_selection",
        "app.api.v1.endpoints.scoping",
        "app.services.test_execution_service",
    }
