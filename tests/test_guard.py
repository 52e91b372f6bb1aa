"""The semantic guard accepts the rewrite it is meant for and refuses anything else."""

from __future__ import annotations

from pathlib import Path

import pytest

from codemod.emit import renders
from codemod.emit.edits import SiteEdit
from codemod.emit.guard import check_rewrite
from tests.golden import run_cli
from tests.test_check import project

OLD = """\
import asyncio

async def job(x: int) -> None: ...

async def h(x: int) -> int:
    y = x + 1
    asyncio.create_task(job(y))
    return y
"""
NEW = """\
import asyncio
import logging

from app.tasks.a_tasks import job_task

logger = logging.getLogger(__name__)

async def job(x: int) -> None: ...

async def h(x: int) -> int:
    y = x + 1
    try:
        task = await asyncio.to_thread(job_task.delay, y)
        logger.info("Queued Celery task %s", task.id)
    except job_task.OperationalError as exc:
        logger.warning("Celery broker unavailable (%s); falling back to asyncio", exc)
        asyncio.create_task(job(y))
    return y
"""


def guard(new: str) -> str | None:
    return check_rewrite(OLD, new, [(7, 7)], {"job_task"}, {"app.tasks.a_tasks"})


def test_accepts_the_rewrite() -> None:
    assert guard(NEW) is None


def test_accepts_the_no_fallback_rewrite() -> None:
    new = NEW.replace(
        """    try:
        task = await asyncio.to_thread(job_task.delay, y)
        logger.info("Queued Celery task %s", task.id)
    except job_task.OperationalError as exc:
        logger.warning("Celery broker unavailable (%s); falling back to asyncio", exc)
        asyncio.create_task(job(y))
""",
        "    await asyncio.to_thread(job_task.delay, y)\n",
    )
    assert guard(new) is None


def test_refuses_a_change_elsewhere() -> None:
    assert guard(NEW.replace("y = x + 1", "y = x + 2")) == (
        "the rewrite would change code outside the migrated call sites"
    )


def test_refuses_a_changed_fallback() -> None:
    assert guard(NEW.replace("asyncio.create_task(job(y))", "asyncio.create_task(job(x))")) == (
        "the fallback branch would not keep the original statements unchanged"
    )


def test_refuses_a_dropped_statement() -> None:
    assert guard(NEW.replace("    return y\n", "")) is not None


# Module-level statements without a rewritten line are compared by their text first.


def test_refuses_a_change_in_another_function() -> None:
    assert guard(
        NEW.replace("async def job(x: int) -> None: ...", "async def job(x: str): ...")
    ) == ("the rewrite would change code outside the migrated call sites")


def test_refuses_a_changed_import() -> None:
    assert guard(
        NEW.replace("import asyncio\nimport logging", "import asyncio as aio\nimport logging")
    )


def test_accepts_a_change_of_layout_only_elsewhere() -> None:
    # a different text, the same tree: as black's safety check, the tree is what counts
    assert (
        guard(
            NEW.replace(
                "async def job(x: int) -> None: ...", "async def job(x:int)->None:\n    ..."
            )
        )
        is None
    )


def test_refuses_a_statement_moved_past_another() -> None:
    new = NEW.replace("async def job(x: int) -> None: ...\n\n", "").replace(
        "    return y\n", "    return y\n\nasync def job(x: int) -> None: ...\n"
    )
    assert guard(new) is not None


# The checks run on each rewritten endpoint module, end to end through `migrate`.


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ("return 1\n", "rewritten code does not compile: 'return' outside function (line 8)"),
        ("def (:\n", "rewritten code does not compile: invalid syntax (line 8)"),
        ("import os\n", "cannot generate: ValueError: the rewrite would change code outside"),
    ],
    ids=["compile-error", "syntax-error", "guard"],
)
def test_a_bad_rewrite_is_the_file_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broken: str, message: str
) -> None:
    root = project(tmp_path)
    before = (root / "app/api/a.py").read_bytes()

    def rewrite(source: str, edits: list[SiteEdit], *args: object) -> tuple[str, set[int]]:
        return source + broken, {e.site.stmt_line for e in edits}

    monkeypatch.setattr(renders, "rewrite_module", rewrite)
    result = run_cli(root, "migrate")
    assert result.exit_code == 123, result.output
    assert result.stderr.startswith(f"error: app/api/a.py: {message}"), result.stderr
    assert (root / "app/api/a.py").read_bytes() == before
