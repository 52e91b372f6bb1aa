"""Analyse endpoint modules, one file at a time and in parallel: read, parse, detect, classify."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

from codemod.analysis.classify import Context, classify, classify_queued
from codemod.analysis.detect import find_sites, may_have_sites
from codemod.analysis.reach import Reach
from codemod.config import Config
from codemod.model.files import module_name, relpath
from codemod.model.index import ModuleInfo, RepoIndex
from codemod.model.noqa import noqa_codes
from codemod.model.syntax import decode_source, tune_interpreter
from codemod.models import FileAnalysis, FileError, Status

# Analysing and rewriting take about 50 s a megabyte (a 10 MB module: ten minutes and gigabytes
# of memory, in LibCST), and no hand-written endpoint module comes near this size: a bigger file
# with a call site in it is a per-file error (exit 123), every other file is still migrated.
MAX_FILE_BYTES = 2_000_000


def analyse_file(
    path: Path, config: Config, index: RepoIndex | None = None, reach: Reach | None = None
) -> FileAnalysis:
    """Never raises for a problem of the file: it becomes the analysis' error."""
    rel = relpath(path, config.root)
    module = module_name(rel)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return FileAnalysis(rel, module, error=FileError(rel, f"cannot read: {exc.strerror}"))
    if not may_have_sites(data, config.tasks_package):
        return FileAnalysis(rel, module, noqa=noqa_codes(data))
    if len(data) > MAX_FILE_BYTES:
        size = f"{len(data) / 1e6:.1f} MB; the limit is {MAX_FILE_BYTES / 1e6:.0f} MB"
        return FileAnalysis(rel, module, error=FileError(rel, f"too large to migrate ({size})"))
    try:
        source = decode_source(data)
        info = (index and index.parsed(module, path, source)) or ModuleInfo.parse(
            module, path, source
        )
    except SyntaxError as exc:
        if exc.lineno is None:  # from the encoding detection: undecodable first lines, bad cookie
            return FileAnalysis(rel, module, error=FileError(rel, f"cannot decode: {exc.msg}"))
        return FileAnalysis(rel, module, error=FileError(rel, syntax_message(exc)))
    except (UnicodeDecodeError, LookupError) as exc:
        return FileAnalysis(rel, module, error=FileError(rel, f"cannot decode: {exc}"))
    except (ValueError, RecursionError, MemoryError) as exc:
        return FileAnalysis(rel, module, error=FileError(rel, f"cannot parse: {exc}"))
    index = index or RepoIndex(config.root)
    index.add(info)
    ctx = Context(info, rel, index, config, reach or Reach())
    try:
        found, queued = find_sites(info, config.tasks_package if b"delay" in data else None)
        sites = [classify(candidate, ctx) for candidate in found]
        # `add_task(publish_or_run, partial(X.delay, ...))` is one site, found as the add_task
        taken = {s.stmt_line for s in sites if s.status is Status.ALREADY_MIGRATED}
        for attribute, candidate in queued:
            if candidate.statement.lineno in taken:
                continue
            site = classify_queued(attribute, candidate, ctx)
            if site is not None:
                sites.append(site)
        sites.sort(key=lambda s: (s.line, s.column))
    except RecursionError:
        return FileAnalysis(rel, module, error=FileError(rel, "too deeply nested to analyse"))
    finally:
        index.release(info)
    return FileAnalysis(rel, module, tuple(sites), noqa=noqa_codes(data))


def _prefilter(path: Path, tasks_package: str) -> bytes | None:
    """The prefilter, in the parent process: the bytes of a readable file with no site; None
    for a file to analyse."""
    try:
        data = path.read_bytes()
    except OSError:
        return None  # analyse_file reports it
    return None if may_have_sites(data, tasks_package) else data


def syntax_message(exc: SyntaxError, version: tuple[int, int] | None = None) -> str:
    """`cannot parse with Python 3.11 (line 24, column 124: f-string: expecting '}')`, and the
    advice to run the tool with the project's Python where a newer one may parse the file."""
    major, minor = version or sys.version_info[:2]
    where = f"line {exc.lineno}" + (f", column {exc.offset}" if exc.offset else "")
    message = f"cannot parse with Python {major}.{minor} ({where}: {exc.msg})"
    if newer_python_may_parse(exc, (major, minor)):
        message += "; if the project runs on a newer Python, run celery-codemod with that Python"
    return message


# Syntax that a later Python accepts, by the line it is on: PEP 695 `type` statements and
# generic defs and classes (3.12), PEP 758 unparenthesised `except A, B:` (3.14).
_NEWER_SYNTAX = (
    ((3, 12), re.compile(r"\s*type\s+\w+\s*(?:\[.*\])?\s*=")),
    ((3, 12), re.compile(r"\s*(?:async\s+)?(?:def|class)\s+\w+\s*\[")),
    ((3, 14), re.compile(r"\s*except\*?\s+[^:(]+,[^:]*:")),
)


def newer_python_may_parse(exc: SyntaxError, version: tuple[int, int]) -> bool:
    """Whether the error may be syntax of a newer Python than `version`: the f-string grammar
    of PEP 701 (3.12), template strings (3.14), or a line that reads as newer syntax."""
    if version < (3, 12) and "f-string" in (exc.msg or ""):
        return True
    line = exc.text or ""
    if version < (3, 14) and re.search(r"(?<![\w.])t[rR]?['\"]", line):
        return True
    return any(version < newer and pattern.match(line) for newer, pattern in _NEWER_SYNTAX)


# The index that the parent process built before the analysis (route discovery parses many of
# the endpoint modules): worker processes forked from it inherit its trees instead of parsing
# those modules again. Where workers are spawned, not forked, it is None there: no harm.
_INHERITED: RepoIndex | None = None


def _analyse_chunk(paths: list[Path], config: Config, reach: Reach) -> list[FileAnalysis]:
    index = _INHERITED if _INHERITED is not None else RepoIndex(config.root)
    return [analyse_file(path, config, index, reach) for path in paths]


def analyse_all(
    paths: list[Path],
    config: Config,
    progress: Callable[[int], None] | None = None,
    reach: Reach | None = None,
    index: RepoIndex | None = None,
) -> list[FileAnalysis]:
    """Analyses in the order of `paths`, whatever the number of worker processes; with the
    trees `index` holds already (it is the analysis' own index from then on).

    The bytes prefilter runs here first, so that worker processes are started only for the
    files that need parsing, and only when there are enough of them to be worth it."""
    results: dict[Path, FileAnalysis] = {}
    todo: list[Path] = []
    for path in paths:
        data = _prefilter(path, config.tasks_package)
        if data is None:
            todo.append(path)
        else:
            rel = relpath(path, config.root)
            results[path] = FileAnalysis(rel, module_name(rel), noqa=noqa_codes(data))
    reach = reach or Reach()
    global _INHERITED
    _INHERITED = index
    try:
        _analyse_todo(todo, config, reach, results, progress)
    finally:
        _INHERITED = None
    return [results[path] for path in paths]


def _analyse_todo(
    todo: list[Path],
    config: Config,
    reach: Reach,
    results: dict[Path, FileAnalysis],
    progress: Callable[[int], None] | None,
) -> None:
    paths_done = len(results)
    if progress and paths_done:
        progress(paths_done)
    workers = min(config.workers, max(1, len(todo) // 8))
    size = max(8, len(todo) // (workers * 8)) if workers > 1 else max(1, len(todo))
    chunks = [todo[i : i + size] for i in range(0, len(todo), size)]
    if workers <= 1:
        for chunk in chunks:
            results.update(zip(chunk, _analyse_chunk(chunk, config, reach), strict=True))
            if progress:
                progress(len(chunk))
    else:
        from concurrent.futures import ProcessPoolExecutor  # 40 ms to import: only when used

        with ProcessPoolExecutor(workers, initializer=tune_interpreter) as pool:
            analysed = pool.map(
                _analyse_chunk, chunks, [config] * len(chunks), [reach] * len(chunks)
            )
            for chunk, analyses in zip(chunks, analysed, strict=True):
                results.update(zip(chunk, analyses, strict=True))
                if progress:
                    progress(len(analyses))
