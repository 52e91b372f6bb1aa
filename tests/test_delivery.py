"""Delivery (`delivery`, `--delivery`, its drift) and the after-the-response form of `add_task`
sites (`publish_or_run`): generation, recognition on a second run, and the names it needs."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from tests.golden import FIXTURES, run_cli

CASE = FIXTURES / "cases" / "add_task_sync_and_async" / "before"
ENDPOINTS = "app/api/endpoints/users.py"
TASKS = "app/tasks/users_tasks.py"


@pytest.fixture
def app(tmp_path: Path) -> Path:
    work = tmp_path / "app"
    shutil.copytree(CASE, work)
    return work


def test_delivery_modes_on_the_command_line_and_their_drift(app: Path) -> None:
    assert run_cli(app, "migrate", "--delivery", "at-most-once", ".").exit_code == 0
    tasks = (app / TASKS).read_text(encoding="utf-8")
    assert "acks_late" not in tasks and "reject_on_worker_lost" not in tasks
    assert run_cli(app, "check", "--delivery", "at-most-once", ".").exit_code == 0
    result = run_cli(app, "check", ".")  # the default is at-least-once
    drift = [line for line in result.stdout.splitlines() if " CCM003 " in line]
    assert drift and all(
        "has at-most-once delivery, but `delivery` is at-least-once" in line for line in drift
    )
    assert run_cli(app, "migrate", ".").exit_code == 0
    tasks = (app / TASKS).read_text(encoding="utf-8")
    wrappers = tasks.count("@celery_app.task(")
    assert tasks.count("    acks_late=True,\n    reject_on_worker_lost=True,\n") == wrappers
    assert run_cli(app, "check", ".").stdout == "All checks passed.\n"


def test_an_unknown_delivery_mode_is_a_usage_error(app: Path) -> None:
    with (app / "pyproject.toml").open("a", encoding="utf-8") as out:
        out.write('\n[tool.celery-codemod]\ndelivery = "exactly-once"\n')
    result = run_cli(app, "check", ".")
    assert result.exit_code == 2
    assert "delivery must be 'at-least-once' or 'at-most-once', not 'exactly-once'" in (
        result.stderr
    )


def endpoint(app: Path, body: str) -> Path:
    path = app / "app/api/endpoints/extra.py"
    path.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    return path


def test_a_loop_of_add_task_calls_binds_each_iteration(app: Path) -> None:
    path = endpoint(
        app,
        """
        from fastapi import APIRouter, BackgroundTasks

        router = APIRouter()


        async def _notify_background(user_id: int) -> None:
            pass


        @router.post("/notify")
        async def notify(ids: list[int], background_tasks: BackgroundTasks) -> dict:
            for user_id in ids:
                background_tasks.add_task(_notify_background, user_id)
            return {}
        """,
    )
    assert run_cli(app, "migrate", ".").exit_code == 0
    text = path.read_text(encoding="utf-8")
    assert (
        "    for user_id in ids:\n"
        "        background_tasks.add_task(\n"
        "            publish_or_run,\n"
        "            partial(notify_task.delay, user_id),\n"
        "            partial(_notify_background, user_id),\n"
        "        )\n"
    ) in text
    assert "from functools import partial\n" in text
    assert "from app.tasks.async_runner import publish_or_run\n" in text
    assert "logger" not in text and "import asyncio" not in text  # the helper logs
    again = run_cli(app, "migrate", "--report", "-", ".")
    assert "Migrated 0 call sites" in again.stderr or "0 call sites" in again.stdout
    assert run_cli(app, "check", ".").stdout == "All checks passed.\n"


def test_a_module_whose_partial_is_something_else_spells_functools_partial(app: Path) -> None:
    path = endpoint(
        app,
        """
        from fastapi import APIRouter, BackgroundTasks

        router = APIRouter()
        partial = 0.5


        async def _notify_background(user_id: int) -> None:
            pass


        @router.post("/notify/{user_id}")
        async def notify(user_id: int, background_tasks: BackgroundTasks) -> dict:
            background_tasks.add_task(_notify_background, user_id)
            return {"share": partial}
        """,
    )
    assert run_cli(app, "migrate", ".").exit_code == 0
    text = path.read_text(encoding="utf-8")
    assert "import functools\n" in text
    assert "functools.partial(notify_task.delay, user_id)" in text
    assert "functools.partial(_notify_background, user_id)" in text
    assert run_cli(app, "check", ".").stdout == "All checks passed.\n"


def test_an_add_task_that_is_not_a_statement_of_its_own_keeps_the_in_handler_form(
    app: Path,
) -> None:
    path = endpoint(
        app,
        """
        from fastapi import APIRouter, BackgroundTasks

        router = APIRouter()


        async def _notify_background(user_id: int) -> None:
            pass


        @router.post("/notify/{user_id}")
        async def notify(user_id: int, background_tasks: BackgroundTasks) -> None:
            result = background_tasks.add_task(_notify_background, user_id)
        """,
    )
    assert run_cli(app, "migrate", ".").exit_code == 0
    text = path.read_text(encoding="utf-8")
    assert "publish_or_run" not in text
    assert "await asyncio.to_thread(notify_task.delay, user_id)" in text
    assert run_cli(app, "check", ".").stdout == "All checks passed.\n"


def test_an_older_runner_without_publish_or_run_is_regenerated(app: Path) -> None:
    assert run_cli(app, "migrate", ".").exit_code == 0
    runner = app / "app/tasks/async_runner.py"
    text = runner.read_text(encoding="utf-8")
    older = text.split("\n\nasync def publish_or_run(")[0] + "\n"
    runner.write_text(older, encoding="utf-8")
    endpoint(
        app,
        """
        from fastapi import APIRouter, BackgroundTasks

        router = APIRouter()


        async def _notify_background(user_id: int) -> None:
            pass


        @router.post("/notify/{user_id}")
        async def notify(user_id: int, background_tasks: BackgroundTasks) -> dict:
            background_tasks.add_task(_notify_background, user_id)
            return {}
        """,
    )
    assert run_cli(app, "migrate", ".").exit_code == 0
    assert runner.read_text(encoding="utf-8") == text


@pytest.mark.parametrize(
    ("body", "imported"),
    [
        (  # a plain job whose session the worker re-creates: run_with_dependencies
            """
            from fastapi import APIRouter, BackgroundTasks, Depends

            router = APIRouter()

            def get_db():
                yield object()

            def record(db, case_id: int) -> None:
                pass

            @router.post("/r/{case_id}")
            def create(case_id: int, background_tasks: BackgroundTasks, db=Depends(get_db)) -> None:
                background_tasks.add_task(record, db, case_id)
            """,
            "run_with_dependencies",
        ),
        (  # a plain job with unannotated arguments: guarded_delay at the call site
            """
            from fastapi import APIRouter, BackgroundTasks

            router = APIRouter()

            def compute(key):
                return key

            def store(value):
                pass

            @router.post("/s/{key}")
            def create(key: str, background_tasks: BackgroundTasks) -> None:
                value = compute(key)
                background_tasks.add_task(store, value)
            """,
            "guarded_delay",
        ),
    ],
)
def test_an_older_runner_gains_every_function_the_new_code_imports(
    app: Path, body: str, imported: str
) -> None:
    """A generated runner without the function a new site or wrapper imports (written by an
    earlier version) is regenerated; so is one missing `publish_or_run` (tested above)."""
    shutil.rmtree(app / "app/api/endpoints")
    (app / "app/api/endpoints").mkdir()
    (app / "app/api/endpoints/__init__.py").write_text("")
    path = endpoint(app, body)
    assert run_cli(app, "migrate", ".").exit_code == 0
    written = path.read_text(encoding="utf-8")
    written += (app / "app/tasks/extra_tasks.py").read_text(encoding="utf-8")
    assert f"import {imported}" in written or f", {imported}" in written
    runner = app / "app/tasks/async_runner.py"
    full = runner.read_text(encoding="utf-8")
    assert f"def {imported}(" in full
    # an earlier version's runner, and a new site that needs the function
    runner.write_text(full.replace(f"def {imported}(", "def _not_yet("), encoding="utf-8")
    (app / "app/api/endpoints/more.py").write_text(
        textwrap.dedent(body).lstrip().replace('.post("/', '.post("/more/'), encoding="utf-8"
    )
    assert run_cli(app, "migrate", ".").exit_code == 0
    assert runner.read_text(encoding="utf-8") == full
