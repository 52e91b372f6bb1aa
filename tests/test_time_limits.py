"""`time-limits` (SPEC §3): the wrappers it matches get `soft_time_limit=N, time_limit=N + 60`, a
changed limit is drift (CCM003), the runner hands SoftTimeLimitExceeded to an async job where it
awaits, and Next Steps name the longest limit as the floor of a Redis `visibility_timeout`; and
the `pools` table, validated, with each queue's worker command."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from codemod.config import Config
from codemod.emit.generate import format_code
from codemod.emit.runner import runner_source
from tests.golden import run_cli, tree

APP = 'from celery import Celery\n\ncelery_app = Celery("app", include=[])\n'
ENDPOINT = """\
import asyncio


async def _slow_background(job_id: str) -> None: ...


async def _quick_background(job_id: str) -> None: ...


async def start(job_id: str) -> None:
    asyncio.create_task(_slow_background(job_id))
    asyncio.create_task(_quick_background(job_id))
"""


def project(root: Path, table: str) -> Path:
    files = {
        "pyproject.toml": f'[project]\nname = "demo"\n\n[tool.celery-codemod]\n{table}\n',
        "app/__init__.py": "",
        "app/celery_app.py": APP,
        "app/api/a.py": ENDPOINT,
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.mark.parametrize(
    "value", ["0", "-5", '"10"', "true", "1.5", "[10]"], ids=lambda v: f"time-limit={v}"
)
def test_a_time_limit_must_be_a_positive_whole_number(tmp_path: Path, value: str) -> None:
    root = project(tmp_path, f'time-limits = {{ "slow_task" = {value} }}')
    result = run_cli(root, "migrate")
    assert result.exit_code == 2, result.output
    assert "time-limits" in result.stderr
    assert not (root / "app/tasks").exists()


@pytest.mark.parametrize("pool", ["gevent", "eventlet", "Prefork", ""])
def test_a_pool_must_be_prefork_threads_or_solo(tmp_path: Path, pool: str) -> None:
    root = project(tmp_path, f'pools = {{ "llm" = "{pool}" }}')
    result = run_cli(root, "check")
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: pools: 'llm' = '{pool}': the pool must be one of 'prefork', 'threads', 'solo'\n"
    )


def test_config_helpers() -> None:
    config = Config(
        Path("."),
        (),
        time_limits={"slow_*": 30, "app.tasks.b_tasks": 5},
        pools={"llm": "threads", "celery": "solo"},
    )
    assert config.time_limits_for("app.tasks.a_tasks", "slow_task") == (30, 90)
    assert config.time_limits_for("app.tasks.b_tasks", "quick_task") == (5, 65)
    assert config.time_limits_for("app.tasks.a_tasks", "quick_task") is None
    assert config.pool_for("llm") == "threads"
    assert config.pool_for(None) == "solo"  # Celery's default queue, `celery`
    assert config.pool_for("other") == "prefork"


def test_matching_wrappers_get_limits_and_a_changed_limit_is_drift(tmp_path: Path) -> None:
    root = project(tmp_path, 'time-limits = { "slow_task" = 30 }')
    assert run_cli(root, "migrate").exit_code == 0
    tasks = (root / "app/tasks/a_tasks.py").read_text(encoding="utf-8")
    slow, quick = tasks.split("def slow_task(")[0], tasks.split("def slow_task(")[1]
    assert "    soft_time_limit=30,\n    time_limit=90,\n    ignore_result=True,\n" in slow
    assert "time_limit" not in quick
    assert "def _delivering(" in (root / "app/tasks/async_runner.py").read_text(encoding="utf-8")
    before = tree(root)
    assert run_cli(root, "migrate").exit_code == 0 and tree(root) == before

    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("= 30", "= 45"), encoding="utf-8")
    result = run_cli(root, "check")
    assert result.exit_code == 1
    assert (
        "app/tasks/a_tasks.py:21:1: CCM003 wrapper `slow_task` has soft_time_limit=30, "
        "time_limit=90, but `time-limits` gives it a soft limit of 45 s; run 'celery-codemod "
        "migrate' to regenerate it\n"
    ) in result.stdout
    assert run_cli(root, "migrate").exit_code == 0
    tasks = (root / "app/tasks/a_tasks.py").read_text(encoding="utf-8")
    assert "soft_time_limit=45,\n    time_limit=105," in tasks
    assert run_cli(root, "check").exit_code == 0


def test_a_runner_written_without_time_limits_is_regenerated(tmp_path: Path) -> None:
    root = project(tmp_path, "")
    assert run_cli(root, "migrate").exit_code == 0
    assert "_delivering" not in (root / "app/tasks/async_runner.py").read_text(encoding="utf-8")
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + 'time-limits = { "*" = 10 }\n', encoding="utf-8")
    found = run_cli(root, "check").stdout
    assert (
        "app/tasks/async_runner.py:1:1: CCM003 the runner module does not hand a soft time "
        "limit to the job's coroutine, but `time-limits` is set" in found
    )
    assert run_cli(root, "migrate").exit_code == 0
    assert "def _delivering(" in (root / "app/tasks/async_runner.py").read_text(encoding="utf-8")
    assert run_cli(root, "check").exit_code == 0


def test_next_steps_name_the_longest_limit_and_each_queue_s_pool(tmp_path: Path) -> None:
    table = (
        'time-limits = { "slow_task" = 300, "quick_task" = 20 }\n'
        'queues = { "slow_task" = "long" }\n'
        'pools = { "long" = "threads" }'
    )
    root = project(tmp_path, table)
    report = run_cli(root, "migrate", "--report", "-").stdout
    steps = report.split("## Next Steps\n")[1]
    assert (
        "4. Start one worker per queue, each sized for its jobs, with the pool that `pools` in "
        "[tool.celery-codemod] gives its queue (prefork by default): "
        "`celery -A app.celery_app worker -Q celery -P prefork -l info` (the default queue); "
        "`celery -A app.celery_app worker -Q long -P threads -l info`."
    ) in steps
    assert (
        "7. Time limits (`time-limits`): `slow_task` 300 s (hard 360 s), `quick_task` 20 s "
        "(hard 80 s)."
    ) in steps
    assert "The longest limit, 360 s, is the floor for a Redis `visibility_timeout`" in steps


# The runner, driven as Celery's prefork pool drives it: a signal handler raises into the loop.
DRIVER = """
import asyncio, importlib, signal, sys

sys.path.insert(0, sys.argv[1])
runner = importlib.import_module("runner")


class SoftTimeLimitExceeded(Exception):
    pass


def soft_limit(signum, frame):
    raise SoftTimeLimitExceeded()


signal.signal(signal.SIGALRM, soft_limit)
events = []


async def slow():
    try:
        await asyncio.sleep(2)
        events.append("slept through its limit")
    except SoftTimeLimitExceeded:
        events.append("got SoftTimeLimitExceeded")
        await asyncio.sleep(0)  # it may still await while it cleans up
        events.append("cleaned up")
        raise


async def handles_it():
    try:
        await asyncio.sleep(2)
    except SoftTimeLimitExceeded:
        return "gave up in time"


async def next_job():
    await asyncio.sleep(2.5)  # long enough for a job left on the loop to wake up
    events.append("next job done")


signal.setitimer(signal.ITIMER_REAL, 0.2)
try:
    runner.run_coroutine(slow)
except SoftTimeLimitExceeded:
    events.append("the task raised SoftTimeLimitExceeded")
signal.setitimer(signal.ITIMER_REAL, 0.2)
events.append(runner.run_coroutine(handles_it))
runner.run_coroutine(next_job)
print(events)
"""


@pytest.mark.parametrize("limits", [True, False], ids=["time-limits", "control"])
def test_the_runner_hands_a_signal_s_exception_to_the_job(tmp_path: Path, limits: bool) -> None:
    config = Config(Path("."), (), time_limits={"*": 1} if limits else {})
    (tmp_path / "runner.py").write_text(format_code(runner_source(config), 88), encoding="utf-8")
    (tmp_path / "driver.py").write_text(textwrap.dedent(DRIVER), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(tmp_path / "driver.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if limits:
        assert result.returncode == 0, result.stderr
        assert (
            result.stdout
            == str(
                [
                    "got SoftTimeLimitExceeded",
                    "cleaned up",
                    "the task raised SoftTimeLimitExceeded",
                    "gave up in time",
                    "next job done",
                ]
            )
            + "\n"
        )
    else:  # the runner of earlier versions: the job never hears of it, and resumes later
        assert result.returncode != 0 or "slept through its limit" in result.stdout
        assert "got SoftTimeLimitExceeded" not in result.stdout
