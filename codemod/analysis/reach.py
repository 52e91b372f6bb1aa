"""Where a call site is started from: route handlers and what they call, or the app's start-up."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from codemod.analysis.routes import ModuleScan, may_create_app, may_declare_routes, may_start_up
from codemod.analysis.state import StartupState, collect_state
from codemod.model.callgraph import callees, reached_from
from codemod.model.files import module_name
from codemod.model.resolve import Func, Resolver
from codemod.model.sources import Sources
from codemod.model.summary import ModuleSummary

# How many calls deep a handler's or the start-up's reach is followed.
MAX_DEPTH = 8
# A backward search that would look into more files than this gives up: the function then
# counts as reached by no handler (a start-up site is refused rather than migrated).
MAX_CALLER_FILES = 150


@dataclass(frozen=True)
class Reach:
    """Functions (by dotted key: `module.func`, `module.Class.method`, `module.f.inner`) reached
    from a route handler, and those reached from the app's start-up with the root they come from."""

    route_modules: frozenset[str] = frozenset()
    handlers: frozenset[str] = frozenset()  # reached from a handler, handlers included
    startup: dict[str, str] = field(default_factory=dict)  # key -> "lifespan `f` (path)"
    called_modules: frozenset[str] = frozenset()  # modules of the functions handlers reach
    state: StartupState = field(default_factory=StartupState)  # what the start-up sets
    startup_code: tuple[str, ...] = ()  # "lifespan `f` (path)", "app factory ...", ...
    route_handlers: frozenset[str] = frozenset()  # the route handlers themselves

    @property
    def handler_modules(self) -> frozenset[str]:
        return self.called_modules | self.route_modules

    def started_at_startup(self, key: str) -> str | None:
        """Where the start-up reaches a function from, if a start-up root reaches it and no route
        handler does; None otherwise."""
        return self.startup.get(key)  # find_reach leaves out what a handler reaches


def declaring(sources: Sources) -> list[tuple[str, bool, bool, bool]]:
    """(root-relative path, declares routes, starts up, creates the app) of each file whose
    bytes may do one of those: the only files route discovery and start-up look into."""
    out = []
    for _, rel, data in sources.items():
        routes, starts, creates = may_declare_routes(data), may_start_up(data), may_create_app(data)
        if routes or starts or creates:
            out.append((rel, routes, starts, creates))
    return out


def find_reach(sources: Sources, resolver: Resolver, worker_startup: Iterable[str] = ()) -> Reach:
    """Route handlers and start-up roots among the files, what they reach, and the state the
    start-up sets (less what the `worker_startup` callables set). Only files whose bytes could
    declare routes, start-up or the app are looked into, then what they call."""
    program = resolver.program
    handlers: list[Func] = []
    roots: list[tuple[Func, str]] = []
    factories: list[tuple[Func, str]] = []
    app_modules: list[tuple[ModuleSummary, str]] = []
    route_modules: set[str] = set()
    found = declaring(sources)
    program.prefetch((sources.path(rel), rel) for rel, *_ in found)
    for rel, routes, starts, creates in found:
        name = module_name(rel)
        if program.path(name) != sources.path(rel):
            continue
        summary = program.module(name)
        if summary is None:
            continue
        scan = ModuleScan(summary, rel, resolver)
        if routes:
            declared = list(scan.handlers())
            if declared:
                route_modules.add(summary.module)
                handlers += declared
        if starts:
            roots += scan.startup_roots()
        if creates:
            at_module_level, found_factories = scan.app_creation()
            if at_module_level:
                app_modules.append((summary, f"the module level of {rel}"))
            factories += found_factories
    # What handlers call directly: the modules that hold request work (discovery, part c), of
    # which only those that may hold a call site matter (and packages, for their re-exports).
    reached = (
        reached_from(((h, "") for h in handlers), Resolver(program, sources.wanted()), depth=1)
        if handlers
        else {}
    )
    at_startup = reached_from(roots, resolver, depth=MAX_DEPTH)
    # Start-up work that holds a background call, and that no handler reaches (looked for
    # backwards from it: far fewer modules to read than all that every handler reaches).
    search = Callers(sources, resolver, frozenset(reached), frozenset(f.key for f, _ in roots))
    startup = {
        key: why
        for key, (function, why) in at_startup.items()
        if key not in reached and function.fn.starts_background and not search.reaches(function)
    }
    modules = frozenset(function.module for function, _ in reached.values())
    state = collect_state([*roots, *factories], app_modules, resolver, worker_startup)
    # The start-up hooks, and the app's creation where it sets state (every app is created
    # somewhere: that alone is no start-up code worth a line of the report).
    setters = [setter.what for _, setter in state.keys.values()]
    made = [why for _, why in (*factories, *app_modules) if any(why in w for w in setters)]
    code = tuple(dict.fromkeys([*(why for _, why in roots), *made]))
    route_handlers = frozenset(h.key for h in handlers)
    return Reach(
        frozenset(route_modules), frozenset(reached), startup, modules, state, code, route_handlers
    )


class Callers:
    """Whether a route handler reaches a function, searched backwards through its callers."""

    def __init__(
        self,
        sources: Sources,
        resolver: Resolver,
        handlers: frozenset[str],
        roots: frozenset[str],
    ) -> None:
        self.sources = sources
        self.resolver = resolver
        self.handlers = handlers
        self.roots = roots  # start-up roots: the framework calls them, their callers are moot

    def reaches(self, function: Func) -> bool:
        seen = {function.key}
        layer = [function]
        for _ in range(MAX_DEPTH):
            following: list[Func] = []
            for target in layer:
                if target.key in self.roots:
                    continue
                for caller in self.callers(target):
                    if caller.key in self.handlers:
                        return True
                    if caller.key not in seen:
                        seen.add(caller.key)
                        following.append(caller)
            if not following:
                return False
            layer = following
        return False

    def callers(self, target: Func) -> Iterator[Func]:
        name = target.name
        rels = self.sources.spelling(name)
        if len(rels) > MAX_CALLER_FILES:
            return
        program = self.resolver.program
        for rel in rels:
            module = module_name(rel)
            if program.path(module) != self.sources.path(rel):
                continue
            summary = program.module(module)
            if summary is None:
                continue
            for function in self.resolver.functions(summary):
                if any(c.key == target.key for c in callees(function, self.resolver, name)):
                    yield function
