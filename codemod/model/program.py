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
    from concurrent.futures import Future, ProcessPoolExecutor

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
        self._pending: dict[str, Future[tuple[str, bytes, str]]] = {}  # made by the workers
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
                self._modules[name] = self._get(path, name)
        summary = self._modules[name]
        return summary if summary is not None and summary.error is None else None

    def at(self, path: Path, rel: str) -> ModuleSummary | None:
        """The summary of a file of the run, errors included (None: unreadable, or another file
        has its module name)."""
        name = module_name(rel)
        if self.path(name) != path:
            return self._get(path, name, keep=False)
        if name not in self._modules:
            self._modules[name] = self._get(path, name)
        return self._modules[name]

    def prefetch(self, files: Iterable[tuple[Path, str]]) -> None:
        """Start summarising these files (path, root-relative path), many at a time in worker
        processes: `module` and `at` wait for each when it is asked for."""
        todo = [
            (path, name)
            for path, rel in files
            if (name := module_name(rel)) not in self._modules and self.path(name) == path
        ]
        misses = [job for job in map(self._lookup, todo) if job is not None]
        if len(misses) < PARALLEL_THRESHOLD or self.workers <= 1:
            for job in misses:
                self._modules[job[1]] = self._summarised(_summarise_one(job), Path(job[0]))
            return
        for job in misses:
            self._submit(job)

    def _lookup(self, file: tuple[Path, str]) -> tuple[str, str, bytes, str] | None:
        """A file's summary from the cache (stored), or the job that makes it (None: stored, or
        unreadable, or being made)."""
        path, name = file
        if name in self._pending:
            return None
        found = self._read(path, name)
        if found is None or isinstance(found, ModuleSummary):
            self._modules[name] = self._rebase(found, path) if found is not None else None
            return None
        return found

    def _get(self, path: Path, name: str, keep: bool = True) -> ModuleSummary | None:
        """One module's summary: from a worker that makes it already, else from the cache,
        else made here (and then the modules it imports are started in the workers, as the
        analysis is likely to ask for them next). With `keep` False (another file has the
        module's name), the file is read for itself and nothing is stored."""
        if not keep:
            found = self._read(path, name)
            if found is None or isinstance(found, ModuleSummary):
                return found
            return loads_summary(_summarise_one(found)[1])
        pending = self._pending.pop(name, None)
        if pending is not None and not pending.cancel():  # started: wait for it
            return self._summarised(pending.result(), path)
        job = self._lookup((path, name))
        if job is None:
            return self._modules.get(name)
        summary = self._summarised(_summarise_one(job), path)
        if summary.error is None:
            self._speculate(summary)
        return summary

    def _read(self, path: Path, name: str) -> ModuleSummary | tuple[str, str, bytes, str] | None:
        """A file's summary from the cache, or the job that makes it (None: unreadable)."""
        try:
            data = path.read_bytes()
        except OSError:
            return None
        key = Cache.key(name, path.name == "__init__.py", data)
        found = self.cache.get(key) if self.cache is not None else None
        return found if found is not None else (str(path), name, data, key)

    def _summarised(self, made: tuple[str, bytes, str], path: Path) -> ModuleSummary:
        _, blob, key = made
        self.summarised += 1
        if self.cache is not None:
            self.cache.put(key, blob)
        return self._rebase(loads_summary(blob), path)

    def _submit(self, job: tuple[str, str, bytes, str]) -> None:
        self._pending[job[1]] = self._executor().submit(_summarise_one, job)

    def _speculate(self, summary: ModuleSummary) -> None:
        """Start summarising the modules of the program that a module just made here imports
        (not those of the modules made ahead: the guess would grow to the whole program)."""
        if self.workers <= 1:
            return
        wanted: list[tuple[Path, str]] = []
        for binding in summary.bindings.values():
            if binding.kind != "import":
                continue
            target = binding.target
            for name in (target, target.rpartition(".")[0]):
                if not name or name in self._modules or name in self._pending:
                    continue
                path = self.path(name)
                if path is not None:
                    wanted.append((path, name))
                    break
        for path, name in dict.fromkeys(wanted):
            self._modules.pop(name, None)
            job = self._lookup((path, name))
            if job is not None:
                self._submit(job)

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            from concurrent.futures import ProcessPoolExecutor  # 40 ms to import: when needed

            from codemod.model.syntax import tune_interpreter

            self._pool = ProcessPoolExecutor(self.workers, initializer=tune_interpreter)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
        self._pending.clear()

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


def loads_summary(blob: bytes) -> ModuleSummary:
    summary = loads(blob)
    assert isinstance(summary, ModuleSummary)
    return summary


def default_workers(jobs: int) -> int:
    return jobs if jobs > 0 else (os.cpu_count() or 1)
