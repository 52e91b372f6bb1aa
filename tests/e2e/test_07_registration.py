"""7. The worker registers the generated tasks whatever registration style the app uses.

Each `register_*` fixture case's migrated tree gets a real worker; its endpoint's generated call
site publishes the task, and the worker must run it, never logging "unregistered task".
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI

from tests.e2e.support import FIXTURES, RedisServer, Worker, copy_tree, imported, wait_for
from tests.e2e.web import client

pytestmark = pytest.mark.e2e

CASES = sorted(p.name for p in (FIXTURES / "cases").glob("register_*") if (p / "after").is_dir())
GENERATED_NAME = re.compile(r'^\s*name="([\w.]+)",$', re.MULTILINE)


def generated_tasks(tree: Path) -> set[str]:
    """The names of the wrappers in the tree's tasks modules (one `name="..."` line each)."""
    names: set[str] = set()
    for path in (tree / "app" / "tasks").glob("*.py"):
        names.update(GENERATED_NAME.findall(path.read_text()))
    return names


def routes_app(tree: Path) -> tuple[FastAPI, list[str]]:
    """A FastAPI app with every router of the tree's endpoint modules; their POST paths."""
    app = FastAPI()
    posts: list[str] = []
    for path in sorted((tree / "app" / "api" / "endpoints").glob("*.py")):
        module = __import__(f"app.api.endpoints.{path.stem}", fromlist=["router"])
        router = getattr(module, "router", None)
        if isinstance(router, APIRouter):
            app.include_router(router)
            posts += [
                re.sub(r"\{\w+\}", "1", route.path)
                for route in router.routes
                if "POST" in getattr(route, "methods", ())
            ]
    return app, posts


@pytest.mark.parametrize("case", CASES)
def test_worker_registers_generated_tasks(
    case: str,
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: Callable[..., Worker],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tree = copy_tree(FIXTURES / "cases" / case / "after", tmp_path / case)
    tasks = generated_tasks(tree)
    assert tasks, f"{case}: no generated task"
    broker = redis_server.url()
    # Celery reads CELERY_BROKER_URL before the broker that the app's code names.
    monkeypatch.setenv("CELERY_BROKER_URL", broker)
    worker = start_worker(tree, broker)
    banner = worker.log()
    for task in tasks:
        assert f". {task}\n" in banner, f"{task} is not in the worker's task list:\n{banner}"

    with imported(tree, "app.core.celery_app"):
        app, posts = routes_app(tree)
        assert len(posts) == len(tasks), posts

        async def run() -> None:
            async with client(app) as http:
                for path in posts:
                    response = await http.post(path)
                    assert response.status_code == 200, response.text

        asyncio.run(run())

    def all_succeeded() -> bool:
        log = worker.log()
        return all(re.search(rf"{re.escape(t)}\[[-0-9a-f]+\] succeeded", log) for t in tasks)

    wait_for(all_succeeded, 30, f"{sorted(tasks)} to succeed in the worker")
    assert "unregistered task" not in worker.log().lower()
