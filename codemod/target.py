"""The target's Celery app and tasks package: finding the app and how it registers tasks modules;
the tasks package's default name (from the app's package), where a new one goes and the
`__init__.py` files it needs; its routes module, which the app applies to `task_routes`; and the
Flask app that a Flask project's jobs run in."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from codemod.analysis.flask_app import FlaskApps
from codemod.config import DEFAULT_TASKS_PACKAGE, Config, ConfigError
from codemod.model.files import (
    excluded,
    module_name,
    new_module_path,
    python_files,
    relpath,
    shown,
)
from codemod.model.index import ModuleInfo, RepoIndex
from codemod.model.signature import wraps_implementation
from codemod.model.syntax import FunctionNode, import_bindings
from codemod.models import CeleryApp

ROUTES = "routing"  # the routes module's name in the tasks package
ROUTES_TABLE = "TASK_ROUTES"
ROUTE_GENERATED_TASKS = "route_generated_tasks"  # what the Celery app module calls with itself


# --- the Celery app ---------------------------------------------------------------------------


def _celery_apps(info: ModuleInfo) -> list[tuple[str, ast.Call]]:
    found = []
    for stmt in info.tree.body:
        if (
            isinstance(stmt, ast.Assign)
            and isinstance(stmt.value, ast.Call)
            and info.qualify_expr(stmt.value.func) == "celery.Celery"
        ):
            found += [(t.id, stmt.value) for t in stmt.targets if isinstance(t, ast.Name)]
    return found


def find_celery_app(config: Config, index: RepoIndex, files: list[Path] | None = None) -> CeleryApp:
    """The configured Celery app, else the one module-level `Celery(...)` among `files` (every
    Python file under the root when not given)."""
    if config.celery_app:
        module, _, attr = config.celery_app.partition(":")
        info = index.module(module)
        if info is None:
            raise ConfigError(f"--celery-app {config.celery_app}: no module {module} under root")
        if attr not in info.bindings:
            raise ConfigError(f"--celery-app {config.celery_app}: {module} defines no {attr}")
        return CeleryApp(module, attr, relpath(info.path, config.root))
    found: list[CeleryApp] = []
    for path in python_files(config, [config.root]) if files is None else files:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if b"Celery(" not in data:
            continue
        module = module_name(relpath(path, config.root))
        info = index.module(module)
        if info is not None:
            rel = relpath(path, config.root)
            found += [CeleryApp(module, name, rel) for name, _ in _celery_apps(info)]
    if not found:
        raise ConfigError(
            f"{shown(config.root)}: no Celery app found (a module-level `app = Celery(...)`); "
            "pass --celery-app MODULE:ATTR or set celery-app in [tool.celery-codemod]"
        )
    if len(found) > 1:
        names = ", ".join(f"{a.module}:{a.attr}" for a in found)
        raise ConfigError(
            f"{shown(config.root)}: several Celery apps found ({names}); "
            "pass --celery-app MODULE:ATTR"
        )
    return found[0]


@dataclass(frozen=True)
class AppSearch:
    """The Celery app found, or why none was (raised only where the plan needs the app)."""

    app: CeleryApp | None
    error: str = ""


def search_celery_app(config: Config, index: RepoIndex, files: list[Path] | None) -> AppSearch:
    """find_celery_app, which never raises."""
    try:
        return AppSearch(find_celery_app(config, index, files))
    except ConfigError as exc:
        return AppSearch(None, str(exc))


@dataclass(frozen=True)
class Registration:
    """How the Celery app finds its tasks modules, and which it already registers."""

    style: str  # "include", "imports", "init" or "add-include"
    registered: frozenset[str]


def registration(app: CeleryApp, config: Config, index: RepoIndex) -> Registration:
    info = index.module(app.module)
    include: set[str] = set()
    imports: set[str] = set()
    has_include = has_imports = False
    if info is not None:
        for node in ast.walk(info.tree):
            for key, value in _registration_values(node):
                strings = {
                    e.value
                    for e in getattr(value, "elts", [])
                    if isinstance(e, ast.Constant) and isinstance(e.value, str)
                }
                if key == "include":
                    has_include, include = True, include | strings
                else:
                    has_imports, imports = True, imports | strings
            if isinstance(node, ast.Import | ast.ImportFrom):
                imports |= {q for _, q in import_bindings(node, info.module, info.is_package)}
    init = index.module(config.tasks_package)
    init_imports: set[str] = set()
    if init is not None:
        for stmt in init.tree.body:
            if isinstance(stmt, ast.Import | ast.ImportFrom):
                init_imports |= {q for _, q in import_bindings(stmt, init.module, True)}
    package_prefix = config.tasks_package + "."
    init_style = any(q.startswith(package_prefix) for q in init_imports)
    style = (
        "include"
        if has_include
        else "imports"
        if has_imports
        else "init"
        if init_style
        else "add-include"
    )
    return Registration(style, frozenset(include | imports | init_imports))


def _registration_values(node: ast.AST) -> list[tuple[str, ast.expr]]:
    """(`include` or `imports`, list expression) for each place a node sets one of them."""
    out: list[tuple[str, ast.expr]] = []
    if isinstance(node, ast.Call):
        out += [(k.arg, k.value) for k in node.keywords if k.arg in ("include", "imports")]
    if isinstance(node, ast.Assign):
        for target in node.targets:
            if isinstance(target, ast.Attribute) and target.attr in ("include", "imports"):
                out.append((target.attr, node.value))
    return [(k, v) for k, v in out if isinstance(v, ast.List | ast.Tuple)]


# --- the Flask app ----------------------------------------------------------------------------

FLASK_APP_KEY = 'flask-app = "MODULE:ATTR_OR_FACTORY"'


@dataclass(frozen=True)
class FlaskSearch:
    """The Flask app a Flask project's jobs run in ("module:attr", "module:factory"), or why
    none is known (raised only where the plan needs it); neither for a project without Flask."""

    app: str | None
    error: str = ""


def search_flask_app(config: Config, flask: FlaskApps, index: RepoIndex) -> FlaskSearch:
    """The `flask-app` setting (its module must define the name), else the one Flask app the
    project creates (an app a module builds at its top level, or a factory a worker can call
    with no argument); never raises."""
    spec = config.flask_app
    if spec:
        module, _, name = spec.partition(":")
        info = index.module(module)
        if info is None:
            return FlaskSearch(None, f"flask-app {spec}: no module {module} under root")
        if name not in info.bindings:
            return FlaskSearch(None, f"flask-app {spec}: {module} defines no {name}")
        return FlaskSearch(spec)
    if not flask.used:
        return FlaskSearch(None)
    if flask.chosen:
        return FlaskSearch(flask.chosen)
    todo = (
        f"set {FLASK_APP_KEY} in [tool.celery-codemod] to the app the web server runs: every "
        "worker creates it and runs the jobs in its app context"
    )
    if flask.candidates:
        names = ", ".join(flask.candidates)
        return FlaskSearch(
            None, f"{shown(config.root)}: several Flask apps found ({names}); {todo}"
        )
    return FlaskSearch(
        None,
        f"{shown(config.root)}: the routes are Flask's ({flask.routes[0]}), but no Flask app was "
        "found (a module-level `app = Flask(...)`, or a factory that builds one and can be "
        f"called with no argument); {todo}",
    )


# --- the tasks package's name and place -------------------------------------------------------


def default_tasks_package(app: CeleryApp, config: Config) -> str:
    """`<package>.tasks`, where `<package>` is the top-level package of the Celery app's module
    (`shipping.server.celery` -> `shipping.tasks`). For a top-level Celery module: `app.tasks`
    when the project has an `app` package or no package at all beside the module, else the
    tasks of its one package there; never a second new top-level package beside an existing one
    (`app.tasks`, the SPEC's fallback, when there are several and none is `app`)."""
    top, dot, _ = app.module.partition(".")
    if dot:
        return f"{top}.tasks"
    packages = project_packages(_base_of(app, config.root), config)
    if len(packages) == 1 and DEFAULT_TASKS_PACKAGE.split(".")[0] not in packages:
        return f"{packages[0]}.tasks"
    return DEFAULT_TASKS_PACKAGE


def _base_of(app: CeleryApp, root: Path) -> Path:
    """The folder that holds the Celery app's top-level package or module: root, or root/src."""
    return root / "src" if app.path.startswith("src/") else root


def project_packages(base: Path, config: Config) -> list[str]:
    """The top-level packages in `base` (folders with an `__init__.py`), but excluded ones
    (tests, migrations, virtualenvs), sorted."""
    try:
        folders = sorted(p for p in base.iterdir() if p.is_dir())
    except OSError:
        return []
    return [
        folder.name
        for folder in folders
        if folder.name.isidentifier()
        and (folder / "__init__.py").is_file()
        and not excluded(relpath(folder, config.root) + "/", config)
    ]


def new_module_file(module: str, root: Path, app: CeleryApp | None) -> Path:
    """Where a new module of the tasks package goes: beside its package, and for a package
    whose top level is new too, beside the Celery app's module (root, or src/ in a src layout):
    wherever a worker imports the app from, it imports the tasks from."""
    top = module.split(".")[0]
    if app is None or any((base / top).is_dir() for base in (root, root / "src")):
        return new_module_path(module, root)
    return _base_of(app, root).joinpath(*module.split(".")).with_suffix(".py")


def new_package_inits(path: Path, module: str) -> list[Path]:
    """The `__init__.py` of each folder of a module's packages that does not exist yet (a folder
    without one is a namespace package, which setuptools' `find_packages` does not install)."""
    folder = path.parent
    folders = []
    for _ in module.split(".")[:-1]:
        if folder.exists():
            break
        folders.append(folder)
        folder = folder.parent
    return [f / "__init__.py" for f in reversed(folders)]


# --- routes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Routes:
    """The routes module of the tasks package and the Celery app's use of it."""

    module: str
    path: str  # relative to root
    on_disk: dict[str, str] | None  # task -> queue as the module holds it; None: no module
    hooked: bool  # the Celery app module calls `route_generated_tasks` with the app


def find_routes(config: Config, index: RepoIndex, app: CeleryApp | None, root: Path) -> Routes:
    module = f"{config.tasks_package}.{ROUTES}"
    info = index.module(module)
    path = info.path if info else new_module_file(module, root, app)
    on_disk = routes_table(info) if info else None
    return Routes(module, relpath(path, root), on_disk, _hooked(app, module, index))


def routes_table(info: ModuleInfo) -> dict[str, str]:
    """TASK_ROUTES of a routes module, as task -> queue (what is not a plain route is left out);
    empty when the module lacks `route_generated_tasks`, so that it is written again."""
    if not any(
        isinstance(s, FunctionNode) and s.name == ROUTE_GENERATED_TASKS for s in info.tree.body
    ):
        return {}
    for stmt in info.tree.body:
        target: ast.expr | None = stmt.target if isinstance(stmt, ast.AnnAssign) else None
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target = stmt.targets[0]
        value = getattr(stmt, "value", None)
        if isinstance(target, ast.Name) and target.id == ROUTES_TABLE and value is not None:
            try:
                table = ast.literal_eval(value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                return {}
            if not isinstance(table, dict):
                return {}
            return {
                str(task): route["queue"]
                for task, route in table.items()
                if isinstance(route, dict) and isinstance(route.get("queue"), str)
            }
    return {}


def _hooked(app: CeleryApp | None, module: str, index: RepoIndex) -> bool:
    """Whether the Celery app module calls the routes module's `route_generated_tasks`."""
    info = index.module(app.module) if app else None
    if app is None or info is None:
        return False
    wanted = f"{module}.{ROUTE_GENERATED_TASKS}"
    names = {n for n, b in info.bindings.items() if b.kind == "import" and b.target == wanted}
    return any(
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Call)
        and isinstance(stmt.value.func, ast.Name)
        and stmt.value.func.id in names
        for stmt in info.tree.body
    )


def generated_routes(config: Config, holding: list[ModuleInfo]) -> dict[str, str]:
    """task -> queue of the generated wrappers in these tasks modules that `queues` routes."""
    routes: dict[str, str] = {}
    for info in holding:
        for node in info.tree.body:
            if isinstance(node, FunctionNode) and wraps_implementation(node):
                queue = config.queue_for(info.module, node.name)
                if queue:
                    routes[f"{info.module}.{node.name}"] = queue
    return routes


def routes_drift(routes: Routes, wanted: dict[str, str], app: CeleryApp) -> tuple[str, str] | None:
    """(message, path) when the routes module or the Celery app's use of it does not route the
    generated wrappers as `queues` does (CCM003); None when it does."""
    if routes.on_disk is None:
        if not wanted:
            return None
        return (
            f"the `queues` routes of {len(wanted)} generated task(s) are in no `task_routes`: "
            f"there is no routes module {routes.path}",
            app.path,
        )
    on_disk = routes.on_disk
    for task in sorted(set(on_disk) | set(wanted)):
        was, now = on_disk.get(task), wanted.get(task)
        if was != now:
            return f"routes `{task}` to {_named(was)}, but `queues` routes it to {_named(now)}", (
                routes.path
            )
    if wanted and not routes.hooked:
        return (
            f"the Celery app {app.module}:{app.attr} does not apply the routes of the generated "
            f"tasks ({routes.module}.{ROUTE_GENERATED_TASKS})",
            app.path,
        )
    return None


def _named(queue: str | None) -> str:
    return f"queue `{queue}`" if queue else "the default queue"
