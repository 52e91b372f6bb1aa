"""3. A broker that accepts TCP and never answers: with the advised settings, the endpoint answers.

Celery's defaults put no timeout on a Redis socket: publishing to a silent broker blocks forever
(the generated call site publishes on a worker thread, so the event loop goes on serving, but the
request never answers). The report's Next Steps tell the user which settings bound it; this test
reads them from the seed app's report, applies them, and requires that each request answers and
its job completes in the fallback. The time it took is printed as a figure for the README, not
asserted on: `HANG_GUARD` only stops a test that would otherwise wait forever.
"""

from __future__ import annotations

import ast
import asyncio
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import SEED_AFTER, SilentBroker, copy_tree, imported
from tests.e2e.web import SEED_ENDPOINTS, client, finished_job, start_job

pytestmark = pytest.mark.e2e

ADVISED = ("broker_connection_timeout", "broker_transport_options", "task_publish_retry_policy")
HANG_GUARD = 60.0  # seconds; the advised settings give about 2 s, Celery's defaults forever


def next_steps_settings(report: str) -> dict[str, Any]:
    """The Celery settings that the report's Next Steps advise, as a `conf.update` mapping."""
    steps = report.partition("## Next Steps")[2]
    assert steps, "the report has no Next Steps section"
    settings: dict[str, Any] = {}
    for name in ADVISED:
        found = re.search(rf"`{name} = ([^`]+)`", steps)
        assert found, f"Next Steps do not advise a value for `{name}`:\n{steps}"
        settings[name] = ast.literal_eval(found.group(1))
    return settings


def test_silent_broker_falls_back_with_the_advised_settings(
    tmp_path: Path, app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = copy_tree(SEED_AFTER, tmp_path / "seed")
    settings = next_steps_settings((tree / "MIGRATION_SUMMARY.md").read_text())
    broker = SilentBroker()
    monkeypatch.setenv("CELERY_BROKER_URL", broker.url)
    path, body = SEED_ENDPOINTS["app.tasks.planning_tasks.regenerate_pde_mappings_task"]

    async def run() -> tuple[list[float], list[dict[str, object]]]:
        elapsed: list[float] = []
        jobs: list[dict[str, object]] = []
        async with client(main.app) as http:
            for _ in range(2):  # the second publish starts from the failed first one's state
                start = time.monotonic()
                job_id = await asyncio.wait_for(start_job(http, path, body), HANG_GUARD)
                elapsed.append(time.monotonic() - start)
                jobs.append(await finished_job(http, job_id))
        return elapsed, jobs

    try:
        with imported(tree, "app.main") as main:
            sys.modules["app.core.celery_app"].celery_app.conf.update(settings)
            elapsed, jobs = asyncio.run(run())
    finally:
        broker.close()

    print(f"\nsilent broker: fallback after {', '.join(f'{e:.2f} s' for e in elapsed)}")
    print(f"  with {settings}")
    assert broker.accepted, "the publisher never connected to the silent broker"
    for job in jobs:
        assert job["status"] == "completed", job
        assert job["pid"] == os.getpid()
