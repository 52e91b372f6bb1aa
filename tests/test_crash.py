"""Crash safety (issue 5, item 6): a `migrate` killed with SIGKILL at any moment leaves every file
either as it was or fully migrated, no call site rewritten whose wrapper is missing, and a next
run completes the migration to exactly the golden after/ tree.

The runs are `python -m codemod migrate` subprocesses on a copy of fixtures/seed_app/before. The
kill points come from a test-only hook in codemod/emit/apply.py: CELERY_CODEMOD_TEST_KILL_AT_WRITE=K
makes the process SIGKILL itself just before its K-th file write (every K, from the first write
to one past the last), and CELERY_CODEMOD_TEST_WRITE_LOG lists the writes of a full run. A few
more runs are killed from outside at seeded pseudo-random times during the run.

Leftovers: a kill inside atomic_write, between creating its temp file and renaming it, can leave
a `.NAME.XXXX.tmp` file beside the target (never a half-written target). Such a file is hidden,
not a `.py` module, so neither Python, Celery nor this tool reads it; the checks below allow
exactly that pattern and nothing else.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.golden import FIXTURES, tree

REPO = Path(__file__).resolve().parent.parent
SEED = FIXTURES / "seed_app"
REPORTS = {"MIGRATION_SUMMARY.md", "report.json"}
TEMP = re.compile(r"(^|/)\.[^/]+\.[^/]+\.tmp$")

BEFORE = tree(SEED / "before")
AFTER = {k: v for k, v in tree(SEED / "after").items() if k not in REPORTS}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELERY_CODEMOD_TEST_")}
    return {**env, "PYTHONPATH": str(REPO), **extra}


def _command() -> list[str]:
    return [sys.executable, "-m", "codemod", "migrate", "-q", "-j", "1"]


def _copy(tmp_path: Path, name: str) -> Path:
    work = tmp_path / name
    shutil.copytree(SEED / "before", work)
    return work


def _full_run_writes(tmp_path: Path) -> list[str]:
    """The files that a full run writes, in order."""
    work = _copy(tmp_path, "full")
    log = tmp_path / "writes.log"
    done = subprocess.run(
        _command(), cwd=work, env=_env(CELERY_CODEMOD_TEST_WRITE_LOG=str(log)), check=False
    )
    assert done.returncode == 0
    assert tree(work) == AFTER
    return [Path(line).relative_to(work).as_posix() for line in log.read_text().splitlines()]


def _imports_of_tasks(source: bytes) -> set[str]:
    """The tasks modules that a source file imports wrappers from."""
    return set(re.findall(rb"^from (app\.tasks\.\w+) import", source, re.M))  # type: ignore[arg-type]


def _path(module: bytes | str) -> str:
    name = module.decode() if isinstance(module, bytes) else module
    return name.replace(".", "/") + ".py"


def check_tree(work: Path) -> set[str]:
    """Every file as before or as after; dependencies of every migrated file in place.

    Returns the files that are already migrated."""
    actual = tree(work)
    leftovers = [name for name in actual if TEMP.search(name)]
    for name in leftovers:
        del actual[name]
    assert set(actual) <= set(BEFORE) | set(AFTER), set(actual) - set(BEFORE) - set(AFTER)
    migrated: set[str] = set()
    for name, data in actual.items():
        if data == AFTER.get(name) and data != BEFORE.get(name):
            migrated.add(name)
        else:
            assert data == BEFORE.get(name), f"{name} is neither as before nor as after"
    for name in set(BEFORE) - set(actual):
        raise AssertionError(f"{name} disappeared")
    for name in migrated:
        data = actual[name]
        # every wrapper that a migrated file imports is written, with the shared runner
        for module in _imports_of_tasks(data):
            tasks = _path(module)
            assert actual.get(tasks) == AFTER[tasks], f"{name} imports {tasks}, not written"
        if b"from app.tasks.async_runner import" in data:
            assert "app/tasks/async_runner.py" in migrated
    # a migrated call site's wrapper is registered, so the worker knows its task
    if any(_imports_of_tasks(actual[n]) for n in migrated if not n.startswith("app/tasks/")):
        assert "app/core/celery_app.py" in migrated
    # a registration names only tasks modules that exist
    app = actual["app/core/celery_app.py"]
    for module in re.findall(rb'"(app\.tasks\.\w+)"', app):
        assert _path(module) in actual, f"celery_app registers {module!r}, which is missing"
    return migrated


def _finish(work: Path) -> None:
    done = subprocess.run(_command(), cwd=work, env=_env(), capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    final = {k: v for k, v in tree(work).items() if not TEMP.search(k)}
    assert final == AFTER


def test_killed_before_every_write(tmp_path: Path) -> None:
    writes = _full_run_writes(tmp_path)
    assert len(writes) == len({k for k in AFTER if AFTER[k] != BEFORE.get(k)})
    # the support files come first: runner, tasks modules, then the registration
    assert writes[0] == "app/tasks/async_runner.py"
    first_endpoint = min(i for i, w in enumerate(writes) if not w.startswith("app/tasks/"))
    assert writes[first_endpoint] == "app/core/celery_app.py"
    seen: list[set[str]] = []
    for k in range(1, len(writes) + 2):
        work = _copy(tmp_path, f"kill-{k}")
        done = subprocess.run(
            _command(),
            cwd=work,
            env=_env(CELERY_CODEMOD_TEST_KILL_AT_WRITE=str(k)),
            capture_output=True,
            check=False,
        )
        if k <= len(writes):
            assert done.returncode == -signal.SIGKILL, done.stderr
        else:
            assert done.returncode == 0, done.stderr
        migrated = check_tree(work)
        assert migrated == set(writes[: k - 1])  # exactly the writes before the kill
        seen.append(migrated)
        _finish(work)
    assert seen[0] == set() and seen[-1] == {k for k in AFTER if AFTER[k] != BEFORE.get(k)}


@pytest.mark.parametrize("seed", range(6))
def test_killed_at_random_times(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    work = _copy(tmp_path, "random")
    start = time.monotonic()
    full = subprocess.run(_command(), cwd=_copy(tmp_path, "timing"), env=_env(), check=False)
    duration = time.monotonic() - start
    assert full.returncode == 0
    # mostly late in the run, where the writes are (the analysis comes first)
    delay = duration * rng.uniform(0.3, 1.0)
    process = subprocess.Popen(_command(), cwd=work, env=_env(), stderr=subprocess.DEVNULL)
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    check_tree(work)
    _finish(work)
