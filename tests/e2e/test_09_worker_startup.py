"""9. `worker-startup`: jobs that read what the web app's start-up sets find it in the worker.

The `app_startup_state_worker_startup` fixture case migrates jobs that read a holder filled by the
lifespan (Skyvern's shape; its start-up function is async), a plugin registry filled by a
module-level call of the main module and read through a property (dispatch's shape; the job is a
plain function), and settings filled by a start-up handler. Its generated runner runs the three
start-up callables. Each pool runs the jobs and they find the state; the control is the same tree
with an empty `WORKER_STARTUP`, where the same jobs fail: the state matters, and the runner is
what provides it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.support import FIXTURES, RedisServer, Worker, copy_tree, imported, wait_for

pytestmark = pytest.mark.e2e

CASE = FIXTURES / "cases" / "app_startup_state_worker_startup" / "after"
TASKS = "app.tasks.cases_tasks"
# task -> (arguments, the file it writes, the error it fails with when the state is missing)
JOBS = {
    f"{TASKS}.record_profile_task": (["p1"], "profile-p1.txt", "the app is not initialized"),
    f"{TASKS}.case_created_flow_task": ([7], "case-7.txt", "KeyError('notes')"),
    f"{TASKS}.send_welcome_task": (["ada"], "welcome-ada.txt", "SMTP is not configured"),
}
STARTUP = re.compile(r"WORKER_STARTUP: tuple\[str, \.\.\.\] = \([^)]*\)", re.DOTALL)


def publish(tree: Path, broker: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CELERY_BROKER_URL", broker)
    with imported(tree, "app.core.celery_app") as module:
        app = module.celery_app
        for name, (args, _, _) in JOBS.items():
            app.send_task(name, args=args)


@pytest.mark.parametrize("pool", ["prefork", "threads", "solo"])
def test_start_up_state_is_there_with_worker_startup(
    pool: str,
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: Callable[..., Worker],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tree = copy_tree(CASE, tmp_path / "app")
    out = tmp_path / "out"
    out.mkdir()
    broker = redis_server.url()
    worker = start_worker(tree, broker, pool=pool, concurrency=2, env={"APP_OUT_DIR": str(out)})
    publish(tree, broker, monkeypatch)
    for _, written, _ in JOBS.values():
        wait_for(lambda w=written: (out / w).is_file(), 30, f"{written} from the {pool} worker")
    log = worker.log()
    for name in JOBS:
        assert re.search(rf"{re.escape(name)}\[[-0-9a-f]+\] succeeded", log), log
    assert (out / "welcome-ada.txt").read_text() == "smtp.example.org"  # init_settings ran


@pytest.mark.parametrize("pool", ["prefork", "threads", "solo"])
def test_without_the_start_up_the_same_jobs_fail(
    pool: str,
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: Callable[..., Worker],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tree = copy_tree(CASE, tmp_path / "app")
    runner = tree / "app" / "tasks" / "async_runner.py"
    text, count = STARTUP.subn("WORKER_STARTUP: tuple[str, ...] = ()", runner.read_text())
    assert count == 1
    runner.write_text(text)
    out = tmp_path / "out"
    out.mkdir()
    broker = redis_server.url()
    worker = start_worker(tree, broker, pool=pool, env={"APP_OUT_DIR": str(out)})
    publish(tree, broker, monkeypatch)

    def all_failed() -> bool:
        log = worker.log()
        return all(
            re.search(rf"{re.escape(name)}\[[-0-9a-f]+\] retry: .*{re.escape(error)}", log)
            for name, (_, _, error) in JOBS.items()
        )

    wait_for(all_failed, 30, f"each job to fail for want of the start-up ({pool})")
    assert not any((out / written).exists() for _, written, _ in JOBS.values())
