"""Analyse endpoint modules: each module's site facts (from its summary), classified against the
rest of the program."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from codemod.analysis.classify import classify, classify_queued
from codemod.analysis.context import Context
from codemod.analysis.executors import is_executor
from codemod.analysis.needs_startup import Lookups
from codemod.analysis.reach import Reach, find_reach
from codemod.config import Config
from codemod.model.cache import Cache
from codemod.model.detect import may_have_sites
from codemod.model.files import inventory, module_name, relpath
from codemod.model.noqa import noqa_codes
from codemod.model.program import Program
from codemod.model.resolve import Resolver
from codemod.model.sources import Sources
from codemod.model.summary import Sites, loads
from codemod.models import RUNNER, FileAnalysis, FileError, Site, Status

# Analysing and rewriting take about 50 s a megabyte (a 10 MB module: ten minutes and gigabytes
# of memory, in LibCST), and no hand-written endpoint module comes near this size: a bigger file
# with a call site in it is a per-file error (exit 123), every other file is still migrated.
MAX_FILE_BYTES = 2_000_000


@dataclass
class Project:
    """The program model of a whole project, which every site of a run is classified against:
    its files, their summaries and the resolver over them, and where the sites are started
    from (route handlers, the app's start-up, the state it sets)."""

    program: Program
    resolver: Resolver
    sources: Sources
    reach: Reach

    @classmethod
    def of(cls, config: Config, cache: Cache | None = None) -> Project:
        """The project under `config.root`, whatever PATHs the run was given."""
        every = inventory(config, [config.root])
        program = Program(config.root, cache, config.workers)
        resolver = Resolver(program)
        sources = Sources(every)
        reach = find_reach(sources, resolver, config.worker_startup, config.flask_app)
        return cls(program, resolver, sources, reach)

    def analyse(
        self, paths: list[Path], config: Config, progress: Callable[[int], None] | None = None
    ) -> list[FileAnalysis]:
        return analyse_all(paths, config, self.resolver, self.sources, self.reach, progress)

    def close(self) -> None:
        self.program.close()


def analyse_file(path: Path, config: Config, project: Project | None = None) -> FileAnalysis:
    """One module's sites, classified against the project under `config.root`."""
    project = project or Project.of(config)
    return project.analyse([path], config)[0]


def analyse_all(
    paths: list[Path],
    config: Config,
    resolver: Resolver,
    sources: Sources,
    reach: Reach,
    progress: Callable[[int], None] | None = None,
) -> list[FileAnalysis]:
    """The analyses of `paths` (endpoint modules), in their order. The bytes prefilter runs
    first, so that only the files that may hold a site are summarised (many at a time)."""
    results: dict[Path, FileAnalysis] = {}
    todo: list[tuple[Path, str, bytes]] = []
    for path in paths:
        rel = relpath(path, config.root)
        module = module_name(rel)
        data = sources.data(rel) if rel in sources else _read(path)
        error = sources.error(rel) if rel in sources else None
        if error is not None:
            results[path] = FileAnalysis(rel, module, error=FileError(rel, error))
        elif not may_have_sites(data) or module == f"{config.tasks_package}.{RUNNER}":
            # the generated runner's own threads and loops are no call sites
            results[path] = FileAnalysis(rel, module, noqa=noqa_codes(data))
        elif len(data) > MAX_FILE_BYTES:
            size = f"{len(data) / 1e6:.1f} MB; the limit is {MAX_FILE_BYTES / 1e6:.0f} MB"
            error = f"too large to migrate ({size})"
            results[path] = FileAnalysis(rel, module, error=FileError(rel, error))
        else:
            todo.append((path, rel, data))
    if progress and results:
        progress(len(results))
    program = resolver.program
    program.prefetch((path, rel) for path, rel, _ in todo)
    lookups = Lookups(reach.state, resolver, sources)
    for path, rel, data in todo:
        results[path] = _analyse(path, rel, data, config, resolver, sources, reach, lookups)
        if progress:
            progress(1)
    return [results[path] for path in paths]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _analyse(
    path: Path,
    rel: str,
    data: bytes,
    config: Config,
    resolver: Resolver,
    sources: Sources,
    reach: Reach,
    lookups: Lookups,
) -> FileAnalysis:
    module = module_name(rel)
    summary = resolver.program.at(path, rel)
    if summary is None:
        return FileAnalysis(rel, module, error=FileError(rel, "cannot read"))
    if summary.error is not None or summary.newer is not None:
        why = summary.error or summary.newer or ""
        return FileAnalysis(rel, module, error=FileError(rel, why))
    facts = loads(summary.sites) if summary.sites is not None else Sites((), (), None)
    assert isinstance(facts, Sites)
    if facts.error is not None:
        return FileAnalysis(rel, module, error=FileError(rel, facts.error))
    ctx = Context(summary, rel, resolver, config, sources, reach, lookups)
    try:
        sites = [
            classify(fact, ctx)
            for fact in facts.sites
            if fact.receiver is None or is_executor(fact.receiver, resolver)
        ]
        # `add_task(publish_or_run, partial(X.delay, ...))` is one site, found as the add_task
        taken = {s.stmt_line for s in sites if s.status is Status.ALREADY_MIGRATED}
        for queued in facts.queued:
            if queued.line in taken:
                continue
            site: Site | None = classify_queued(queued, ctx)
            if site is not None:
                sites.append(site)
    except RecursionError:
        return FileAnalysis(rel, module, error=FileError(rel, "too deeply nested to analyse"))
    sites.sort(key=lambda s: (s.line, s.column))
    return FileAnalysis(rel, module, tuple(sites), noqa=noqa_codes(data))
