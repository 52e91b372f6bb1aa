"""19. A Flask app, on real processes (docs/how-it-works.md, Flask apps; docs/generated-code.md,
FlaskTask).

The app is laid out like a real one: a package `ledger` whose `create_app()` factory configures
Flask-SQLAlchemy on the SQLite file that `LEDGER_DB` names (`db.init_app(app)`), sets a setting
from its environment (`LEDGER_REGION`), registers a blueprint and a `MethodView` (`add_url_rule`)
and has an `init-db` command (which makes the tables); a `Job` model; a `wsgi.py` that builds the
app (`app = create_app()`); a Celery app in `ledger.celery_app`. Its views start module-level jobs
on threads: `threading.Thread(target=job, args=(...)).start()` in blueprint views (one target a
module's attribute, `jobs.tag_region`, whose job reads the factory's setting) and in the
`MethodView`'s `post` (a daemon), and a thread kept in a name, made a daemon and started. Every
job writes a row through Flask-SQLAlchemy's `db.session` (its name, its arguments,
`os.getpid()`, `flask.current_app.name`, whether it had to make an app context of its own,
whether it had a request) and commits. A thread that a view starts has no app context, so a job
that finds none enters one of an app it makes with the factory, as such an app's jobs must for
its threads to work at all. Two more views start jobs that read `flask.request`: one a plain
target, one wrapped with `copy_current_request_context`.

`celery-codemod migrate` is run with no `flask-app` key, as a user would first: it finds the
factory. Then, with a real redis-server, a real `celery -A ledger.celery_app worker` (prefork,
and threads) and the migrated app served by werkzeug's `make_server` on 127.0.0.1, driven over
HTTP:

- the report: the four thread sites migrated, the two request ones skipped `needs-request` and
  their lines left as they were; the runner's `FLASK_APP` is the factory (not `wsgi.py`'s app),
  every wrapper has `base=FlaskTask`; `check` finds only the two request sites; a second run
  changes nothing;
- with the broker up, every migrated job writes its row exactly once, in the worker's process
  (a pool process with prefork; never the server's), inside the app context that `FlaskTask`
  entered (the job found one: `current_app` is the factory's app, no request; the factory's
  setting is the worker's own environment's), through `db.session` to the real SQLite file; the
  request jobs still run on their threads in the server;
- with the broker refusing connections, every migrated site falls back to its thread: each
  request answers 200, each row is written once, in the server's process, with one warning per
  request.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.support import (
    REPO,
    RedisServer,
    Worker,
    WsgiServer,
    copy_tree,
    migrate,
    refused_url,
    wait_for,
)

pytestmark = pytest.mark.e2e

PACKAGE = "ledger"
CELERY_APP_MODULE = "ledger.celery_app"
APP_NAME = "ledger"  # Flask(__name__) in ledger/__init__.py
AGENT = "ledger-e2e/1"
FALLBACK_WARNING = "Celery broker unavailable"

FILES = {
    "pyproject.toml": """
        [project]
        name = "ledger"
        version = "0.1.0"
        requires-python = ">=3.10"
        dependencies = ["flask>=3.0", "flask-sqlalchemy>=3.1", "celery[redis]>=5.3"]
        """,
    "wsgi.py": '''
        """The WSGI entry point: `gunicorn wsgi:app`."""

        from ledger import create_app

        app = create_app()
        ''',
    "ledger/__init__.py": '''
        """The app factory: Flask-SQLAlchemy on the SQLite file that LEDGER_DB names, the jobs
        blueprint, the reports view, and a command that makes the tables."""

        import os

        from flask import Flask

        from ledger.extensions import SETTINGS, db


        def create_app() -> Flask:
            app = Flask(__name__)
            app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{os.environ['LEDGER_DB']}"
            app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 30}}
            db.init_app(app)
            SETTINGS["region"] = os.environ.get("LEDGER_REGION", "eu")

            from ledger.views.jobs import bp
            from ledger.views.reports import ReportAPI

            app.register_blueprint(bp)
            app.add_url_rule("/reports/<key>", view_func=ReportAPI.as_view("report"))

            @app.cli.command("init-db")
            def init_db() -> None:
                """Create the tables."""
                db.create_all()

            return app
        ''',
    "ledger/extensions.py": '''
        """Extensions, made unbound here and initialised by the app factory."""

        from flask_sqlalchemy import SQLAlchemy

        db = SQLAlchemy()
        SETTINGS: dict[str, str] = {}  # set by the app factory
        ''',
    "ledger/models.py": '''
        """One row per job run."""

        from ledger.extensions import db


        class Job(db.Model):
            __tablename__ = "jobs"

            id = db.Column(db.Integer, primary_key=True)
            kind = db.Column(db.String(40), nullable=False)
            key = db.Column(db.String(80), nullable=False)
            args = db.Column(db.Text, nullable=False)
            pid = db.Column(db.Integer, nullable=False)
            app_name = db.Column(db.String(80), nullable=False)
            own_context = db.Column(db.Boolean, nullable=False)
            in_request = db.Column(db.Boolean, nullable=False)
            agent = db.Column(db.String(200))
        ''',
    "ledger/celery_app.py": '''
        """Celery application: `celery -A ledger.celery_app worker -l info`."""

        import os

        from celery import Celery

        celery_app = Celery("ledger", broker=os.environ.get("CELERY_BROKER_URL"), include=[])
        celery_app.conf.update(task_serializer="json", accept_content=["json"])
        ''',
    "ledger/jobs.py": '''
        """The jobs that the views start on threads: each writes a row through db.session."""

        import contextlib
        import functools
        import json
        import os

        import flask

        from ledger.extensions import SETTINGS, db
        from ledger.models import Job


        @functools.cache
        def _own_app() -> flask.Flask:
            from ledger import create_app

            return create_app()


        def _record(kind: str, key: str, agent: str | None = None, **args: object) -> None:
            own = not flask.has_app_context()  # a thread that a view started has none
            with _own_app().app_context() if own else contextlib.nullcontext():
                db.session.add(
                    Job(
                        kind=kind,
                        key=key,
                        args=json.dumps(args, sort_keys=True),
                        pid=os.getpid(),
                        app_name=flask.current_app.name,
                        own_context=own,
                        in_request=flask.has_request_context(),
                        agent=agent,
                    )
                )
                db.session.commit()


        def write_note(key: str, count: int) -> None:
            _record("write_note", key, count=count)


        def export_notes(key: str, fmt: str = "csv") -> None:
            _record("export_notes", key, fmt=fmt)


        def build_report(key: str, pages: list[int]) -> None:
            _record("build_report", key, pages=pages)


        def tag_region(key: str) -> None:
            _record("tag_region", key, region=SETTINGS["region"])


        def log_visit(key: str) -> None:
            agent = flask.request.headers.get("User-Agent") if flask.has_request_context() else None
            _record("log_visit", key, agent=agent)


        def log_copied_visit(key: str) -> None:
            _record("log_copied_visit", key, agent=flask.request.headers.get("User-Agent"))
        ''',
    "ledger/views/__init__.py": "",
    "ledger/views/jobs.py": '''
        """The jobs blueprint: views that start their jobs on threads."""

        import threading

        import flask
        from flask import Blueprint, request

        from ledger import jobs
        from ledger.jobs import export_notes, log_copied_visit, log_visit, write_note

        bp = Blueprint("jobs", __name__)


        @bp.post("/notes/<key>")
        def add_note(key: str) -> dict:
            count = request.args.get("count", 1, type=int)
            threading.Thread(target=write_note, args=(key, count)).start()
            return {"key": key}


        @bp.route("/exports/<key>", methods=["POST"])
        def export(key: str) -> dict:
            thread = threading.Thread(
                target=export_notes, args=(key,), kwargs={"fmt": request.args["fmt"]}
            )
            thread.daemon = True
            thread.start()
            return {"key": key}


        @bp.post("/regions/<key>")
        def tag_region(key: str) -> dict:
            threading.Thread(target=jobs.tag_region, args=(key,), daemon=True).start()
            return {"key": key}


        @bp.post("/visits/<key>")
        def visit(key: str) -> dict:
            threading.Thread(target=log_visit, args=(key,)).start()
            return {"key": key}


        @bp.post("/visits/<key>/copied")
        def copied_visit(key: str) -> dict:
            threading.Thread(
                target=flask.copy_current_request_context(log_copied_visit), args=(key,)
            ).start()
            return {"key": key}


        @bp.get("/health")
        def health() -> dict:
            return {"status": "ok"}
        ''',
    "ledger/views/reports.py": '''
        """A class-based view, registered by the factory with add_url_rule."""

        from threading import Thread

        from flask.views import MethodView

        from ledger.jobs import build_report


        class ReportAPI(MethodView):
            def get(self, key: str) -> dict:
                return {"key": key}

            def post(self, key: str) -> dict:
                Thread(target=build_report, args=(key, [1, 2, 3]), daemon=True).start()
                return {"key": key}
        ''',
}

# The migrated sites: job -> (path with {key}, query parameters, the arguments the job records,
# the report's path of the view module, the wrapper's task).
MIGRATED: dict[str, tuple[str, dict[str, Any], dict[str, Any], str, str]] = {
    "write_note": (
        "/notes/{key}",
        {"count": 3},
        {"count": 3},
        "ledger/views/jobs.py",
        "ledger.tasks.jobs_tasks.write_note_task",
    ),
    "export_notes": (  # the thread kept in a name, made a daemon, started
        "/exports/{key}",
        {"fmt": "xlsx"},
        {"fmt": "xlsx"},
        "ledger/views/jobs.py",
        "ledger.tasks.jobs_tasks.export_notes_task",
    ),
    "build_report": (  # the MethodView's post
        "/reports/{key}",
        {},
        {"pages": [1, 2, 3]},
        "ledger/views/reports.py",
        "ledger.tasks.reports_tasks.build_report_task",
    ),
    "tag_region": (  # its target a module's attribute; it reads what the factory sets
        "/regions/{key}",
        {},
        {"region": "the LEDGER_REGION of the process that ran the factory"},
        "ledger/views/jobs.py",
        "ledger.tasks.jobs_tasks.tag_region_task",
    ),
}
# The jobs that read the request: job -> (path with {key}, the statement that starts it, which
# the migration leaves as it was).
NEEDS_REQUEST: dict[str, tuple[str, str]] = {
    "log_visit": ("/visits/{key}", "threading.Thread(target=log_visit, args=(key,)).start()"),
    "log_copied_visit": (
        "/visits/{key}/copied",
        "threading.Thread(\n"
        "        target=flask.copy_current_request_context(log_copied_visit), args=(key,)\n"
        "    ).start()",
    ),
}


def expected_args(job: str, region: str) -> dict[str, Any]:
    """What `job` records: its arguments, or the region that the factory read from its
    process's environment."""
    return {"region": region} if job == "tag_region" else MIGRATED[job][2]


def write_app(root: Path) -> Path:
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root


def codemod(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`celery-codemod ARGS` in `tree` with this checkout's `codemod`, whatever its exit code."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "codemod", *args],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The app, migrated once with no `flask-app` key (its JSON report): copy it for each test."""
    tree = write_app(tmp_path_factory.mktemp("flask") / "ledger")
    migrate(tree, "--report", "report.json")
    report = json.loads((tree / "report.json").read_text(encoding="utf-8"))
    return tree, report


@pytest.fixture
def tree(tmp_path: Path, migrated: tuple[Path, dict[str, Any]]) -> Path:
    return copy_tree(migrated[0], tmp_path / "ledger")


@pytest.fixture
def env(tmp_path: Path, tree: Path) -> dict[str, str]:
    """The app's settings: its own SQLite file, whose tables the app's `init-db` command made."""
    env = {"LEDGER_DB": str(tmp_path / "ledger.sqlite3")}
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", PACKAGE, "init-db"],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree), **env},
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert rows(env) == []
    return env


@pytest.fixture
def serve(serve_tree: Callable[..., Any]) -> Callable[..., WsgiServer]:
    """Serve a tree's `wsgi:app` on 127.0.0.1; every server is stopped after the test."""
    return partial(serve_tree, WsgiServer)


def rows(env: dict[str, str]) -> list[dict[str, Any]]:
    """Every row of the app's `jobs` table, read straight from the SQLite file."""
    connection = sqlite3.connect(env["LEDGER_DB"], timeout=30)
    connection.row_factory = sqlite3.Row
    try:
        found = connection.execute("SELECT * FROM jobs ORDER BY id").fetchall()
    finally:
        connection.close()
    return [{**dict(row), "args": json.loads(row["args"])} for row in found]


def rows_of(env: dict[str, str], key: str) -> list[dict[str, Any]]:
    return [row for row in rows(env) if row["key"] == key]


def post(server: WsgiServer, path: str, key: str, params: dict[str, Any] | None = None) -> None:
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        response = http.post(path.format(key=key), params=params, headers={"User-Agent": AGENT})
    assert response.status_code == 200, (path, response.status_code, response.text)
    assert response.json() == {"key": key}, (path, response.text)


def drive_every_view(server: WsgiServer, env: dict[str, str], suffix: str) -> dict[str, str]:
    """One request to each view; wait for every job's row, then for a last job started after
    them all (a worker of concurrency 1 takes its messages in order: none is left behind it).
    The key of each job."""
    keys = {job: f"{job}-{suffix}" for job in [*MIGRATED, *NEEDS_REQUEST]}
    for job, (path, params, *_) in MIGRATED.items():
        post(server, path, keys[job], params)
    for job, (path, _) in NEEDS_REQUEST.items():
        post(server, path, keys[job])
    wait_for(lambda: all(rows_of(env, key) for key in keys.values()), 60, "every job's row")
    post(server, "/notes/{key}", f"last-{suffix}", {"count": 1})
    wait_for(lambda: rows_of(env, f"last-{suffix}"), 60, "the last job's row")
    return keys


def assert_request_jobs_ran_in_the_server(
    env: dict[str, str], keys: dict[str, str], server_pid: int
) -> None:
    """The jobs left alone ran on their threads in the server, as before the migration."""
    visit, copied = rows_of(env, keys["log_visit"]), rows_of(env, keys["log_copied_visit"])
    assert len(visit) == 1 and len(copied) == 1, (visit, copied)
    # a plain thread: no request there, and the job made an app context of its own
    assert visit[0]["pid"] == server_pid, visit
    assert (visit[0]["own_context"], visit[0]["in_request"], visit[0]["agent"]) == (1, 0, None)
    # the request's context copied to the thread: the request's header, its app context
    assert copied[0]["pid"] == server_pid, copied
    assert (copied[0]["own_context"], copied[0]["in_request"], copied[0]["agent"]) == (0, 1, AGENT)
    assert {visit[0]["app_name"], copied[0]["app_name"]} == {APP_NAME}


def test_the_thread_sites_are_migrated_and_the_request_ones_left_alone(
    migrated: tuple[Path, dict[str, Any]],
) -> None:
    tree, report = migrated
    sites = {site["implementation"]: site for site in report["sites"]}
    for job, (*_, path, task) in MIGRATED.items():
        site = sites[f"ledger.jobs.{job}"]
        assert (site["status"], site["reason"]) == ("migrated", None), site
        assert (site["call"], site["path"], site["task"]) == ("threading.Thread", path, task), site
    assert {s["function"] for s in report["sites"] if s["status"] == "migrated"} == {
        "add_note",
        "export",
        "tag_region",
        "post",
    }
    # The request's jobs: the plain target found by its read of `flask.request`, the wrapped
    # one by `copy_current_request_context`.
    skipped = {s["function"]: s for s in report["sites"] if s["status"] == "skipped"}
    assert set(skipped) == {"visit", "copied_visit"}, report["sites"]
    assert all(s["reason"] == "needs-request" for s in skipped.values()), skipped
    assert skipped["visit"]["implementation"] == "ledger.jobs.log_visit", skipped
    assert report["summary"] == {
        "sites": 6,
        "migrated": 4,
        "already_migrated": 0,
        "ignored": 0,
        "skipped": 2,
        "errors": 0,
    }, report["summary"]
    assert report["errors"] == [], report["errors"]
    registered = {m["path"]: m["registered"] for m in report["tasks_modules"]}
    assert registered == {
        "ledger/tasks/jobs_tasks.py": True,
        "ledger/tasks/reports_tasks.py": True,
    }, report["tasks_modules"]

    # The runner creates the factory's app (not wsgi.py's, which calls it); every wrapper runs
    # in its context.
    runner = (tree / "ledger/tasks/async_runner.py").read_text(encoding="utf-8")
    assert 'FLASK_APP = "ledger:create_app"' in runner
    assert "class FlaskTask(Task):" in runner
    for module, count in (("jobs_tasks", 3), ("reports_tasks", 1)):
        wrappers = (tree / f"ledger/tasks/{module}.py").read_text(encoding="utf-8")
        assert "from ledger.tasks.async_runner import FlaskTask" in wrappers, wrappers
        decorators = re.findall(r"@celery_app\.task\((.*?)\)\ndef ", wrappers, re.S)
        assert len(decorators) == count, wrappers
        assert all("base=FlaskTask," in d for d in decorators), wrappers
    # The request's sites are left as they were.
    views = (tree / "ledger/views/jobs.py").read_text(encoding="utf-8")
    for _, statement in NEEDS_REQUEST.values():
        assert statement in views, views
    assert views.count("except ") == 3, views  # the migrated sites' fallbacks, no more

    # `check` finds the two request sites (CCM002) and nothing else: no drift in the generated
    # code (CCM003); a second run would change nothing.
    check = codemod(tree, "check")
    assert check.returncode == 1, (check.stdout, check.stderr)
    problems = [line for line in check.stdout.splitlines() if re.search(r": CCM\d{3} ", line)]
    assert len(problems) == 2 and all(" CCM002 " in p for p in problems), check.stdout
    assert all("needs-request" in p for p in problems), check.stdout
    again = codemod(tree, "migrate", "--check")
    assert again.returncode == 0, (again.stdout, again.stderr)


@pytest.mark.parametrize("pool", ["prefork", "threads"])
def test_every_job_runs_once_in_the_worker_inside_the_app_context(
    pool: str,
    tree: Path,
    env: dict[str, str],
    redis_server: RedisServer,
    start_worker: Callable[..., Worker],
    serve: Callable[..., WsgiServer],
) -> None:
    broker = redis_server.url()
    worker = start_worker(
        tree,
        broker,
        app_module=CELERY_APP_MODULE,
        pool=pool,
        concurrency=1,
        env={**env, "LEDGER_REGION": "worker-region"},
    )
    server = serve(tree, {"CELERY_BROKER_URL": broker, **env, "LEDGER_REGION": "server-region"})
    assert server.proc is not None
    keys = drive_every_view(server, env, "w")

    # the processes that run the jobs: the prefork pool's, or the threads pool's worker itself
    runners = worker.process_ids() - {worker.pid} if pool == "prefork" else {worker.pid}
    assert runners and server.proc.pid not in runners
    log = worker.log()
    for job, (*_, task) in MIGRATED.items():
        found = rows_of(env, keys[job])
        assert len(found) == 1, (job, found, log)  # once: not also in the server
        row = found[0]
        # the factory ran in the worker: the region is the worker's environment's
        assert row["kind"] == job and row["args"] == expected_args(job, "worker-region"), row
        assert row["pid"] in runners, (job, row["pid"], runners, server.proc.pid)
        # FlaskTask's app context: the job found one (it made none), the factory's app, no request
        assert (row["app_name"], row["own_context"], row["in_request"]) == (APP_NAME, 0, 0), row
        assert re.search(rf"Task {re.escape(task)}\[[-0-9a-f]+\] succeeded", log), (job, log)
    assert_request_jobs_ran_in_the_server(env, keys, server.proc.pid)
    assert len(rows(env)) == len(keys) + 1, rows(env)  # and the last job's row

    assert "unregistered task" not in log.lower(), log
    assert "Traceback" not in log, log
    server_log = server.log()
    assert FALLBACK_WARNING not in server_log, server_log
    assert "Traceback" not in server_log, server_log  # no thread of the server failed


def test_with_the_broker_refused_every_site_runs_its_thread_in_the_server(
    tree: Path, env: dict[str, str], serve: Callable[..., WsgiServer]
) -> None:
    server = serve(tree, {"CELERY_BROKER_URL": refused_url(), **env, "LEDGER_REGION": "here"})
    assert server.proc is not None
    keys = drive_every_view(server, env, "f")

    for job in MIGRATED:
        found = rows_of(env, keys[job])
        assert len(found) == 1, (job, found)
        row = found[0]
        assert row["kind"] == job and row["args"] == expected_args(job, "here"), row
        assert row["pid"] == server.proc.pid, (job, row["pid"], server.proc.pid)
        # the original thread, as before the migration: no app context until the job made one
        assert (row["app_name"], row["own_context"], row["in_request"]) == (APP_NAME, 1, 0), row
    assert_request_jobs_ran_in_the_server(env, keys, server.proc.pid)
    assert all(row["pid"] == server.proc.pid for row in rows(env)), rows(env)
    assert len(rows(env)) == len(keys) + 1, rows(env)

    log = server.log()
    warnings = [line for line in log.splitlines() if line.startswith(FALLBACK_WARNING)]
    assert len(warnings) == len(MIGRATED) + 1, log  # one per migrated request, the last one's too
    assert all("refused" in line.lower() for line in warnings), warnings
    assert all(line.endswith("falling back to a thread") for line in warnings), warnings
    assert "Traceback" not in log, log
