"""Use the plan: render every file it changes, validate each, and write them in a safe order."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from functools import partial
from pathlib import Path

from codemod.config import Config
from codemod.emit.edits import SiteEdit
from codemod.emit.generate import (
    GENERATED_BY,
    format_code,
    new_tasks_module,
    update_tasks_module,
    wrapper_code,
)
from codemod.emit.register import register_in_app, register_in_init
from codemod.emit.renders import _REREAD, _EndpointJob, _render_endpoint, _rendered, _run_all
from codemod.emit.routes import hook_routes, routes_source
from codemod.emit.runner import runner_source
from codemod.model.files import module_name
from codemod.model.index import RepoIndex
from codemod.model.source import SourceFile, atomic_write
from codemod.models import (
    FIELDS_SET_OF,
    FLASK_TASK,
    GUARDED_DELAY,
    PUBLISH_OR_RUN,
    RUN_WITH_DEPENDENCIES,
    WITH_FIELDS_SET,
    Drift,
    FileError,
    MigrationPlan,
    Outcome,
    Status,
    TasksModulePlan,
)

Changes = dict[str, tuple[bytes | None, bytes]]


class _Renderer:
    def __init__(
        self,
        plan: MigrationPlan,
        config: Config,
        index: RepoIndex,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.plan = plan
        self.config = config
        self.index = index
        self.progress = progress  # called with 1 for each tasks or endpoint module rendered
        self.root = config.root
        self.changes: Changes = {}
        self.errors: list[FileError] = []
        self.registrations: set[str] = set()  # the files that register tasks modules

    def _guard(self, rel: str, make: Callable[[], str | None], old: bytes | None) -> bool:
        """Render one file; a failure becomes a recorded error, never an exception."""
        return self._record(rel, _rendered(rel, make), old)

    def _record(self, rel: str, rendered: tuple[str | None, str | None], old: bytes | None) -> bool:
        """Record a rendered file: (text or None for no change, problem or None)."""
        text, problem = rendered
        if problem:
            self.errors.append(FileError(rel, problem))
            return False
        if text is None:
            return True
        source = SourceFile.from_bytes(old) if old is not None else SourceFile(text, "utf-8", False)
        new = source.encode(text)
        if new != old:
            self.changes[rel] = (old, new)
        return True

    def _read(self, rel: str) -> tuple[bytes | None, SourceFile | None]:
        path = self.root / rel
        if not path.exists():
            return None, None
        data = path.read_bytes()
        return data, SourceFile.from_bytes(data)

    def support(self) -> set[str]:
        """Tasks modules, runner, new packages, routes, registration; returns the tasks modules
        that failed."""
        plan, config = self.plan, self.config
        failed: set[str] = set()
        app = plan.celery_app
        if app is None:
            return failed
        drifts: dict[str, list[Drift]] = {}
        for drift in plan.drifts:
            if drift.signature is not None:
                drifts.setdefault(drift.module, []).append(drift)
        modules = {tm.module: tm for tm in plan.tasks_modules}
        jobs: list[tuple[str, str, bytes | None, Callable[[], tuple[str | None, str | None]]]] = []
        for module in sorted(set(modules) | set(drifts)):
            tm = modules.get(module) or _maintenance_plan(module, drifts[module][0].path)
            if not any(not w.existing for w in tm.wrappers) and module not in drifts:
                continue
            old, source = self._read(tm.path)
            info = self.index.module(tm.module)
            make: Callable[[], str | None]
            if source is None or info is None:
                make = partial(new_tasks_module, tm, app, config)
            else:
                make = partial(
                    update_tasks_module, source.text, info, tm, drifts.get(module, []), app, config
                )
            jobs.append((tm.module, tm.path, old, partial(_rendered, tm.path, make)))
        renders = _run_all([job[3] for job in jobs], config, self.progress)
        for (module, path, old, _), rendered in zip(jobs, renders, strict=True):
            if not self._record(path, rendered, old):
                failed.add(module)
        used = _runner_functions(plan, config, failed)
        needs_runner = bool(used) or any(
            d.signature is not None
            for d in plan.drifts
            if config.worker_startup or config.flask_app
        )
        old, _ = self._read(plan.runner_path)
        # A runner written by an earlier version lacks what the new code imports from it.
        stale = (
            old is not None
            and GENERATED_BY.encode() in old
            and any(_defines(name).encode() not in old for name in used)
        )
        if (needs_runner and old is None) or (old is not None and plan.runner_drift) or stale:
            # Tasks modules generated with `worker-startup` import `run_sync`: it stays.
            keep = old is not None and b"def run_sync(" in old
            runner = partial(format_code, runner_source(config, keep), config.line_length)
            if not self._guard(plan.runner_path, runner, old):
                failed |= {tm.module for tm in plan.tasks_modules}
        planned = [tm.module for tm in plan.tasks_modules if tm.needs_registration]
        holding = [module for module, _ in plan.unregistered]
        to_register = [m for m in dict.fromkeys(planned + holding) if m not in failed]
        self._packages()
        hook = self._routes() and bool(plan.routes) and not plan.routes_hooked
        if (to_register or hook) and not self._register(to_register, hook):
            failed |= set(to_register)
        return failed

    def _packages(self) -> None:
        """The `__init__.py` of each new folder of the tasks package."""
        for rel in self.plan.new_packages:
            package = module_name(rel)
            text = (
                f'"""Celery tasks for background jobs ({GENERATED_BY})."""\n'
                if package == self.config.tasks_package
                else f'"""Holds the Celery tasks package {self.config.tasks_package} '
                f'(created by celery-codemod)."""\n'
            )
            self._guard(rel, partial(str, text), None)

    def _routes(self) -> bool:
        """The routes module, written where it does not hold the routes `queues` gives the
        generated tasks; whether it is as the plan wants it."""
        plan = self.plan
        if not plan.routes_stale:
            return True
        old, _ = self._read(plan.routes_path)
        make = partial(routes_source, plan.routes, self.config.line_length)
        return self._guard(plan.routes_path, make, old)

    def _register(self, modules: list[str], hook: bool) -> bool:
        """Register tasks modules with the Celery app (in its module or in the tasks package's
        `__init__`), and make the app module apply the routes module (`hook`)."""
        plan = self.plan
        app = plan.celery_app
        assert app is not None
        in_app = [] if plan.registration_style == "init" else modules
        done = True
        if modules and not in_app:
            info = self.index.module(self.config.tasks_package)
            assert info is not None
            rel = _rel(info.path, self.root)
            old, source = self._read(rel)
            assert source is not None
            make = partial(register_in_init, source.text, info, self.config.tasks_package, modules)
            self.registrations.add(rel)
            done = self._guard(rel, make, old)
        if not in_app and not hook:
            return done
        old, source = self._read(app.path)
        if source is None:
            self.errors.append(FileError(app.path, "cannot read the Celery app module"))
            return False

        def edit() -> str:
            text: str | None = source.text
            if in_app:
                text = register_in_app(
                    source.text, app, plan.registration_style, in_app, self.config.line_length
                )
                if text is None:
                    raise ValueError(f"found no place to register {', '.join(in_app)}")
            assert text is not None
            return hook_routes(text, app, plan.routes_module) if hook else text

        self.registrations.add(app.path)
        return self._guard(app.path, edit, old) and done

    def endpoints(self, failed: set[str]) -> set[tuple[str, int]]:
        """Rewrite the call sites whose wrapper was written; returns the sites left undone."""
        by_path: dict[str, list[SiteEdit]] = {}
        undone: set[tuple[str, int]] = set()
        for site, wrapper in self.plan.site_tasks:
            if wrapper.tasks_module in failed:
                undone.add((site.path, site.line))
                continue
            by_path.setdefault(site.path, []).append(SiteEdit(site, wrapper))
        first_party = self.config.tasks_package.split(".")[0]
        jobs: list[_EndpointJob] = []
        olds: list[bytes | None] = []
        for rel, edits in sorted(by_path.items()):
            old, source = self._read(rel)
            if source is None:
                self.errors.append(FileError(rel, _REREAD))
                undone |= {(e.site.path, e.site.line) for e in edits}
                continue
            # Parsed again in the worker, not here: the parent would hold every module's tree.
            jobs.append(_EndpointJob(rel, source.text, edits, first_party, self.config))
            olds.append(old)
        renders = _run_all(
            [partial(_render_endpoint, job) for job in jobs], self.config, self.progress
        )
        for job, old, rendered in zip(jobs, olds, renders, strict=True):
            if not self._record(job.rel, rendered, old):
                undone |= {(e.site.path, e.site.line) for e in job.edits}
        return undone


def render_count(plan: MigrationPlan) -> int:
    """How many modules `apply` renders in worker-sized pieces: the tasks modules that gain or
    regenerate a wrapper, and the endpoint modules with a site to migrate (for a progress bar)."""
    drifted = {d.module for d in plan.drifts if d.signature is not None}
    tasks = {tm.module for tm in plan.tasks_modules if any(not w.existing for w in tm.wrappers)}
    return len(tasks | drifted) + len({site.path for site, _ in plan.site_tasks})


def _runner_functions(plan: MigrationPlan, config: Config, failed: set[str]) -> set[str]:
    """The runner module's functions that the code this run writes imports."""
    used: set[str] = set()
    for site, _ in plan.site_tasks:
        if site.after_response:
            used.add(PUBLISH_OR_RUN)
        if site.guarded:
            used.add(GUARDED_DELAY)
        if site.fields_set_args:
            used.add(FIELDS_SET_OF)
    for tm in plan.tasks_modules:
        if tm.module in failed:
            continue
        for w in tm.wrappers:
            if w.existing:
                continue
            if any(p.fields_set for p in w.signature.params):
                used.add(WITH_FIELDS_SET)
            if any(p.provider for p in w.signature.params):
                used.add(RUN_WITH_DEPENDENCIES)
            elif w.signature.is_async:
                used.add("run_coroutine")
            elif config.worker_startup:
                used.add("run_sync")
            if config.flask_app:
                used.add(FLASK_TASK)
    return used


def _defines(name: str) -> str:
    """How the runner module spells the definition of one of its names."""
    return f"class {name}(" if name == FLASK_TASK else f"def {name}("


def _maintenance_plan(module: str, path: str) -> TasksModulePlan:
    """A tasks module that gains no wrapper, only regenerated ones."""
    return TasksModulePlan(module, path, False, True, False, (), ())


def _rel(path: Path, root: Path) -> str:
    return path.resolve().relative_to(root).as_posix()


def render(plan: MigrationPlan, config: Config, index: RepoIndex) -> Outcome:
    """Every change the plan makes, without writing anything (for --check, --diff and check)."""
    renderer = _Renderer(plan, config, index)
    failed = renderer.support()
    undone = renderer.endpoints(failed)
    return Outcome(
        renderer.changes, list(plan.errors) + renderer.errors, undone, _wrapper_codes(plan, config)
    )


def _write(path: Path, data: bytes) -> None:
    """atomic_write, behind a test-only hook that tests/test_crash.py uses to kill a run between
    two writes: CELERY_CODEMOD_TEST_WRITE_LOG=FILE appends each path to FILE before writing it,
    and CELERY_CODEMOD_TEST_KILL_AT_WRITE=K SIGKILLs this process just before its K-th write."""
    log = os.environ.get("CELERY_CODEMOD_TEST_WRITE_LOG")
    kill_at = os.environ.get("CELERY_CODEMOD_TEST_KILL_AT_WRITE")
    if log or kill_at:
        _writes.append(path)
        if log:
            with open(log, "a", encoding="utf-8") as handle:
                handle.write(f"{path}\n")
        if kill_at and len(_writes) == int(kill_at):
            os.kill(os.getpid(), signal.SIGKILL)
    atomic_write(path, data)


_writes: list[Path] = []


def apply(
    plan: MigrationPlan,
    config: Config,
    index: RepoIndex,
    progress: Callable[[int], None] | None = None,
) -> Outcome:
    """Write wrappers and registrations first; rewrite only the sites whose wrapper was written.

    The order makes every prefix of the writes a working tree (a run killed between two writes
    leaves nothing that imports a missing module): the runner, the tasks modules, the registration
    that makes the worker import them, then the call sites that queue them. `progress` is called
    with 1 for each module rendered (render_count(plan) in all)."""
    renderer = _Renderer(plan, config, index, progress)
    failed = renderer.support()
    written: dict[str, tuple[bytes | None, bytes]] = {}

    def order(item: tuple[str, tuple[bytes | None, bytes]]) -> tuple[bool, bool, str]:
        rel = item[0]
        return rel in renderer.registrations, rel != plan.runner_path, rel

    write_failed = False
    for rel, change in sorted(renderer.changes.items(), key=order):
        if write_failed and rel in renderer.registrations:
            # a tasks module may be missing: registering it would break the worker's start
            renderer.errors.append(FileError(rel, "not registered: a tasks module was not written"))
            continue
        try:
            _write(config.root / rel, change[1])
            written[rel] = change
        except OSError as exc:
            renderer.errors.append(FileError(rel, f"cannot write: {exc.strerror or exc}"))
            failed |= {tm.module for tm in plan.tasks_modules}
            write_failed = True
    renderer.changes = {}
    undone = renderer.endpoints(failed)
    for rel, change in sorted(renderer.changes.items()):
        try:
            _write(config.root / rel, change[1])
            written[rel] = change
        except OSError as exc:
            renderer.errors.append(FileError(rel, f"cannot write: {exc.strerror or exc}"))
            undone |= {(s.path, s.line) for s, _ in plan.site_tasks if s.path == rel}
    return Outcome(
        written, list(plan.errors) + renderer.errors, undone, _wrapper_codes(plan, config)
    )


def _wrapper_codes(plan: MigrationPlan, config: Config) -> dict[str, str]:
    """The code of each wrapper the plan queues, for the report (nothing when none is asked for)."""
    if not config.report or plan.celery_app is None:
        return {}
    app = plan.celery_app.attr
    return {w.dotted: wrapper_code(w, config, app) for _, w in plan.site_tasks}


def migrated_count(plan: MigrationPlan, outcome: Outcome) -> int:
    return sum(
        1
        for s in plan.sites
        if s.status is Status.MIGRATED and (s.path, s.line) not in outcome.failed_sites
    )
