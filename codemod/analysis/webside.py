"""Whether a function runs in the web process itself: a route handler, the app's start-up, or
what they call (what they only start as background work, another job, does not count)."""

from __future__ import annotations

from typing import Any, ClassVar, Self, cast

from codemod.analysis.routes import ModuleScan, routed
from codemod.model.callgraph import reached_from
from codemod.model.resolve import Func, Resolver
from codemod.model.sources import Sources
from codemod.model.summary import CALLED, STARTED

DEPTH = 3  # how many calls above a function a handler or the start-up is looked for
# How far a job's own side is followed: calls deep, and functions in all.
JOB_DEPTH = 4
JOB_BUDGET = 120
MAX_FILES = 60  # a name spelled in more files than this: its callers are not searched


class JobCheck:
    """A check of jobs against what the web process runs itself, one per run: its answers are
    kept by job (each site asks again)."""

    _last: ClassVar[dict[type, Any]] = {}

    def __init__(
        self, resolver: Resolver, sources: Sources, startup: frozenset[str] = frozenset()
    ) -> None:
        self.resolver = resolver
        self.sources = sources
        # The functions the start-up (or `worker-startup`) runs.
        self.startup = startup
        self.answers: dict[str, str | None] = {}
        self.web = WebSide.of(resolver, sources, startup)
        self.setup()

    def setup(self) -> None:
        """What a check keeps besides its answers, made afresh for each run."""

    @classmethod
    def of(
        cls, resolver: Resolver, sources: Sources, startup: frozenset[str] = frozenset()
    ) -> Self:
        last = JobCheck._last.get(cls)
        if (
            last is None
            or last.resolver is not resolver
            or last.sources is not sources
            or last.startup != startup
        ):
            last = JobCheck._last[cls] = cls(resolver, sources, startup)
        return cast(Self, last)

    def walk(self, job: Func) -> list[Func]:
        """The job and the functions it calls (or hands on), breadth first, JOB_DEPTH calls
        deep and JOB_BUDGET functions in all; made once per job for every check of the run."""
        walks = _walks(self.resolver)
        if job.key not in walks:
            found = reached_from([(job, "")], self.resolver, JOB_DEPTH, JOB_BUDGET, properties=True)
            walks[job.key] = [function for function, _ in found.values()]
        return walks[job.key]

    def shared(self, job: Func) -> str | None:
        """Why the job needs what only the web process has, or None when it evidently does not."""
        if job.key not in self.answers:
            self.answers[job.key] = self._shared(job)
        return self.answers[job.key]

    def _shared(self, job: Func) -> str | None:
        raise NotImplementedError


_WALKS: tuple[Resolver, dict[str, list[Func]]] | None = None


def _walks(resolver: Resolver) -> dict[str, list[Func]]:
    global _WALKS
    if _WALKS is None or _WALKS[0] is not resolver:
        _WALKS = (resolver, {})
    return _WALKS[1]


class WebSide:
    """Route handlers (and their closures), start-up code and what they call, found backwards
    from the function asked about."""

    _last: ClassVar[WebSide | None] = None

    def __init__(self, resolver: Resolver, sources: Sources, startup: frozenset[str]) -> None:
        self.resolver = resolver
        self.sources = sources
        self.startup = startup  # keys of the functions the start-up runs
        self._handlers: dict[str, frozenset[str]] = {}
        self._answers: dict[str, bool] = {}

    @classmethod
    def of(cls, resolver: Resolver, sources: Sources, startup: frozenset[str]) -> WebSide:
        last = cls._last
        if (
            last is None
            or last.resolver is not resolver
            or last.sources is not sources
            or last.startup != startup
        ):
            last = cls._last = cls(resolver, sources, startup)
        return last

    def runs(self, function: Func) -> bool:
        if function.key not in self._answers:
            self._answers[function.key] = self._runs(function, 0, {function.key})
        return self._answers[function.key]

    def _runs(self, function: Func, depth: int, seen: set[str]) -> bool:
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

    def _is_handler(self, function: Func) -> bool:
        module = function.module
        if module not in self._handlers:
            scan = ModuleScan(function.summary, self.resolver.program.rel(module), self.resolver)
            self._handlers[module] = frozenset(f.key for f in scan.handlers())
        handlers = self._handlers[module]
        key = function.key
        # a closure of a handler runs when the handler calls it
        return key in handlers or any(key.startswith(h + ".") for h in handlers) or routed(function)

    def _callers(self, target: Func) -> list[Func]:
        name = target.name
        rels = self.sources.spelling_word(name)
        if len(rels) > MAX_FILES:
            return []
        out: list[Func] = []
        program = self.resolver.program
        for rel in rels:
            summary = program.at(self.sources.path(rel), rel)
            if summary is None or summary.error is not None:
                continue
            for function in self.resolver.functions(summary):
                if self._calls(function, target):
                    out.append(function)
        return out

    def _calls(self, function: Func, target: Func) -> bool:
        """Whether `function` calls `target` itself (not as background work it starts)."""
        name = target.name
        for ref in function.fn.refs:
            if ref.flags & CALLED and not ref.flags & STARTED and ref.chain[-1] == name:
                found = self.resolver.callee(ref.chain, function, function.summary)
                if found is not None and found.key == target.key:
                    return True
        return False
