"""Tiny FastAPI + Celery apps, written to a folder and migrated with `celery-codemod migrate`."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.e2e.support import migrate

CELERY_APP = '''\
"""Celery application: `celery -A app.core.celery_app worker -l info`."""

import os

from celery import Celery

celery_app = Celery(
    "app",
    broker=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"),
    include=[],
)
celery_app.conf.update(task_serializer="json", accept_content=["json"])
'''

MAIN = '''\
"""ASGI entry point."""

from fastapi import FastAPI

from app.api.endpoints.{module} import router

app = FastAPI()
app.include_router(router)


@app.get("/health")
async def health() -> dict:
    return {{"status": "ok"}}
'''


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    return str(value)


def tiny_app(root: Path, module: str, endpoints: str, **options: object) -> Path:
    """Write an app whose `app/api/endpoints/<module>.py` is `endpoints`, then migrate it.

    `options` go to `[tool.celery-codemod]` (`retry_backoff=1` -> `retry-backoff = 1`).
    """
    write_tiny_app(root, module, endpoints, **options)
    migrate(root, "--report", "MIGRATION_SUMMARY.md")
    return root


def write_tiny_app(root: Path, module: str, endpoints: str, **options: object) -> Path:
    """Write the app of `tiny_app`, not migrated (migrate it with the options you need)."""
    files = {
        "pyproject.toml": "\n".join(
            [
                "[project]",
                f'name = "{root.name}"',
                'version = "0.1.0"',
                "",
                "[tool.black]",
                "line-length = 100",
                "",
                "[tool.celery-codemod]",
                *(f"{k.replace('_', '-')} = {_toml(v)}" for k, v in options.items()),
                "",
            ]
        ),
        "app/__init__.py": "",
        "app/core/__init__.py": "",
        "app/core/celery_app.py": CELERY_APP,
        "app/tasks/__init__.py": '"""Celery tasks."""\n',
        "app/api/__init__.py": "",
        "app/api/endpoints/__init__.py": "",
        f"app/api/endpoints/{module}.py": textwrap.dedent(endpoints).lstrip(),
        "app/main.py": MAIN.format(module=module),
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root
