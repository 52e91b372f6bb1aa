"""Start-up state (`needs-startup`), host paths (`host-path`), `worker-startup` and
`shared-filesystem`: the analyses, the generated runner, and its drift."""

from __future__ import annotations

import ast
import json
import shutil
import textwrap
from pathlib import Path

import pytest

from codemod.analysis.analyse import Project
from codemod.config import ConfigError, load_config
from codemod.model.hostpath import host_path
from tests.golden import FIXTURES, run_cli

CELERY = 'from celery import Celery\n\ncelery_app = Celery("app", include=[])\n'


def write(root: Path, files: dict[str, str]) -> Path:
    files = {
        "app/__init__.py": "",
        "app/core/__init__.py": "",
        "app/core/celery_app.py": CELERY,
        "app/tasks/__init__.py": "",
        **files,
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def state_keys(root: Path, worker_startup: tuple[str, ...] = ()) -> dict[str, str]:
    config = load_config((root,), root, {"worker_startup": worker_startup})
    reach = Project.of(config).reach
    return {key: setter.what for key, (_, setter) in reach.state.keys.items()}


def classify(root: Path, *args: str) -> dict[int, tuple[str, str | None]]:
    """The sites of a `migrate --report` of a copy of `root`: line -> (status, reason)."""
    work = root.parent / f"{root.name}-run"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(root, work)
    result = run_cli(work, "migrate", "--report", "report.json", *args)
    assert result.exit_code == 0, result.output
    data = json.loads((work / "report.json").read_text())
    return {s["line"]: (s["status"], s["reason"]) for s in data["sites"]}


# --- what the start-up sets ---------------------------------------------------------------------

STARTUP_FORMS = {
    "app/state.py": """
        engine = None
        registry = {}
        handlers = []
        config = type("Config", (), {})()

        class Holder:
            def __init__(self):
                self._inst = None

            def set(self, inst):
                self._inst = inst

            def describe(self):
                return repr(self._inst)

        holder = Holder()
        untouched = Holder()
        register = handlers.append
        """,
    "app/setup.py": """
        from app import state
        from app.state import config, holder, registry, untouched

        def init_engine():
            state.engine = object()

        def fill():
            registry["a"] = 1
            setattr(config, "debug", True)
            holder.set(object())
            untouched.describe()
            state.register(print)
        """,
    "app/main.py": """
        from contextlib import asynccontextmanager

        from fastapi import FastAPI

        from app.setup import fill, init_engine

        @asynccontextmanager
        async def lifespan(app):
            init_engine()
            yield

        app = FastAPI(lifespan=lifespan)

        @app.on_event("startup")
        def on_start():
            fill()
        """,
}


def test_state_set_by_every_form(tmp_path: Path) -> None:
    keys = state_keys(write(tmp_path, STARTUP_FORMS))
    assert set(keys) == {
        "app.state.engine",  # an attribute of a module: a module-level name
        "app.state.registry",  # a container filled by item
        "app.state.config",  # setattr (the whole object)
        "app.state.holder",  # a method of a repository class that sets `self`'s attributes
        "app.state.handlers",  # `register = handlers.append`, called by name
    }
    assert keys["app.state.engine"] == (
        "`init_engine()` (app/setup.py), called from lifespan `lifespan` (app/main.py)"
    )
    assert keys["app.state.registry"] == (
        "`fill()` (app/setup.py), called from startup handler `on_start` (app/main.py)"
    )


def test_worker_startup_covers_what_it_sets(tmp_path: Path) -> None:
    root = write(tmp_path, STARTUP_FORMS)
    keys = state_keys(root, ("app.setup:fill",))
    assert set(keys) == {"app.state.engine"}
    assert state_keys(root, ("app.setup:fill", "app.setup:init_engine")) == {}


def test_global_rebinding_and_a_lazy_initialiser(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "app/db.py": """
                _engine = None
                _pool = None

                def init_db():
                    global _engine, _pool
                    _engine = object()
                    _pool = object()

                def get_pool():
                    global _pool
                    if _pool is None:
                        _pool = object()
                    return _pool

                def get_engine():
                    return _engine
                """,
            "app/main.py": """
                from fastapi import FastAPI

                from app.db import init_db

                app = FastAPI(on_startup=[init_db])
                """,
            "app/api/__init__.py": "",
            "app/api/jobs.py": """
                import asyncio

                from fastapi import APIRouter

                from app.db import get_engine, get_pool

                router = APIRouter()

                async def uses_engine(n: int) -> None:
                    get_engine()

                async def uses_pool(n: int) -> None:
                    get_pool()

                @router.post("/a")
                async def a(n: int) -> None:
                    asyncio.create_task(uses_engine(n))

                @router.post("/b")
                async def b(n: int) -> None:
                    asyncio.create_task(uses_pool(n))
                """,
        },
    )
    assert set(state_keys(root)) == {"app.db._engine", "app.db._pool"}
    found = classify(root)
    assert found[17] == ("skipped", "needs-startup")  # reads _engine, set at start-up only
    assert found[21] == ("migrated", None)  # get_pool sets _pool itself when it is missing


def test_the_app_modules_own_definitions_are_no_state(tmp_path: Path) -> None:
    """`app = FastAPI()` and the other bindings of the main module exist wherever it is
    imported: only what its top-level calls set counts."""
    root = write(
        tmp_path,
        {
            "app/main.py": """
                from fastapi import FastAPI

                limits = {}
                app = FastAPI()
                app.state.ready = True
                """,
        },
    )
    assert set(state_keys(root)) == {"app.main.app.state.ready"}


# --- the job's side -----------------------------------------------------------------------------


def test_the_fixture_app_messages_name_what_is_read_and_where(tmp_path: Path) -> None:
    case = FIXTURES / "cases" / "app_startup_state" / "before"
    work = tmp_path / "app"
    shutil.copytree(case, work)
    result = run_cli(work, "check", ".")
    assert result.exit_code == 1
    lines = {line.split(":")[1]: line for line in result.output.splitlines() if "CCM00" in line}
    assert (
        "`case_created_flow` reads `plugins.get` (in `PluginInstance.instance`, app/models.py), "
        "set by `install_plugins()` (app/common/install.py), called from the module level of "
        'app/main.py; to run it in the worker, add `worker-startup = ["app.common.install:'
        'install_plugins"]` to [tool.celery-codemod]'
    ) in lines["23"]
    assert "`record_profile` reads `forge.STORAGE`, set by `start_app()`" in lines["35"]
    assert "reads `forge.STORAGE` (in `_store`, app/flows.py)" in lines["47"]
    assert (
        "host-path: `temp_path` is a temporary file the handler created (line 53)" in (lines["58"])
    )
    assert "CCM001" in lines["41"]


def test_a_start_up_without_a_runnable_callable_says_to_move_it(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "app/state.py": "clients = {}\n",
            "app/main.py": """
                from contextlib import asynccontextmanager

                from fastapi import FastAPI

                from app.state import clients

                @asynccontextmanager
                async def lifespan(app):
                    clients["http"] = object()
                    yield

                app = FastAPI(lifespan=lifespan)
                """,
            "app/api/__init__.py": "",
            "app/api/jobs.py": """
                import asyncio

                from fastapi import APIRouter

                from app.state import clients

                router = APIRouter()

                async def fetch(url: str) -> None:
                    clients["http"]

                @router.post("/a")
                async def a(url: str) -> None:
                    asyncio.create_task(fetch(url))
                """,
        },
    )
    result = run_cli(root, "check", ".")
    assert "needs-startup: `fetch` reads `clients`, set by lifespan `lifespan` (app/main.py); " in (
        result.output
    )
    assert "move that set-up into a function a worker can run" in result.output


# --- host paths ---------------------------------------------------------------------------------


def host(body: str, argument: str = "path") -> str | None:
    tree = ast.parse(textwrap.dedent(body))
    function = tree.body[-1]
    assert isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
    names = {"tempfile", "os", "shutil", "aiofiles"}

    def qualify(expr: ast.expr) -> str | None:
        if isinstance(expr, ast.Name):
            return expr.id if expr.id in names else f"builtins.{expr.id}"
        if isinstance(expr, ast.Attribute):
            base = qualify(expr.value)
            if base == "builtins.Path":
                return None
            return f"{base}.{expr.attr}" if base else None
        return None

    def qualify_path(expr: ast.expr) -> str | None:
        if isinstance(expr, ast.Name) and expr.id == "Path":
            return "pathlib.Path"
        return qualify(expr)

    return host_path([ast.parse(argument, mode="eval").body], function, qualify_path)


@pytest.mark.parametrize(
    "body",
    [
        "def f():\n    path = tempfile.mkdtemp()\n",
        "def f():\n    fd, path = tempfile.mkstemp()\n",
        "def f():\n    path = tempfile.mkstemp()[1]\n",
        "def f():\n    folder = tempfile.mkdtemp()\n    path = os.path.join(folder, 'a.csv')\n",
        "def f():\n    folder = tempfile.gettempdir()\n    path = Path(folder) / 'a.csv'\n",
        "def f():\n    folder = tempfile.mkdtemp()\n    path = f'{folder}/a.csv'\n",
        "def f():\n    with tempfile.TemporaryDirectory() as path:\n        pass\n",
        "def f():\n    with tempfile.NamedTemporaryFile() as t:\n        path = t.name\n",
        "def f(file):\n    path = 'uploads/' + file.filename\n    open(path, 'wb').write(b'')\n",
        "def f(file):\n    path = f'/data/{file.filename}'\n    Path(path).write_bytes(b'')\n",
        "def f(src, path):\n    shutil.copy(src, path)\n",
        "async def f(path):\n    async with aiofiles.open(path, mode='wb') as out:\n        pass\n",
    ],
)
def test_host_paths(body: str) -> None:
    assert host(body) is not None


@pytest.mark.parametrize(
    "body",
    [
        "def f(path):\n    pass\n",
        "def f(path):\n    open(path).read()\n",
        "def f(path):\n    open(path, 'rb').read()\n",
        "def f():\n    path = 'reports/latest.csv'\n",
        "def f():\n    other = tempfile.mkdtemp()\n    path = 'x'\n",
    ],
)
def test_not_host_paths(body: str) -> None:
    assert host(body) is None


def test_shared_filesystem_lets_a_host_path_migrate(tmp_path: Path) -> None:
    case = FIXTURES / "cases" / "app_startup_state" / "before"
    work = tmp_path / "app"
    shutil.copytree(case, work)
    assert classify(work)[58] == ("skipped", "host-path")
    with (work / "pyproject.toml").open("a") as out:
        out.write("\n[tool.celery-codemod]\nshared-filesystem = true\n")
    assert classify(work)[58] == ("migrated", None)


# --- worker-startup: config, runner, drift ------------------------------------------------------


@pytest.mark.parametrize("spec", ["app.setup", "app.setup:", ":fill", "app setup:fill", "a:b:c"])
def test_worker_startup_entries_must_be_module_colon_callable(tmp_path: Path, spec: str) -> None:
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.celery-codemod]\nworker-startup = ["{spec}"]\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="must be MODULE:CALLABLE"):
        load_config((tmp_path,), tmp_path, {})


def migrated_tree(tmp_path: Path) -> Path:
    case = FIXTURES / "cases" / "app_startup_state_worker_startup" / "after"
    work = tmp_path / "app"
    shutil.copytree(case, work)
    return work


def set_worker_startup(root: Path, entries: list[str] | None) -> None:
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    head = text.split("[tool.celery-codemod]")[0]
    table = "\n[tool.celery-codemod]\nshared-filesystem = true\n"
    if entries is not None:
        table += f"worker-startup = {json.dumps(entries)}\n"
    (root / "pyproject.toml").write_text(head.rstrip("\n") + "\n" + table, encoding="utf-8")


def test_a_changed_worker_startup_list_is_drift_that_migrate_fixes(tmp_path: Path) -> None:
    root = migrated_tree(tmp_path)
    assert run_cli(root, "check", ".").exit_code == 0
    set_worker_startup(root, ["app.core.startup:start_app", "app.common.install:install_plugins"])
    result = run_cli(root, "check", ".")
    assert result.exit_code == 1
    assert (
        "app/tasks/async_runner.py:1:1: CCM003 the runner module runs "
        "`app.core.startup:start_app`, `app.common.install:install_plugins`, "
        "`app.settings:init_settings` at worker start-up, but `worker-startup` lists "
        "`app.core.startup:start_app`, `app.common.install:install_plugins`; run "
        "'celery-codemod migrate' to regenerate it"
    ) in result.output
    # the job that needs the settings is no longer migratable: it stays as it is (migrated)
    assert run_cli(root, "migrate", ".").exit_code == 0
    runner = (root / "app/tasks/async_runner.py").read_text(encoding="utf-8")
    assert '"app.settings:init_settings"' not in runner
    assert '"app.common.install:install_plugins",\n)' in runner
    assert run_cli(root, "check", ".").exit_code == 0


def test_dropping_worker_startup_regenerates_the_runner_and_the_plain_wrappers(
    tmp_path: Path,
) -> None:
    root = migrated_tree(tmp_path)
    set_worker_startup(root, None)
    result = run_cli(root, "check", ".")
    assert result.exit_code == 1
    assert "CCM003 wrapper `case_created_flow_task` calls its implementation after the" in (
        result.output
    )
    assert "app/tasks/async_runner.py:1:1: CCM003 the runner module runs" in result.output
    assert run_cli(root, "migrate", ".").exit_code == 0
    tasks = (root / "app/tasks/cases_tasks.py").read_text(encoding="utf-8")
    assert "    run_sync(" not in tasks
    assert "    case_created_flow(case_id)\n" in tasks
    runner = (root / "app/tasks/async_runner.py").read_text(encoding="utf-8")
    assert "WORKER_STARTUP" not in runner
    assert "def run_sync(" in runner  # the tasks module still imports it
    assert run_cli(root, "check", ".").exit_code == 0


def test_a_decorator_of_the_repository_runs_with_the_job(tmp_path: Path) -> None:
    """dispatch's `@background_task` counts metrics through the plugin registry: its wrapper
    runs in the worker with the job, and reads the start-up state."""
    root = write(
        tmp_path,
        {
            "app/registry.py": """
                plugins = {}

                def install():
                    plugins["metrics"] = object()
                """,
            "app/decorators.py": """
                from functools import wraps

                from app.registry import plugins

                def background_task(func):
                    @wraps(func)
                    def wrapper(*args, **kwargs):
                        plugins["metrics"]
                        return func(*args, **kwargs)

                    return wrapper
                """,
            "app/main.py": """
                from fastapi import FastAPI

                from app.registry import install

                install()
                app = FastAPI()
                """,
            "app/api/__init__.py": "",
            "app/api/jobs.py": """
                from fastapi import APIRouter, BackgroundTasks

                from app.decorators import background_task

                router = APIRouter()

                @background_task
                def update_event(event_id: int) -> None:
                    pass

                def plain(event_id: int) -> None:
                    pass

                @router.post("/a")
                def a(event_id: int, background_tasks: BackgroundTasks) -> None:
                    background_tasks.add_task(update_event, event_id)
                    background_tasks.add_task(plain, event_id)
                """,
        },
    )
    found = classify(root)
    assert found[16] == ("skipped", "needs-startup")
    assert found[17] == ("migrated", None)
    message = run_cli(root, "check", ".").output
    assert "`update_event` reads `plugins` (in `background_task.wrapper`, app/decorators.py)" in (
        message
    )


def test_worker_startup_with_re_created_dependencies_is_no_drift(tmp_path: Path) -> None:
    """A wrapper that re-creates a dependency starts the worker up through the runner's
    `run_with_dependencies` (it runs `run_coroutine`): no `run_sync` is due, and no drift."""
    work = tmp_path / "app"
    shutil.copytree(FIXTURES / "cases" / "args_dependencies" / "before", work)
    with (work / "pyproject.toml").open("a", encoding="utf-8") as out:
        out.write('\n[tool.celery-codemod]\nworker-startup = ["app.db:get_client"]\n')
    assert run_cli(work, "migrate", ".").exit_code == 0
    assert " CCM003 " not in run_cli(work, "check", ".").output
    again = run_cli(work, "migrate", "--check", ".")
    assert again.exit_code == 0, again.output
