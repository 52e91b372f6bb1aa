"""`needs-request`: a job that reads the request's context (Flask's `request`, `session`, the `g`
of a request, flask_login's `current_user`, `copy_current_request_context`), in its own body or
in what it reaches; and the look-alikes that migrate."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.golden import run_cli

CELERY = 'from celery import Celery\n\ncelery_app = Celery("app")\n'
FACTORY = """
from flask import Flask


def create_app():
    app = Flask(__name__)
    return app
"""
VIEW = """
import asyncio

from flask import Blueprint

from app.jobs import job

bp = Blueprint("items", __name__)


@bp.post("/items")
async def create_item():
    asyncio.create_task(job(1))
    return {}
"""


def project(root: Path, jobs: str, extra: dict[str, str] | None = None) -> Path:
    files = {
        "pyproject.toml": '[project]\nname = "x"\n',
        "app/__init__.py": FACTORY,
        "app/celery_app.py": CELERY,
        "app/views.py": VIEW,
        "app/jobs.py": jobs,
        **(extra or {}),
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def site(root: Path) -> tuple[str, str | None, str]:
    """(status, reason, detail) of the one site, as `migrate --check --report` gives it."""
    result = run_cli(root, "migrate", "--check", "--report", "report.json", "-v")
    assert result.exit_code in (0, 1), result.output
    [found] = json.loads((root / "report.json").read_text(encoding="utf-8"))["sites"]
    detail = next(
        (line for line in result.output.splitlines() if "app/views.py:12:" in line and "(" in line),
        "",
    )
    return found["status"], found["reason"], detail


READS = {
    "request": (
        """
        from flask import request

        async def job(n: int) -> None:
            print(request.args.get("q"), n)
        """,
        "`job` reads `request.args.get` (flask's `request`, app/jobs.py:4): a worker has no "
        "request (RuntimeError: Working outside of request context)",
    ),
    "flask.session through a helper": (
        """
        import flask

        def user_id() -> str:
            return flask.session["user"]

        async def job(n: int) -> None:
            print(user_id(), n)
        """,
        "`job` reaches `user_id`, which reads `flask.session` (flask's `session`, app/jobs.py:4)",
    ),
    "current_user": (
        """
        from flask_login import current_user as user

        async def job(n: int) -> None:
            print(user.email, n)
        """,
        "`job` reads `user.email` (flask_login's `current_user`, app/jobs.py:4): a worker has "
        "no request, so no logged-in user",
    ),
    "g set by the request": (
        """
        from flask import g

        async def job(n: int) -> None:
            print(g.tenant, n)
        """,
        "`job` reads `g.tenant`, which it does not set itself (flask's `g`, app/jobs.py:4)",
    ),
    "g as a whole": (
        """
        from flask import g

        async def job(n: int) -> None:
            print(g.get("tenant"), n)
        """,
        "`job` reads `g.get`, and sets nothing in `g` itself (flask's `g`, app/jobs.py:4)",
    ),
    "copy_current_request_context": (
        """
        from flask import copy_current_request_context

        def log(n: int) -> None:
            print(n)

        async def job(n: int) -> None:
            copy_current_request_context(log)(n)
        """,
        "`job` calls `copy_current_request_context` (flask's, app/jobs.py:7): a worker has no "
        "request whose context it could copy",
    ),
    "copy_current_request_context as a decorator": (
        """
        import flask

        async def job(n: int) -> None:
            @flask.copy_current_request_context
            def log() -> None:
                print(n)

            log()
        """,
        "`job` reaches `job.log`, which is wrapped with `copy_current_request_context` (flask's, "
        "app/jobs.py:4)",
    ),
}


@pytest.mark.parametrize(("jobs", "said"), READS.values(), ids=READS.keys())
def test_a_job_that_reads_the_request_context_stays(tmp_path: Path, jobs: str, said: str) -> None:
    status, reason, detail = site(project(tmp_path, jobs))
    assert (status, reason) == ("skipped", "needs-request")
    assert f"(needs-request: {said}" in detail, detail


MIGRATES = {
    "g the job sets itself": """
        from flask import g

        async def job(n: int) -> None:
            g.count = n
            print(g.count)
        """,
    "current_app and db.session in the app context": """
        from flask import current_app
        from flask_sqlalchemy import SQLAlchemy

        db = SQLAlchemy()

        async def job(n: int) -> None:
            current_app.logger.info("job %s", n)
            db.session.execute("select 1")
        """,
    "a parameter named request": """
        async def job(n: int, request: str = "") -> None:
            print(request.upper(), n)
        """,
    "a request of another library": """
        from starlette.requests import Request

        async def job(n: int) -> None:
            print(Request, n)
        """,
    "has_request_context": """
        from flask import has_request_context

        async def job(n: int) -> None:
            print(has_request_context(), n)
        """,
}


@pytest.mark.parametrize("jobs", MIGRATES.values(), ids=MIGRATES.keys())
def test_look_alikes_migrate(tmp_path: Path, jobs: str) -> None:
    assert site(project(tmp_path, jobs))[:2] == ("migrated", None)


HANDED = {
    "flask.request": "is the request (flask's `request`), not data",
    "current_user": "is the logged-in user (flask_login's `current_user`), not data",
}


@pytest.mark.parametrize(("given", "said"), HANDED.items(), ids=HANDED.keys())
def test_flask_s_objects_handed_to_the_job_are_no_data(
    tmp_path: Path, given: str, said: str
) -> None:
    """boac hands its thread `current_app._get_current_object()` to enter the app's context."""
    view = f"""
        import threading

        import flask
        from flask import Blueprint, current_app
        from flask_login import current_user

        from app.jobs import job

        bp = Blueprint("items", __name__)


        @bp.post("/items")
        def create_item():
            threading.Thread(target=job, args=({given},)).start()
            return {{}}
        """
    jobs = "def job(value) -> None:\n    print(value)\n"
    root = project(tmp_path, jobs, {"app/views.py": view})
    result = run_cli(root, "migrate", "--check", "--report", "report.json", "-v")
    [found] = json.loads((root / "report.json").read_text(encoding="utf-8"))["sites"]
    assert (found["status"], found["reason"]) == ("skipped", "unserializable-args")
    assert f"argument `{given}` {said}" in result.output


@pytest.mark.parametrize("given", ["current_app._get_current_object()", "current_app"])
def test_the_app_handed_to_the_job_is_the_worker_s_own(tmp_path: Path, given: str) -> None:
    """boac hands its thread `current_app._get_current_object()` to enter the app's context: the
    wrapper hands the job the app the worker made instead, and sends nothing for it."""
    view = f"""
        import threading

        from flask import Blueprint, current_app

        from app.jobs import job

        bp = Blueprint("items", __name__)


        @bp.post("/items")
        def create_item():
            threading.Thread(target=job, kwargs={{"app_arg": {given}, "n": 3}}).start()
            return {{}}
        """
    jobs = "def job(app_arg, n: int) -> None:\n    with app_arg.app_context():\n        print(n)\n"
    root = project(tmp_path, jobs, {"app/views.py": view})
    run_cli(root, "migrate", "--report", "report.json")
    [found] = json.loads((root / "report.json").read_text(encoding="utf-8"))["sites"]
    assert (found["status"], found["reason"]) == ("migrated", None)
    assert "job_task.delay(n=3)" in (root / "app/views.py").read_text(encoding="utf-8")
    wrapper = (root / "app/tasks/views_tasks.py").read_text(encoding="utf-8")
    assert '{"app_arg": flask_app}' in wrapper


@pytest.mark.parametrize(
    "start",
    [
        "threading.Thread(target=copy_current_request_context(job), args=(3,)).start()",
        "wrapped = copy_current_request_context(job)\n"
        "            threading.Thread(target=wrapped, args=(3,)).start()",
        "@copy_current_request_context\n"
        "            def wrapped(n: int) -> None:\n"
        "                job(n)\n\n"
        "            threading.Thread(target=wrapped, args=(3,)).start()",
    ],
    ids=["inline", "local", "decorated"],
)
def test_a_thread_that_copies_the_request_context_needs_the_request(
    tmp_path: Path, start: str
) -> None:
    """Flask's docs show the decorator on a nested function: needs-request, not
    not-importable (whose hint, a module-level function, would fail at import)."""
    view = f"""
        import threading

        from flask import Blueprint, copy_current_request_context

        from app.jobs import job

        bp = Blueprint("items", __name__)


        @bp.post("/items")
        def create_item():
            {start}
            return {{}}
        """
    jobs = "def job(n: int) -> None:\n    print(n)\n"
    root = project(tmp_path, jobs, {"app/views.py": view})
    run_cli(root, "migrate", "--check", "--report", "report.json")
    [found] = json.loads((root / "report.json").read_text(encoding="utf-8"))["sites"]
    assert (found["status"], found["reason"]) == ("skipped", "needs-request")


@pytest.mark.parametrize(
    ("job", "code"),
    [
        pytest.param('context.get("installation_id")', "CCM002", id="reads the request's store"),
        pytest.param("installation_id", "CCM001", id="is handed the value instead"),
    ],
)
def test_an_asgi_app_s_request_store_needs_the_request(tmp_path: Path, job: str, code: str) -> None:
    """pr-agent's webhook sets `context["installation_id"]` (starlette_context, a middleware's
    per-request store) and its job reads it back: in a worker there is no request."""
    from tests.test_memory import check, codes

    endpoint = f"""
    from starlette_context import context

    async def handle(body: dict, installation_id: int) -> None:
        print(body, {job})

    @router.post("/")
    async def webhook(body: dict) -> None:
        context["installation_id"] = body["installation"]
        asyncio.create_task(handle(body, body["installation"]))
    """
    lines = check(tmp_path, endpoint)
    assert codes(lines) == [code], lines
    if code == "CCM002":
        assert "(needs-request: `handle` reads `context.get` (starlette_context's" in lines[0]
