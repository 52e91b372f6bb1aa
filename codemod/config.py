"""[tool.celery-codemod] in the target's pyproject.toml, merged with command-line overrides."""

from __future__ import annotations

import fnmatch
import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

DEFAULT_ENDPOINT_GLOBS = (
    "**/api/**/*.py",
    "**/endpoints/**/*.py",
    "**/routers/**/*.py",
    "**/routes/**/*.py",
    "**/views/**/*.py",
    "**/services/**/*.py",
    "**/views.py",
    "**/*_views.py",
    "**/routes.py",
    "**/*_routes.py",
    "**/routers.py",
    "**/api.py",
    "**/*_api.py",
    "**/endpoints.py",
    "**/*_endpoints.py",
    "**/service.py",
    "**/services.py",
    "**/*_service.py",
    "**/*_services.py",
)
DEFAULT_EXCLUDE = (
    "**/tests/**",
    "**/test/**",
    "**/*_test.py",
    "**/conftest.py",
    "**/migrations/**",
    "**/alembic/**",
    "**/.venv/**",
    "**/venv/**",
    "**/.tox/**",
    "**/.nox/**",
    "**/site-packages/**",
    "**/node_modules/**",
    "**/.git/**",
    "**/__pycache__/**",
    "**/.celery-codemod-cache/**",
)

DEFAULT_TASKS_PACKAGE = "app.tasks"  # when the Celery app is not known (none found)
DEFAULT_QUEUE = "celery"  # Celery's `task_default_queue`
POOLS = ("prefork", "threads", "solo")  # the pools that can run the wrappers' event loops
HARD_LIMIT_GRACE = 60  # seconds from a job's soft time limit to its hard one


class ConfigError(Exception):
    """A bad option or a bad pyproject.toml: exit code 2."""


@dataclass(frozen=True)
class Config:
    root: Path
    paths: tuple[Path, ...]
    endpoint_globs: tuple[str, ...] = DEFAULT_ENDPOINT_GLOBS
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    # `tasks-package` as set, or as resolved from the Celery app's package before the analysis
    # (cli; target.default_tasks_package); None: neither yet, read as DEFAULT_TASKS_PACKAGE
    tasks_package_setting: str | None = None
    celery_app: str | None = None
    task_modules: dict[str, str] = field(default_factory=dict)
    max_retries: int = 3
    retry_backoff: int = 60
    fallback: bool = True
    retry_on: tuple[str, ...] = ("Exception",)
    allow_unverified_args: bool = False  # the alias of `unverified_args = "allow"`
    unverified_args: str = "guard"  # "guard" | "skip" | "allow"
    jobs: int = 0
    report: str | None = None
    line_length: int = 88
    route_discovery: bool = True
    worker_startup: tuple[str, ...] = ()
    shared_filesystem: bool = False
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    per_file_ignores: dict[str, tuple[str, ...]] = field(default_factory=dict)
    queues: dict[str, str] = field(default_factory=dict)  # tasks module or task glob -> queue
    delivery: str = "at-least-once"  # or "at-most-once": Celery's early acknowledgement
    # FastAPI dependency provider -> the provider a worker calls instead ("module:function")
    dependencies: dict[str, str] = field(default_factory=dict)
    cache_dir: str | None = None  # `cache-dir`, relative to the root
    cache_dir_given: Path | None = None  # `--cache-dir`, relative to the working directory
    no_cache: bool = False
    # tasks module or task glob (as in `queues`) -> soft time limit in seconds
    time_limits: dict[str, int] = field(default_factory=dict)
    pools: dict[str, str] = field(default_factory=dict)  # queue -> prefork, threads or solo
    # The Flask app the jobs run in: "module:attr" (the app) or "module:factory" (called with no
    # argument), as set, or as found before the analysis (cli; target.find_flask_app)
    flask_app: str | None = None

    @property
    def tasks_package(self) -> str:
        """The package that holds the wrappers."""
        return self.tasks_package_setting or DEFAULT_TASKS_PACKAGE

    def queue_for(self, tasks_module: str, task: str) -> str | None:
        """The queue of a task by the `queues` table: the first glob that matches the task's
        name, its dotted name, its tasks module's last name or dotted name."""
        return _first_match(self.queues, tasks_module, task)

    def time_limits_for(self, tasks_module: str, task: str) -> tuple[int, int] | None:
        """A task's (soft, hard) time limits by the `time-limits` table (matched as `queues`
        is): the job gets SoftTimeLimitExceeded, then a minute to clean up."""
        soft = _first_match(self.time_limits, tasks_module, task)
        return (soft, soft + HARD_LIMIT_GRACE) if soft else None

    def pool_for(self, queue: str | None) -> str:
        """The pool that serves a queue (None: Celery's default queue) by the `pools` table."""
        return self.pools.get(queue or DEFAULT_QUEUE, "prefork")

    @property
    def unverified_mode(self) -> str:
        """`unverified-args`, with `allow-unverified-args = true` read as "allow"."""
        return "allow" if self.allow_unverified_args else self.unverified_args

    @property
    def acks_late(self) -> bool:
        """At-least-once delivery: the message is acknowledged after the job, and a worker lost
        during it puts it back."""
        return self.delivery == "at-least-once"

    @property
    def workers(self) -> int:
        return self.jobs if self.jobs > 0 else (os.cpu_count() or 1)


T = TypeVar("T")


def _first_match(table: dict[str, T], tasks_module: str, task: str) -> T | None:
    """The value of the first glob of `table` that matches the task's name, its dotted name,
    its tasks module's last name or dotted name."""
    names = (task, f"{tasks_module}.{task}", tasks_module.rpartition(".")[2], tasks_module)
    for glob, value in table.items():
        if any(fnmatch.fnmatchcase(name, glob) for name in names):
            return value
    return None


# key -> (Config field, expected type)
_KEYS: dict[str, tuple[str, type]] = {
    "endpoint-globs": ("endpoint_globs", list),
    "exclude": ("exclude", list),
    "tasks-package": ("tasks_package_setting", str),
    "celery-app": ("celery_app", str),
    "task-modules": ("task_modules", dict),
    "max-retries": ("max_retries", int),
    "retry-backoff": ("retry_backoff", int),
    "fallback": ("fallback", bool),
    "retry-on": ("retry_on", list),
    "allow-unverified-args": ("allow_unverified_args", bool),
    "unverified-args": ("unverified_args", str),
    "jobs": ("jobs", int),
    "report": ("report", str),
    "route-discovery": ("route_discovery", bool),
    "worker-startup": ("worker_startup", list),
    "shared-filesystem": ("shared_filesystem", bool),
    "select": ("select", list),
    "ignore": ("ignore", list),
    "per-file-ignores": ("per_file_ignores", dict),
    "queues": ("queues", dict),
    "delivery": ("delivery", str),
    "dependencies": ("dependencies", dict),
    "cache-dir": ("cache_dir", str),
    "time-limits": ("time_limits", dict),
    "pools": ("pools", dict),
    "flask-app": ("flask_app", str),
}
DELIVERY_MODES = ("at-least-once", "at-most-once")
UNVERIFIED_MODES = ("guard", "skip", "allow")


def find_root(paths: tuple[Path, ...], root: Path | None) -> Path:
    if root is not None:
        if not root.is_dir():
            raise ConfigError(f"{root}: --root is not a directory")
        return root.resolve()
    first = (paths[0] if paths else Path(".")).resolve()
    start = first if first.is_dir() else first.parent
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    return start


def read_pyproject(root: Path) -> tuple[dict[str, Any], int]:
    """The [tool.celery-codemod] table and black's line length."""
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return {}, 88
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise ConfigError(f"{pyproject}: not valid TOML: {exc}") from exc
    tool = data.get("tool", {})
    table = tool.get("celery-codemod", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{pyproject}: [tool.celery-codemod] must be a table")
    line_length = tool.get("black", {}).get("line-length", 88)
    if not isinstance(line_length, int) or isinstance(line_length, bool):
        raise ConfigError(f"{pyproject}: [tool.black] line-length must be an integer")
    return table, line_length


def _check_value(key: str, value: Any, expected: type) -> Any:
    ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
    if expected is list and ok:
        ok = all(isinstance(item, str) for item in value)
        value = tuple(value)
    if expected is dict and ok and key == "per-file-ignores":
        ok = all(isinstance(v, list) and all(isinstance(c, str) for c in v) for v in value.values())
        value = {glob: tuple(codes) for glob, codes in value.items()}
    elif expected is dict and ok and key == "time-limits":
        for glob, seconds in value.items():
            if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 1:
                raise ConfigError(
                    f"pyproject.toml: [tool.celery-codemod] time-limits: {glob!r} = {seconds!r} "
                    "must be a whole number of seconds, at least 1"
                )
    elif expected is dict and ok:
        ok = all(isinstance(v, str) for v in value.values())
    if not ok:
        raise ConfigError(
            f"pyproject.toml: [tool.celery-codemod] {key} must be a {expected.__name__}"
        )
    if expected is int and value < 0:
        raise ConfigError(f"pyproject.toml: [tool.celery-codemod] {key} must not be negative")
    return value


def load_config(paths: tuple[Path, ...], root: Path | None, overrides: dict[str, Any]) -> Config:
    """Build the Config: defaults, then pyproject.toml, then the command line (None = not given)."""
    found_root = find_root(paths, root)
    table, line_length = read_pyproject(found_root)
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _KEYS:
            raise ConfigError(f"pyproject.toml: unknown key [tool.celery-codemod] {key}")
        name, expected = _KEYS[key]
        values[name] = _check_value(key, value, expected)
    for name, value in overrides.items():
        if value is not None and value != ():
            values[name] = value
    config = Config(root=found_root, paths=paths or (Path("."),), line_length=line_length)
    if values.get("allow_unverified_args") and "unverified_args" not in values:
        values["unverified_args"] = "allow"  # the older spelling, kept as an alias
    if "unverified_args" in values:  # one mode: the alias must not outvote what was chosen
        values["allow_unverified_args"] = values["unverified_args"] == "allow"
    config = replace(config, **values)
    _validate(config)
    return config


def is_callable_spec(spec: str) -> bool:
    """`package.module:function`."""
    module, _, name = spec.partition(":")
    return all(part.isidentifier() for part in module.split(".")) and name.isidentifier()


def _validate(config: Config) -> None:
    if not all(part.isidentifier() for part in config.tasks_package.split(".")):
        raise ConfigError(f"--tasks-package {config.tasks_package!r} is not a dotted module name")
    if config.celery_app is not None and ":" not in config.celery_app:
        raise ConfigError(f"--celery-app {config.celery_app!r} must be MODULE:ATTR")
    from codemod.models import unknown_selectors

    listed = [
        *config.select,
        *config.ignore,
        *(c for v in config.per_file_ignores.values() for c in v),
    ]
    bad = unknown_selectors(listed)
    if bad:
        raise ConfigError(
            f"unknown rule selector {bad[0]!r}: give a code (CCM002) or a prefix of codes (CCM00)"
        )
    if config.unverified_args not in UNVERIFIED_MODES:
        modes = ", ".join(repr(m) for m in UNVERIFIED_MODES)
        raise ConfigError(f"unverified-args must be one of {modes}, not {config.unverified_args!r}")
    if config.delivery not in DELIVERY_MODES:
        modes = " or ".join(repr(m) for m in DELIVERY_MODES)
        raise ConfigError(f"delivery must be {modes}, not {config.delivery!r}")
    for name, queue in config.queues.items():
        if not queue.strip() or not name.strip():
            raise ConfigError(f"queues: {name!r} = {queue!r} needs a glob and a queue name")
    for glob in config.time_limits:
        if not glob.strip():
            raise ConfigError("time-limits: an empty glob limits nothing")
    for queue, pool in config.pools.items():
        if not queue.strip():
            raise ConfigError(f"pools: {queue!r} = {pool!r} needs a queue name")
        if pool not in POOLS:
            names = ", ".join(repr(p) for p in POOLS)
            raise ConfigError(f"pools: {queue!r} = {pool!r}: the pool must be one of {names}")
    for spec in config.worker_startup:
        if not is_callable_spec(spec):
            raise ConfigError(f"worker-startup: {spec!r} must be MODULE:CALLABLE")
    if config.flask_app is not None and not is_callable_spec(config.flask_app):
        raise ConfigError(
            f"flask-app: {config.flask_app!r} must be MODULE:ATTR (the Flask app) or "
            "MODULE:FACTORY (a function that returns it)"
        )
    for provider, replacement in config.dependencies.items():
        if not (is_callable_spec(provider) and is_callable_spec(replacement)):
            raise ConfigError(
                f"dependencies: {provider!r} = {replacement!r} must map MODULE:FUNCTION to "
                "MODULE:FUNCTION"
            )
    for path in config.paths:
        if not path.exists():
            raise ConfigError(f"{path}: no such file or directory")
