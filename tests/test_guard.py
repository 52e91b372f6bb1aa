"""The semantic guard accepts the rewrite it is meant for and refuses anything else."""

from __future__ import annotations

from codemod.guard import check_rewrite

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
