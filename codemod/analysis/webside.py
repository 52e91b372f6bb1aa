"""Whether a function runs in the web process itself: a route handler, the app's start-up, or
what they call (what they only start as background work, another job, does not count)."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Self, cast

from codemod.model.calls import Function, Resolver, body_nodes, last_name
from codemod.model.files import module_name
from codemod.model.index import RepoIndex
from codemod.model.syntax import spans_line, word_lines

# Calls that start their argument as background work rather than run it.
STARTERS = frozenset(
    {
        "create_task",
        "ensure_future",
        "add_task",
        "run_in_executor",
        "to_thread",
        "submit",
        "start_soon",
        "spawn",
        "run_coroutine_threadsafe",
        "Thread",
        "Process",
        "delay",
        "apply_async",
    }
)
DEPTH = 3  # how many calls above a function a handler or the start-up is looked for
# How far a job's own side is followed: calls deep, and functions in all.
JOB_DEPTH = 4
JOB_BUDGET = 120
MAX_FILES = 60  # a name spelled in more files than this: its callers are not searched


class Spelling:
    """Which files of the run spell a word (as a whole word), their bytes read once per
    process and shared by the analyses that search by name."""

    def __init__(self, root: Path, files: tuple[tuple[str, str], ...]) -> None:
        self.root = root
        self.files = files
        self._data: dict[str, bytes] = {}
        self._found: dict[str, list[str]] = {}

    @classmethod
    def of(cls, root: Path, files: tuple[tuple[str, str], ...]) -> Spelling:
        global _SPELLING
        if _SPELLING is None or _SPELLING.root != root or _SPELLING.files != files:
            _SPELLING = cls(root, files)
        return _SPELLING

    def __call__(self, word: str) -> list[str]:
        """The root-relative paths of the files that spell `word`."""
        if word not in self._found:
            needle = word.encode()
            pattern = re.compile(rb"\b" + re.escape(needle) + rb"\b")
            self._found[word] = [
                rel
                for rel, _ in self.files
                if needle in self._bytes(rel) and pattern.search(self._bytes(rel))
            ]
        return self._found[word]

    def data(self, rel: str) -> bytes:
        """The bytes of a file of the run (empty if it cannot be read)."""
        return self._bytes(rel)

    def _bytes(self, rel: str) -> bytes:
        data = self._data.get(rel)
        if data is None:
            try:
                data = (self.root / rel).read_bytes()
            except OSError:
                data = b""
            self._data[rel] = data
        return data


_SPELLING: Spelling | None = None
_WALKS: tuple[RepoIndex, dict[str, list[Function]]] | None = None


class JobCheck:
    """A check of jobs against what the web process runs itself, one per process and run: its
    answers are kept by job (each file's analysis asks again)."""

    _last: ClassVar[dict[type, Any]] = {}

    def __init__(
        self,
        resolver: Resolver,
        files: tuple[tuple[str, str], ...],
        startup: frozenset[str] = frozenset(),
    ) -> None:
        self.resolver = resolver
        self.files = files  # (root-relative path, module) of every file of the run
        # The functions the start-up (or `worker-startup`) runs.
        self.startup = startup
        self.answers: dict[str, str | None] = {}
        self._spelling = Spelling.of(resolver.index.root, files)
        self.web = WebSide(resolver, self._spelling, startup)
        self.setup()

    def setup(self) -> None:
        """What a check keeps besides its answers, made afresh for each run."""

    @classmethod
    def of(
        cls,
        resolver: Resolver,
        files: tuple[tuple[str, str], ...],
        startup: frozenset[str] = frozenset(),
    ) -> Self:
        last = JobCheck._last.get(cls)
        if (
            last is None
            or last.resolver.index is not resolver.index
            or last.files != files
            or last.startup != startup
        ):
            last = JobCheck._last[cls] = cls(resolver, files, startup)
        return cast(Self, last)

    def walk(self, job: Function) -> list[Function]:
        """The job and the repository functions it calls (or hands on), breadth first,
        JOB_DEPTH calls deep and JOB_BUDGET functions in all; made once per job for every check
        of the process."""
        from codemod.analysis.reach import reached_from  # reach imports what imports this module

        global _WALKS
        if _WALKS is None or _WALKS[0] is not self.resolver.index:
            _WALKS = (self.resolver.index, {})
        walks = _WALKS[1]
        if job.key not in walks:
            found = reached_from([(job, "")], self.resolver, JOB_DEPTH, JOB_BUDGET)
            walks[job.key] = [function for function, _ in found.values()]
        return walks[job.key]

    def shared(self, job: Function) -> str | None:
        """Why the job needs what only the web process has, or None when it evidently does not."""
        if job.key not in self.answers:
            self.answers[job.key] = self._shared(job)
        return self.answers[job.key]

    def _shared(self, job: Function) -> str | None:
        raise NotImplementedError


class WebSide:
    """Route handlers (and their closures), start-up code and what they call, found backwards
    from the function asked about, per process."""

    def __init__(
        self,
        resolver: Resolver,
        spelling: Callable[[str], list[str]],
        startup: frozenset[str] = frozenset(),
    ) -> None:
        self.resolver = resolver
        self.spelling = spelling  # root-relative paths of the files that spell a word
        self.startup = startup  # keys of the functions the start-up runs
        self._handlers: dict[str, frozenset[str]] = {}
        self._answers: dict[str, bool] = {}

    def runs(self, function: Function) -> bool:
        if function.key not in self._answers:
            self._answers[function.key] = self._runs(function, 0, {function.key})
        return self._answers[function.key]

    def _runs(self, function: Function, depth: int, seen: set[str]) -> bool:
        if function.key in self.startup or self._is_handler(function):
            return True
        if depth >= DEPTH:
            return False
        for caller in self._callers(function):
            if caller.key in seen:
                continue
            seen.add(caller.key)
            if self._runs(caller, depth + 1, seen):
                return True
        return False

    def _is_handler(self, function: Function) -> bool:
        from codemod.analysis.reach import _ModuleScan  # reach imports the analyses beside this one

        info = function.info
        if info.module not in self._handlers:
            scan = _ModuleScan(info, self.resolver)
            self._handlers[info.module] = frozenset(f.key for f in scan.handlers())
        handlers = self._handlers[info.module]
        key = function.key
        # a closure of a handler runs when the handler calls it
        return key in handlers or any(key.startswith(h + ".") for h in handlers)

    def _callers(self, target: Function) -> list[Function]:
        name = target.node.name
        rels = self.spelling(name)
        if len(rels) > MAX_FILES:
            return []
        out: list[Function] = []
        for rel in rels:
            info = self.resolver.index.module(module_name(rel))
            if info is None:
                continue
            lines = word_lines(info.source, [name])
            for function in self.resolver.functions(info).values():
                if spans_line(function.node, lines) and self._calls(function, target, lines):
                    out.append(function)
        return out

    def _calls(self, function: Function, target: Function, lines: list[int]) -> bool:
        """Whether `function` calls `target` itself (not as background work it starts)."""
        started: set[int] = set()
        for node in body_nodes(function.node, lines):
            if isinstance(node, ast.Call) and last_name(node.func) in STARTERS:
                for arg in (*node.args, *(k.value for k in node.keywords)):
                    started.update(id(n) for n in ast.walk(arg))
        for node in body_nodes(function.node, lines):
            if not isinstance(node, ast.Call) or id(node) in started:
                continue
            if last_name(node.func) != target.node.name:
                continue
            found = self.resolver.callee(node.func, function, function.info)
            if found is not None and found.key == target.key:
                return True
        return False
