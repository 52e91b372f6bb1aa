"""Where a call site is started from: route handlers and what they call, or the app's start-up."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from codemod.analysis.flask_app import FlaskApps, creation_roots, find_flask_apps
from codemod.analysis.routes import (
    AppCreation,
    ModuleScan,
    may_create_app,
    may_declare_routes,
    may_serve,
    may_start_up,
    routed,
    views_deriving,
)
from codemod.analysis.state import StartupState, collect_state
from codemod.model.callgraph import callees, reached_from
from codemod.model.files import module_name
from codemod.model.resolve import Func, Resolver
from codemod.model.sources import Sources
from codemod.model.summary import MAIN_BLOCK, ModuleSummary

# How many calls deep a handler's or the start-up's reach is followed.
MAX_DEPTH = 8
# A backward search that would look into more files than this gives up: the function then
# counts as reached by no handler (a start-up site is refused rather than migrated).
MAX_CALLER_FILES = 150
# Rounds of looking for classes that derive from the class-based views found so far.
MAX_VIEW_ROUNDS = 4


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
    flask: FlaskApps = field(
        default_factory=FlaskApps
    )  # the Flask apps, and the one a worker makes

    @property
    def handler_modules(self) -> frozenset[str]:
        return self.called_modules | self.route_modules

    def started_at_startup(self, key: str) -> str | None:
        """Where the start-up reaches a function from, if a start-up root reaches it and no route
        handler does; None otherwise."""
        return self.startup.get(key)  # find_reach leaves out what a handler reaches


def declaring(sources: Sources) -> list[tuple[str, bool, bool, bool, bool]]:
    """(root-relative path, declares routes, starts up, creates the app, runs a server from its
    `__main__` block) of each file whose bytes may do one of those: the only files route
    discovery and start-up look into."""
    out = []
    for _, rel, data in sources.items():
        routes, starts, creates = may_declare_routes(data), may_start_up(data), may_create_app(data)
        serves = may_serve(data)
        if routes or starts or creates or serves:
            out.append((rel, routes, starts, creates, serves))
    return out


@dataclass
class _Found:
    """What the modules that declare routes, start-up or the app declare."""

    handlers: list[Func] = field(default_factory=list)
    roots: list[tuple[Func, str]] = field(default_factory=list)
    first_request_hooks: list[Func] = field(default_factory=list)
    factories: list[tuple[Func, str]] = field(default_factory=list)
    flask_factories: list[tuple[Func, str]] = field(default_factory=list)
    app_modules: list[tuple[ModuleSummary, str]] = field(default_factory=list)
    route_modules: set[str] = field(default_factory=set)
    flask_routes: set[str] = field(default_factory=set)  # files with Flask routes or views
    creations: list[tuple[ModuleSummary, AppCreation]] = field(default_factory=list)
    views: set[str] = field(default_factory=set)  # the names of class-based views found
    scanned: set[str] = field(default_factory=set)  # the files looked into for routes

    def scan(self, rel: str, summary: ModuleSummary, resolver: Resolver, wants: Wants) -> None:
        scan = ModuleScan(summary, rel, resolver)
        routes, starts, creates, serves = wants
        if serves:
            # The web server's entry point: what its `__main__` block runs (settings it
            # initialises, threads it starts) is start-up, which no worker runs.
            main = resolver.func(summary, MAIN_BLOCK)
            if main is not None:
                self.roots.append((main, f"the `__main__` block of {rel}"))
        if routes:
            self.scanned.add(rel)
            declared = list(scan.handlers())
            if declared:
                self.route_modules.add(summary.module)
                self.handlers += declared
            if scan.flask:
                self.flask_routes.add(rel)
            self.views.update(scan.view_classes)
        if starts:
            self.roots += scan.startup_roots()
            self.first_request_hooks += scan.first_request_hooks
        if creates:
            creation = scan.app_creation()
            if creation.at_module_level:
                self.app_modules.append((summary, f"the module level of {rel}"))
            self.factories += creation.factories
            self.flask_factories += creation.flask_factories
            self.creations.append((summary, creation))


Wants = tuple[bool, bool, bool, bool]


def _declared(sources: Sources, resolver: Resolver) -> _Found:
    """What the files whose bytes may declare routes, start-up or the app declare, and then the
    files whose classes may derive from the class-based views found (by name, a few rounds)."""
    program = resolver.program
    todo: list[tuple[str, Wants]] = [
        (rel, (routes, starts, creates, serves))
        for rel, routes, starts, creates, serves in declaring(sources)
    ]
    found = _Found()
    for _ in range(MAX_VIEW_ROUNDS):
        program.prefetch((sources.path(rel), rel) for rel, _ in todo)
        known = set(found.views)
        for rel, wants in todo:
            name = module_name(rel)
            if program.path(name) != sources.path(rel):
                continue
            summary = program.module(name)
            if summary is not None:
                found.scan(rel, summary, resolver, wants)
        new = found.views - known
        if not new:
            break
        derives = views_deriving(new)
        todo = [
            (rel, (True, False, False, False))
            for _, rel, data in sources.items()
            if rel not in found.scanned and derives(data)
        ]
    return found


def find_reach(
    sources: Sources,
    resolver: Resolver,
    worker_startup: Iterable[str] = (),
    flask_app: str | None = None,
) -> Reach:
    """Route handlers and start-up roots among the files, what they reach, and the state the
    start-up sets (less what the `worker_startup` callables set, and what creating the Flask
    app `flask_app`, or the one found, sets in the worker). Only files whose bytes could
    declare routes, start-up or the app are looked into, then what they call."""
    program = resolver.program
    found = _declared(sources, resolver)
    handlers, roots = found.handlers, found.roots
    # What handlers call directly: the modules that hold request work (discovery, part c), of
    # which only those that may hold a call site matter (and packages, for their re-exports).
    reached = (
        reached_from(((h, "") for h in handlers), Resolver(program, sources.wanted()), depth=1)
        if handlers
        else {}
    )
    # An app factory is start-up code: what it calls runs when the app is created.
    starting = [*roots, *found.factories, *found.flask_factories]
    at_startup = reached_from(starting, resolver, depth=MAX_DEPTH)
    # Start-up work that holds a background call, and that no handler reaches (looked for
    # backwards from it: far fewer modules to read than all that every handler reaches).
    search = Callers(sources, resolver, frozenset(reached), frozenset(f.key for f, _ in starting))
    startup = {
        key: why
        for key, (function, why) in at_startup.items()
        if key not in reached and function.fn.starts_background and not search.reaches(function)
    }
    modules = frozenset(function.module for function, _ in reached.values())
    flask = find_flask_apps(found.creations, resolver, sources, found.flask_routes, flask_app)
    # What the app only registers to run in requests, or before the first one: never in a worker.
    hooks = frozenset(f.key for f in (*handlers, *found.first_request_hooks))
    state = collect_state(
        [*roots, *found.factories, *found.flask_factories],
        found.app_modules,
        resolver,
        worker_startup,
        creation_roots(flask.chosen, resolver),
        hooks,
    )
    # The start-up hooks, and the app's creation where it sets state (every app is created
    # somewhere: that alone is no start-up code worth a line of the report).
    setters = [setter.what for _, setter in state.keys.values()]
    creating = (*found.factories, *found.flask_factories, *found.app_modules)
    made = [why for _, why in creating if any(why in w for w in setters)]
    code = tuple(dict.fromkeys([*(why for _, why in roots), *made]))
    route_handlers = frozenset(h.key for h in handlers)
    return Reach(
        frozenset(found.route_modules),
        frozenset(reached),
        startup,
        modules,
        state,
        code,
        route_handlers,
        flask,
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
                    if caller.key in self.handlers or routed(caller):
                        return True
                    if caller.key not in seen:
                        seen.add(caller.key)
                        following.append(caller)
            if not following:
                return False
            layer = following
        return False

    def callers(self, target: Func) -> list[Func]:
        """The functions of the program that call (or hand on) `target`: looked for in the files
        that spell its name as a word, once per run."""
        memo = _memo(self.resolver, self.sources)
        if target.key not in memo:
            memo[target.key] = list(self._callers(target))
        return memo[target.key]

    def _callers(self, target: Func) -> Iterator[Func]:
        name = target.name
        rels = self.sources.spelling_word(name)
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


_MEMO: tuple[Resolver, Sources, dict[str, list[Func]]] | None = None


def _memo(resolver: Resolver, sources: Sources) -> dict[str, list[Func]]:
    """The callers found so far in this run (the same resolver and sources)."""
    global _MEMO
    if _MEMO is None or _MEMO[0] is not resolver or _MEMO[1] is not sources:
        _MEMO = (resolver, sources, {})
    return _MEMO[2]
