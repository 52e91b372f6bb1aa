"""13. Dependencies re-created in the worker, on a real database: a SQLAlchemy 2 app on a SQLite
file, with a sync `get_db` (a generator that commits after the yield, rolls back on an error) and
an async `get_async_db` (aiosqlite, `async_sessionmaker`). Migrated, its jobs run on the real
Redis and real workers (prefork and threads): every row is written by the worker in its own
session; a job that raises leaves no row (the provider's rollback ran) and is retried; with the
broker down the fallback still writes the rows in the web process; the async engine works from
the second task on (one event loop per worker thread)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.support import RedisServer, Worker, imported, migrate, refused_url, wait_for
from tests.e2e.web import client

pytestmark = pytest.mark.e2e

CELERY_APP = """
import os

from celery import Celery

celery_app = Celery("app", broker=os.environ.get("CELERY_BROKER_URL"), include=[])
celery_app.conf.update(task_serializer="json", accept_content=["json"])
"""
DB = '''
"""The database: a sync and an async engine on one SQLite file, and their providers."""

import os

from sqlalchemy import Integer, String, create_engine
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

PATH = os.environ["E2E_DB"]
engine = create_engine(f"sqlite:///{PATH}")
SessionLocal = sessionmaker(engine)
async_engine = create_async_engine(f"sqlite+aiosqlite:///{PATH}")
AsyncSessionLocal = async_sessionmaker(async_engine, expire_on_commit=False)


class Base(DeclarativeBase):
    pass


class Row(Base):
    __tablename__ = "rows"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String)
    pid: Mapped[int] = mapped_column(Integer)
    via: Mapped[str] = mapped_column(String)


def get_db():
    db = SessionLocal()
    try:
        yield db
        db.commit()
    except Exception:
        db.rollback()
        raise
    finally:
        db.close()


async def get_async_db():
    async with AsyncSessionLocal() as session:
        try:
            yield session
            await session.commit()
        except Exception:
            await session.rollback()
            raise
'''
ENDPOINTS = '''
"""Handlers whose jobs write rows with the request's session."""

import asyncio
import os
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.db import Row, get_async_db, get_db

router = APIRouter()


def _write_row(db: Session, key: str, fail: bool = False) -> None:
    db.add(Row(key=key, pid=os.getpid(), via="sync"))
    db.flush()
    if fail:
        raise RuntimeError(f"the job {key} failed after writing")
    db.commit()


async def _write_row_async(key: str, db: AsyncSession) -> None:
    db.add(Row(key=key, pid=os.getpid(), via="async"))
    await db.flush()
    await db.commit()


@router.post("/sync/{key}")
def sync_write(
    key: str, background_tasks: BackgroundTasks, fail: bool = False, db: Session = Depends(get_db)
) -> dict:
    background_tasks.add_task(_write_row, db, key, fail=fail)
    return {"key": key}


@router.post("/async/{key}")
async def async_write(key: str, db: Annotated[AsyncSession, Depends(get_async_db)]) -> dict:
    asyncio.create_task(_write_row_async(key, db=db))
    return {"key": key}
'''
MAIN = """
from fastapi import FastAPI

from app.api.endpoints.rows import router

app = FastAPI()
app.include_router(router)
"""


def app_tree(root: Path) -> Path:
    files = {
        "pyproject.toml": '[project]\nname = "rows"\nversion = "0.1.0"\n\n'
        "[tool.celery-codemod]\nretry-backoff = 1\nmax-retries = 1\n",
        "app/__init__.py": "",
        "app/core/__init__.py": "",
        "app/core/celery_app.py": CELERY_APP,
        "app/tasks/__init__.py": "",
        "app/api/__init__.py": "",
        "app/api/endpoints/__init__.py": "",
        "app/db.py": DB,
        "app/api/endpoints/rows.py": ENDPOINTS,
        "app/main.py": MAIN,
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    migrate(root)
    return root


def rows(db: Path) -> list[tuple[str, int, str]]:
    with sqlite3.connect(db) as connection:
        return list(connection.execute("SELECT key, pid, via FROM rows ORDER BY id"))


def create_tables(tree: Path) -> None:
    with imported(tree, "app.db") as module:
        module.Base.metadata.create_all(module.engine)
        module.engine.dispose()


def post(tree: Path, *paths: str) -> None:
    with imported(tree, "app.main") as main:

        async def run() -> None:
            async with client(main.app) as http:
                for path in paths:
                    response = await http.post(path)
                    assert response.status_code == 200, response.text
                await asyncio.sleep(0.3)  # a fallback job runs on this loop

        asyncio.run(run())


@pytest.mark.parametrize("pool", ["prefork", "threads"])
def test_jobs_write_their_rows_in_the_worker_s_own_session(
    pool: str,
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: Callable[..., Worker],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tree = app_tree(tmp_path / "rows")
    tasks = (tree / "app/tasks/rows_tasks.py").read_text(encoding="utf-8")
    assert 'run_with_dependencies(_write_row, {"db": get_db}, key=key, fail=fail)' in tasks
    db = tmp_path / "rows.sqlite3"
    monkeypatch.setenv("E2E_DB", str(db))
    create_tables(tree)
    broker = redis_server.url()
    monkeypatch.setenv("CELERY_BROKER_URL", broker)
    worker = start_worker(tree, broker, pool=pool, concurrency=1, env={"E2E_DB": str(db)})
    post(tree, "/sync/s1", "/async/a1", "/async/a2", "/sync/broken?fail=true", "/sync/s2")

    def written() -> list[tuple[str, int, str]]:
        found = rows(db)
        return found if {k for k, _, _ in found} >= {"s1", "s2", "a1", "a2"} else []

    found = wait_for(written, 30, "the worker to write the rows")
    pids = worker.process_ids()
    assert all(pid in pids and pid != os.getpid() for _, pid, _ in found), (found, pids)
    log = worker.log()
    # the failing job: retried once (max-retries 1), and its row rolled back each time
    wait_for(
        lambda: (
            "RuntimeError('the job broken failed after writing')" in worker.log()
            and "raised unexpected" in worker.log()
        ),
        30,
        "the failing job to give up",
    )
    log = worker.log()
    assert "retry: Retry in 1s" in log
    assert "broken" not in {k for k, _, _ in rows(db)}
    # the async engine, from the second task on: the same loop in this worker thread
    assert "attached to a different loop" not in log
    assert "got Future" not in log


def test_with_the_broker_down_the_fallback_writes_the_rows_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = app_tree(tmp_path / "rows")
    db = tmp_path / "rows.sqlite3"
    monkeypatch.setenv("E2E_DB", str(db))
    create_tables(tree)
    monkeypatch.setenv("CELERY_BROKER_URL", refused_url())
    # The add_task job, as BackgroundTasks runs it: after the response, with the request's
    # session still open (the create_task one races the dependency's exit in the original
    # code, and so does its fallback, which is that code unchanged).
    post(tree, "/sync/f1", "/sync/f2")
    found = wait_for(lambda: rows(db) if len(rows(db)) == 2 else [], 10, "the fallback rows")
    assert [(k, pid) for k, pid, _ in found] == [("f1", os.getpid()), ("f2", os.getpid())]
