"""The program: every module under root, summarised once (from the cache when it has the same
content, else parsed, in worker processes when there are many), with the names each binds as
Python would bind them from the project root."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from codemod.model.cache import Cache
from codemod.model.files import module_name, module_path, relpath, sub_root_folder
from codemod.model.summarise import summarise
from codemod.model.summary import Binding, Function, ModuleSummary, dumps, loads

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

# Fewer modules to summarise than this are not worth starting worker processes for.
PARALLEL_THRESHOLD = 24


class Program:
    """Module summaries by dotted name, loaded on demand; `prefetch` summarises many at once."""

    def __init__(self, root: Path, cache: Cache | None = None, workers: int = 1) -> None:
        self.root = root
        self.cache = cache
        self.workers = workers
        self._modules: dict[str, ModuleSummary | None] = {}
        self._paths: dict[str, Path | None] = {}
        self._functions: dict[tuple[str, tuple[str, ...]], Function | None] = {}
        self._rebased: dict[str, dict[str, str]] = {}  # module -> {import's top: its folder}
        self._pool: ProcessPoolExecutor | None = None
        self.summarised = 0  # modules parsed in this run (not found in the cache)

    # --- modules ---------------------------------------------------------------------------

    def path(self, name: str) -> Path | None:
        """The file of a dotted module under root, if there is one."""
        if name not in self._paths:
            self._paths[name] = module_path(name, self.root) if name else None
        return self._paths[name]

    def exists(self, name: str) -> bool:
        return (name in self._modules and self._modules[name] is not None) or (
            self.path(name) is not None
        )

    def loaded(self, name: str) -> bool:
        """Whether a module has been looked up already (found or not)."""
        return name in self._modules

    def rel(self, name: str) -> str:
        path = self.path(name)
        return relpath(path, self.root) if path is not None else name.replace(".", "/") + ".py"

    def module(self, name: str) -> ModuleSummary | None:
        """The summary of a module of the repository (None: no such module, or it does not
        parse)."""
        if name not in self._modules:
            path = self.path(name)
            self._modules[name] = None
            if path is not None:
                found = self._load([(path, name)])
                self._modules[name] = found.get(name)
        summary = self._modules[name]
        return summary if summary is not None and summary.error is None else None

    def at(self, path: Path, rel: str) -> ModuleSummary | None:
        """The summary of a file of the run, errors included (None: unreadable, or another file
        has its module name)."""
        name = module_name(rel)
        if self.path(name) != path:
            return self._load([(path, name)], keep=False).get(name)
        if name not in self._modules:
            self._modules[name] = self._load([(path, name)]).get(name)
        return self._modules[name]

    def prefetch(self, files: Iterable[tuple[Path, str]]) -> None:
        """Summarise these files (path, root-relative path) now, many at a time."""
        todo = [
            (path, name)
            for path, rel in files
            if (name := module_name(rel)) not in self._modules and self.path(name) == path
        ]
        if todo:
            for name, summary in self._load(todo).items():
                self._modules[name] = summary

    def _load(
        self, files: list[tuple[Path, str]], keep: bool = True
    ) -> dict[str, ModuleSummary | None]:
        out: dict[str, ModuleSummary | None] = {}
        misses: list[tuple[str, str, bytes, str]] = []
        for path, name in files:
            try:
                data = path.read_bytes()
            except OSError:
                out[name] = None
                continue
            key = Cache.key(name, path.name == "__init__.py", data)
            found = self.cache.get(key) if self.cache is not None else None
            if found is not None:
                out[name] = self._rebase(found, path) if keep else found
            else:
                misses.append((str(path), name, data, key))
        for name, blob, key in self._summarise(misses):
            summary = loads(blob)
            assert isinstance(summary, ModuleSummary)
            if self.cache is not None:
                self.cache.put(key, blob)
            path = Path(next(p for p, n, _, _ in misses if n == name))
            out[name] = self._rebase(summary, path) if keep else summary
        return out

    def _summarise(self, misses: list[tuple[str, str, bytes, str]]) -> list[tuple[str, bytes, str]]:
        self.summarised += len(misses)
        if len(misses) < PARALLEL_THRESHOLD or self.workers <= 1:
            return [_summarise_one(job) for job in misses]
        pool = self._executor()
        size = max(4, len(misses) // (self.workers * 4))
        chunks = [misses[i : i + size] for i in range(0, len(misses), size)]
        return [found for chunk in pool.map(_summarise_chunk, chunks) for found in chunk]

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            from concurrent.futures import ProcessPoolExecutor  # 40 ms to import: when needed

            from codemod.model.syntax import tune_interpreter

            self._pool = ProcessPoolExecutor(self.workers, initializer=tune_interpreter)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    # --- what a module binds ---------------------------------------------------------------

    def _rebase(self, summary: ModuleSummary, path: Path) -> ModuleSummary:
        """Imports written for a sub-folder on `sys.path` (`from utils import f` in
        backend/server/app.py, for backend/utils.py) name what Python would import there: the
        binding's target becomes `backend.utils.f`."""
        moved: dict[str, str] = {}
        bindings: dict[str, Binding] | None = None
        for name, binding in summary.bindings.items():
            if binding.kind != "import":
                continue
            top = binding.target.partition(".")[0]
            if top not in moved:
                folder = sub_root_folder(top, path, self.root)
                if folder is None:
                    continue
                moved[top] = module_name(relpath(folder / "__init__.py", self.root))
            prefix = moved[top]
            if bindings is None:
                bindings = dict(summary.bindings)
            target = f"{prefix}.{binding.target}" if prefix else binding.target
            bindings[name] = binding._replace(target=target)
        if not moved or bindings is None:
            return summary
        self._rebased[summary.module] = moved
        return summary._replace(bindings=bindings)

    def rebase(self, module: str, qualname: str) -> str:
        """A name qualified inside `module` by its own imports, as the rebased imports name it."""
        moved = self._rebased.get(module)
        if not moved:
            return qualname
        top = qualname.partition(".")[0]
        prefix = moved.get(top)
        return f"{prefix}.{qualname}" if prefix else qualname

    def function(self, summary: ModuleSummary, path: tuple[str, ...]) -> Function | None:
        key = (summary.module, path)
        if key not in self._functions:
            self._functions[key] = summary.function(path)
        return self._functions[key]


def _summarise_one(job: tuple[str, str, bytes, str]) -> tuple[str, bytes, str]:
    path, name, data, key = job
    return name, dumps(summarise(name, Path(path), data)), key


def _summarise_chunk(jobs: list[tuple[str, str, bytes, str]]) -> list[tuple[str, bytes, str]]:
    return [_summarise_one(job) for job in jobs]


def default_workers(jobs: int) -> int:
    return jobs if jobs > 0 else (os.cpu_count() or 1)
