"""The generated code of a Flask project: the runner's `FlaskTask` (run in-process with a real
Celery app and a real Flask app), `base=FlaskTask` on the wrappers, the drift of both (CCM003),
and the exit-2 hint when a Flask project's app is not found or not one."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from codemod.config import Config
from codemod.emit.generate import format_code, wrapper_code
from codemod.emit.runner import RUNNER_SOURCE, runner_source
from codemod.models import Param, Signature, Wrapper
from tests.golden import run_cli

JOB = Signature("app.jobs", "save", False, (Param("item_id", "normal", "int", None),))
WRAPPER = Wrapper("save_task", "app.tasks.jobs_tasks", JOB)


def test_without_flask_the_runner_is_the_one_earlier_versions_wrote() -> None:
    assert runner_source(Config(Path("."), ())) == RUNNER_SOURCE
    assert "FlaskTask" not in RUNNER_SOURCE


def test_with_flask_the_runner_has_flask_task_and_compiles() -> None:
    source = format_code(runner_source(Config(Path("."), (), flask_app="app:create_app")), 88)
    compile(source, "async_runner.py", "exec")
    assert 'FLASK_APP = "app:create_app"\n' in source
    assert "class FlaskTask(Task):\n" in source
    assert "from celery import Task\nfrom kombu.exceptions import OperationalError\n" in source
    both = runner_source(Config(Path("."), (), flask_app="a:b", worker_startup=("a:c",)))
    assert both.count("import importlib\n") == 1
    compile(both, "async_runner.py", "exec")


def test_a_flask_project_s_wrappers_run_in_flask_task() -> None:
    plain = wrapper_code(WRAPPER, Config(Path("."), ()), "celery_app")
    flask = wrapper_code(WRAPPER, Config(Path("."), (), flask_app="app:create_app"), "app")
    assert "base=" not in plain
    assert flask == plain.replace(
        "    bind=True,\n", "    bind=True,\n    base=FlaskTask,\n"
    ).replace("@celery_app.task(", "@app.task(")


# --- FlaskTask at run time --------------------------------------------------------------------

FLASK_PROJECT = {
    "webapp/__init__.py": "",
    "webapp/factory.py": """
        from flask import Flask

        made = []

        def create_app():
            app = Flask("from-factory")
            made.append(app)
            return app
        """,
    "webapp/module_app.py": """
        from flask import Flask

        app = Flask("module-level")
        """,
}


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[tuple[ModuleType, Path]]:
    """A project on sys.path, and a loader of the generated runner for one of its apps."""
    pytest.importorskip("flask")
    for rel, text in FLASK_PROJECT.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        yield ModuleType("unused"), tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == "webapp" or n.startswith("webapp.")]:
            del sys.modules[name]


def _load_runner(root: Path, flask_app: str) -> ModuleType:
    path = root / f"runner_{flask_app.replace(':', '_').replace('.', '_')}.py"
    path.write_text(runner_source(Config(root, (), flask_app=flask_app)), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(runner: ModuleType, job: object) -> object:
    from celery import Celery

    app = Celery("t", broker="memory://", set_as_current=False)
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    task = app.task(bind=True, base=runner.FlaskTask, name="t.job", shared=False)(job)
    try:
        return task.delay().get()
    finally:
        app.close()


def test_jobs_run_in_the_app_the_factory_makes_once_per_process(
    runner: tuple[ModuleType, Path],
) -> None:
    from flask import current_app, g

    generated = _load_runner(runner[1], "webapp.factory:create_app")

    def job(self: object) -> str:
        g.seen = getattr(g, "seen", 0) + 1  # the task's own `g`, fresh each time
        return f"{current_app.name}:{g.seen}"

    assert _run(generated, job) == "from-factory:1"
    assert _run(generated, job) == "from-factory:1"
    factory = sys.modules["webapp.factory"]
    assert len(factory.made) == 1  # one app for the process, made at the first job


def test_a_module_level_app_is_imported(runner: tuple[ModuleType, Path]) -> None:
    from flask import current_app

    generated = _load_runner(runner[1], "webapp.module_app:app")

    def job(self: object) -> str:
        return str(current_app.name)

    assert _run(generated, job) == "module-level"


def test_a_call_in_an_app_context_already_uses_that_one(runner: tuple[ModuleType, Path]) -> None:
    from flask import Flask, current_app

    generated = _load_runner(runner[1], "webapp.factory:create_app")

    def job(self: object) -> str:
        return str(current_app.name)

    with Flask("the-web-process").app_context():
        assert _run(generated, job) == "the-web-process"
    assert sys.modules.get("webapp.factory") is None or not sys.modules["webapp.factory"].made


# --- the project: drift, and the app not found ---------------------------------------------------

VIEW = """
import asyncio

from flask import Blueprint

bp = Blueprint("items", __name__)


async def save(item_id: int) -> None:
    pass


@bp.post("/items")
async def create_item():
    asyncio.create_task(save(1))
    return {}
"""


def flask_project(root: Path, apps: dict[str, str], config: str = "") -> Path:
    files = {
        "pyproject.toml": f'[project]\nname = "x"\n\n[tool.celery-codemod]\n{config}',
        "app/__init__.py": "",
        "app/celery_app.py": 'from celery import Celery\n\ncelery_app = Celery("app")\n',
        "app/views.py": VIEW,
        **apps,
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


FACTORY = "from flask import Flask\n\n\ndef create_app():\n    return Flask(__name__)\n"
OTHER = "from flask import Flask\n\nadmin = Flask(__name__)\n"


def test_the_runner_and_wrappers_of_another_app_drift(tmp_path: Path) -> None:
    root = flask_project(tmp_path, {"app/factory.py": FACTORY})
    assert run_cli(root, "migrate").exit_code == 0
    assert (
        'FLASK_APP = "app.factory:create_app"' in (root / "app/tasks/async_runner.py").read_text()
    )
    assert "    base=FlaskTask,\n" in (root / "app/tasks/views_tasks.py").read_text()
    assert run_cli(root, "check").exit_code == 0
    (root / "app/admin.py").write_text(OTHER, encoding="utf-8")
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + 'flask-app = "app.admin:admin"\n')
    result = run_cli(root, "check")
    assert result.exit_code == 1
    assert (
        "CCM003 the runner module creates the Flask app `app.factory:create_app`, but "
        "`flask-app` is `app.admin:admin`"
    ) in result.output
    assert run_cli(root, "migrate").exit_code == 0
    assert 'FLASK_APP = "app.admin:admin"' in (root / "app/tasks/async_runner.py").read_text()
    assert run_cli(root, "check").exit_code == 0


def test_wrappers_made_before_the_project_was_flask_s_drift(tmp_path: Path) -> None:
    root = flask_project(tmp_path, {})
    (root / "app/views.py").write_text(
        VIEW.replace("from flask import Blueprint\n", "from fastapi import APIRouter\n").replace(
            'bp = Blueprint("items", __name__)', "bp = APIRouter()"
        ),
        encoding="utf-8",
    )
    assert run_cli(root, "migrate").exit_code == 0
    assert "base=" not in (root / "app/tasks/views_tasks.py").read_text()
    (root / "app/factory.py").write_text(FACTORY, encoding="utf-8")
    result = run_cli(root, "check")
    assert result.exit_code == 1
    assert (
        "runs its job outside the Flask app's context, but the project's jobs run in "
        "`app.factory:create_app` (`base=FlaskTask`)"
    ) in result.output
    assert "the runner module runs jobs outside a Flask app's context" in result.output
    assert run_cli(root, "migrate").exit_code == 0
    assert "    base=FlaskTask,\n" in (root / "app/tasks/views_tasks.py").read_text()
    assert (
        "from app.tasks.async_runner import FlaskTask\n"
        in (root / "app/tasks/views_tasks.py").read_text()
    )
    assert run_cli(root, "check").exit_code == 0


@pytest.mark.parametrize(
    ("apps", "config", "message"),
    [
        (
            {},
            "",
            "the routes are Flask's (app/views.py), but no Flask app was found",
        ),
        (
            {"app/factory.py": FACTORY, "app/admin.py": OTHER},
            "",
            "several Flask apps found (app.admin:admin, app.factory:create_app)",
        ),
        (
            {"app/factory.py": FACTORY},
            'flask-app = "app.factory:make"\n',
            "app.factory defines no make",
        ),
    ],
    ids=["none", "several", "a wrong setting"],
)
def test_a_flask_project_without_its_app_exits_2_naming_the_key(
    tmp_path: Path, apps: dict[str, str], config: str, message: str
) -> None:
    root = flask_project(tmp_path, apps, config)
    result = run_cli(root, "migrate")
    assert result.exit_code == 2
    assert message in result.stderr
    if not config:
        assert 'set flask-app = "MODULE:ATTR_OR_FACTORY" in [tool.celery-codemod]' in result.stderr
    # the control: nothing to migrate, nothing to ask
    (root / "app/views.py").write_text(VIEW.replace("asyncio.create_task(save(1))", "pass"))
    assert run_cli(root, "migrate").exit_code == 0
