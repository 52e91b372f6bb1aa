"""Analyse endpoint modules, one file at a time and in parallel: read, parse, detect, classify."""

from __future__ import annotations

import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from codemod.classify import Context, classify, classify_queued
from codemod.config import Config
from codemod.detect import MARKERS, find_candidates, find_queued
from codemod.discover import module_name, relpath
from codemod.index import ModuleInfo, RepoIndex, decode_source
from codemod.models import FileAnalysis, FileError


def analyse_file(path: Path, config: Config, index: RepoIndex | None = None) -> FileAnalysis:
    """Never raises for a problem of the file: it becomes the analysis' error."""
    rel = relpath(path, config.root)
    module = module_name(rel)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return FileAnalysis(rel, module, error=FileError(rel, f"cannot read: {exc.strerror}"))
    if not any(marker in data for marker in MARKERS):
        return FileAnalysis(rel, module)
    try:
        info = ModuleInfo.parse(module, path, decode_source(data))
    except SyntaxError as exc:
        return FileAnalysis(rel, module, error=FileError(rel, _syntax_message(exc)))
    except (UnicodeDecodeError, LookupError) as exc:
        return FileAnalysis(rel, module, error=FileError(rel, f"cannot decode: {exc}"))
    except (ValueError, RecursionError, MemoryError) as exc:
        return FileAnalysis(rel, module, error=FileError(rel, f"cannot parse: {exc}"))
    index = index or RepoIndex(config.root)
    index.add(info)
    ctx = Context(info, rel, index, config)
    try:
        sites = [classify(candidate, ctx) for candidate in find_candidates(info)]
        for attribute, candidate in find_queued(info, config.tasks_package):
            site = classify_queued(attribute, candidate, ctx)
            if site is not None:
                sites.append(site)
        sites.sort(key=lambda s: (s.line, s.column))
    except RecursionError:
        return FileAnalysis(rel, module, error=FileError(rel, "too deeply nested to analyse"))
    return FileAnalysis(rel, module, tuple(sites))


def _syntax_message(exc: SyntaxError) -> str:
    where = f"line {exc.lineno}" + (f", column {exc.offset}" if exc.offset else "")
    return f"cannot parse: {exc.msg} ({where})"


def _analyse_chunk(paths: list[Path], config: Config) -> list[FileAnalysis]:
    index = RepoIndex(config.root)
    return [analyse_file(path, config, index) for path in paths]


def analyse_all(
    paths: list[Path], config: Config, progress: Callable[[int], None] | None = None
) -> list[FileAnalysis]:
    """Analyses in the order of `paths`, whatever the number of worker processes."""
    workers = min(config.workers, max(1, len(paths) // 8))
    size = max(8, len(paths) // (workers * 8)) if workers > 1 else max(1, len(paths))
    chunks = [paths[i : i + size] for i in range(0, len(paths), size)]
    results: list[FileAnalysis] = []
    if workers <= 1:
        for chunk in chunks:
            results += _analyse_chunk(chunk, config)
            if progress:
                progress(len(chunk))
        return results
    with ProcessPoolExecutor(workers) as pool:
        for analyses in pool.map(_analyse_chunk, chunks, [config] * len(chunks)):
            results += analyses
            if progress:
                progress(len(analyses))
    return results


def raise_recursion_limit() -> None:
    # LibCST and ast need deep recursion on deeply nested expressions (stdlib pydoc_data).
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
