"""Classified sites -> MigrationPlan: task names, tasks modules, collisions, registration,
routes."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path
from typing import Any

from codemod.analysis.naming import task_name as task_name
from codemod.analysis.naming import tasks_module_for as tasks_module_for
from codemod.config import Config, ConfigError
from codemod.drift import injected_providers, runner_drift, scan_wrappers
from codemod.model.files import relpath
from codemod.model.index import ModuleInfo, RepoIndex
from codemod.model.resolve import Resolver
from codemod.model.syntax import FunctionNode
from codemod.models import (
    RUNNER,
    CeleryApp,
    FileAnalysis,
    MigrationPlan,
    Signature,
    Site,
    Status,
    TasksModulePlan,
    Wrapper,
)
from codemod.target import (
    AppSearch,
    FlaskSearch,
    Registration,
    find_routes,
    generated_routes,
    new_module_file,
    new_package_inits,
    registration,
    routes_drift,
    search_celery_app,
)
from codemod.target import find_celery_app as find_celery_app  # importable from here as before

# --- wrappers ---------------------------------------------------------------------------------


def existing_wrapper(
    info: ModuleInfo, implementation: str, providers: dict[str, str] | None = None
) -> str | None:
    """A task in the module that already runs this implementation (imported in its body), with
    the same re-created dependencies."""
    impl_module, _, impl_name = implementation.rpartition(".")
    for stmt in info.tree.body:
        if not isinstance(stmt, FunctionNode):
            continue
        if injected_providers(stmt) != (providers or {}):
            continue
        for node in ast.walk(stmt):
            if (
                isinstance(node, ast.ImportFrom)
                and node.level == 0
                and node.module == impl_module
                and any(a.name == impl_name for a in node.names)
            ):
                return stmt.name
    return None


class _Namer:
    """One wrapper per implementation: sites that start the same job share it, whichever module
    they are in. It goes where the first site (in path order) would put it, unless the tasks
    package already has a task for that implementation: then that task is reused."""

    def __init__(self, index: RepoIndex, holding: list[ModuleInfo]) -> None:
        self.index = index
        self.holding = holding
        self.taken: dict[str, set[str]] = {}
        self.by_impl: dict[str, Wrapper] = {}

    def _existing(
        self, tasks_module: str, implementation: str, signature: Signature
    ) -> tuple[str, str] | None:
        info = self.index.module(tasks_module)
        others = [i for i in self.holding if i.module != tasks_module]
        providers = {p.name: p.provider for p in signature.params if p.provider}
        for candidate in ([info] if info else []) + others:
            name = existing_wrapper(candidate, implementation, providers)
            if name is not None:
                return candidate.module, name
        return None

    def wrapper(self, site: Site, tasks_module: str) -> Wrapper:
        assert site.signature is not None and site.implementation is not None
        # a job whose dependency the worker re-creates is another task than the same job sent
        # every argument: one wrapper per implementation and set of re-created dependencies
        key = site.implementation + "".join(
            f" {p.name}={p.provider}" for p in site.signature.params if p.provider
        )
        # and a job whose parameter is sent as an enum's value or a model's JSON form (what the
        # call site shows, where the parameter has no annotation) is another task again
        key += "".join(
            f" {p.name}:{p.model or p.enum}" for p in site.signature.params if p.model or p.enum
        )
        if key in self.by_impl:
            return self.by_impl[key]
        info = self.index.module(tasks_module)
        existing = self._existing(tasks_module, site.implementation, site.signature)
        if existing is not None:
            wrapper = Wrapper(existing[1], existing[0], site.signature, existing=True)
        else:
            taken = self.taken.setdefault(tasks_module, set(info.bindings) if info else set())
            base = task_name(site.signature.name)
            other = base.removesuffix("_task") + "_celery_task"
            numbered = (f"{other}_{n}" for n in itertools.count(2))
            candidates = itertools.chain((base, other), numbered)
            name = next(c for c in candidates if c not in taken)
            taken.add(name)
            wrapper = Wrapper(name, tasks_module, site.signature)
        self.by_impl[key] = wrapper
        return wrapper


def build_plan(
    analyses: list[FileAnalysis],
    config: Config,
    index: RepoIndex,
    resolver: Resolver,
    files: list[Path] | None = None,
    startup_code: tuple[str, ...] = (),
    search: AppSearch | None = None,
    flask: FlaskSearch | None = None,
) -> MigrationPlan:
    """`files`: every Python file under the root, when the caller has walked it already;
    `startup_code`: the app's start-up (for the report); `search`: the Celery app, when the
    caller has looked for it already; `flask`: the Flask app of a Flask project."""
    sites = tuple(site for analysis in analyses for site in analysis.sites)
    noqa = tuple((a.path, line, codes) for a in analyses for line, codes in a.noqa)
    errors = tuple(a.error for a in analyses if a.error is not None)
    root = config.root
    todo = [s for s in sites if s.status is Status.MIGRATED]
    drifts, holding = scan_wrappers(config, index, resolver)
    search = search or search_celery_app(config, index, files)
    app = search.app
    if app is None and (todo or any(d.signature for d in drifts)):
        raise ConfigError(search.error)
    if flask is not None and flask.error and (todo or any(d.signature for d in drifts)):
        raise ConfigError(flask.error)
    reg = registration(app, config, index) if app else Registration("include", frozenset())
    unregistered = tuple(
        (info.module, relpath(info.path, root))
        for info in holding
        if app is not None and info.module not in reg.registered
    )
    runner = f"{config.tasks_package}.{RUNNER}"
    runner_info = index.module(runner)
    runner_path = relpath(
        Path(runner_info.path if runner_info else new_module_file(runner, root, app)), root
    )
    site_tasks: tuple[tuple[Site, Wrapper], ...] = ()
    plans: list[TasksModulePlan] = []
    if todo:
        assert app is not None
        site_tasks, plans = _tasks_modules(todo, config, index, holding, reg, app)
    new_packages = sorted(
        {
            relpath(init, root)
            for tm in plans
            if tm.created
            for init in new_package_inits(root / tm.path, tm.module)
        }
    )
    return MigrationPlan(
        str(root),
        app,
        sites,
        tuple(plans),
        site_tasks,
        errors,
        runner_module=runner,
        runner_path=runner_path,
        registration_style=reg.style,
        drifts=tuple(drifts),
        unregistered=unregistered,
        runner_drift=runner_drift(config, index),
        startup_code=startup_code,
        noqa=noqa,
        new_packages=tuple(new_packages),
        **_routes(config, index, app, holding, plans),
    )


def _tasks_modules(
    todo: list[Site],
    config: Config,
    index: RepoIndex,
    holding: list[ModuleInfo],
    reg: Registration,
    app: CeleryApp,
) -> tuple[tuple[tuple[Site, Wrapper], ...], list[TasksModulePlan]]:
    """Each migratable site with the wrapper it queues, and the tasks modules that gain one."""
    root = config.root
    namer = _Namer(index, holding)
    site_tasks = tuple((site, namer.wrapper(site, tasks_module_for(site, config))) for site in todo)
    modules: dict[str, list[Wrapper]] = {}
    sources: dict[str, list[str]] = {}
    for site, wrapper in site_tasks:
        listed = modules.setdefault(wrapper.tasks_module, [])
        if wrapper not in listed:
            listed.append(wrapper)
        if site.module not in sources.setdefault(wrapper.tasks_module, []):
            sources[wrapper.tasks_module].append(site.module)
    plans = []
    for module in sorted(modules):
        info = index.module(module)
        path = info.path if info else new_module_file(module, root, app)
        registered = module in reg.registered
        plans.append(
            TasksModulePlan(
                module=module,
                path=relpath(path, root),
                created=info is None,
                registered=True,
                needs_registration=not registered,
                wrappers=tuple(modules[module]),
                sources=tuple(sources[module]),
            )
        )
    return site_tasks, plans


def _routes(
    config: Config,
    index: RepoIndex,
    app: CeleryApp | None,
    holding: list[ModuleInfo],
    plans: list[TasksModulePlan],
) -> dict[str, Any]:
    """The plan's routes fields: what the routes module is to hold (every generated wrapper's
    route by `queues`, on disk and planned), and how the files on disk differ from it."""
    found = find_routes(config, index, app, config.root)
    # tasks modules that `task-modules` names in full may lie outside the tasks package
    elsewhere = [index.module(m) for m in config.task_modules.values() if "." in m]
    known = {info.module for info in holding}
    on_disk = generated_routes(
        config, [*holding, *(i for i in elsewhere if i is not None and i.module not in known)]
    )
    planned = {
        w.dotted: queue
        for tm in plans
        for w in tm.wrappers
        if (queue := config.queue_for(w.tasks_module, w.name))
    }
    wanted = dict(sorted({**on_disk, **planned}.items()))
    stale = bool(wanted or found.on_disk is not None) and found.on_disk != wanted
    return {
        "routes": tuple(wanted.items()),
        "routes_module": found.module,
        "routes_path": found.path,
        "routes_stale": stale,
        "routes_hooked": found.hooked,
        "routes_drift": routes_drift(found, on_disk, app) if app else None,
    }
