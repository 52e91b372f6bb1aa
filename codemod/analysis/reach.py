"""Where a call site is started from: route handlers and what they call, or the app's start-up."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from codemod.analysis.detect import MARKERS, markers
from codemod.analysis.state import StartupState, collect_state
from codemod.model.calls import Function, Resolver, body_nodes, class_named_by, last_name
from codemod.model.files import module_name
from codemod.model.index import ModuleInfo, RepoIndex
from codemod.model.syntax import FunctionNode, spans_line, word_lines

ROUTE_METHODS = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "api_route", "websocket", "route"}
)
# registrar -> the position of the endpoint among its positional arguments
REGISTRARS = {
    "add_api_route": 1,
    "add_route": 1,
    "add_websocket_route": 1,
    "add_api_websocket_route": 1,
}
APP_CLASSES = frozenset(
    {
        "fastapi.FastAPI",
        "fastapi.applications.FastAPI",
        "fastapi.APIRouter",
        "fastapi.routing.APIRouter",
        "starlette.applications.Starlette",
        "starlette.routing.Router",
    }
)
# The applications themselves (not routers): what constructs one is the app's start-up.
APPS_ONLY = frozenset(
    {"fastapi.FastAPI", "fastapi.applications.FastAPI", "starlette.applications.Starlette"}
)
APP_HOOKS = frozenset({"lifespan", "on_startup", "on_shutdown"})
# How many calls deep a handler's or the start-up's reach is followed.
MAX_DEPTH = 8

# Cheap byte tests, before any parse: a module that declares a route, or the app's start-up.
# Each pattern starts with a literal, which `re` finds fast; an alternation at the front would
# make it try every position (3x slower on a big tree).
_ROUTE_DECORATOR = re.compile(
    rb"@[ \t]*(\w+)[\w.]*\.(?:get|post|put|patch|delete|head|options|api_route|websocket|route)"
    rb"[ \t]*\("
)
_ROUTE_CALL = re.compile(rb"\.add_(?:api_|websocket_|api_websocket_)?route[ \t]*\(")
_STARTUP = tuple(
    (word, re.compile(re.escape(word) + pattern))
    for word, pattern in (
        (b"lifespan", rb"[ \t]*="),
        (b"on_startup", rb"[ \t]*="),
        (b"on_shutdown", rb"[ \t]*="),
        (b".on_event", rb"[ \t]*\("),
        (b".add_event_handler", rb"[ \t]*\("),
    )
)


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
    files: tuple[tuple[str, str], ...] = ()  # every file of the run: (root-relative path, module)

    @property
    def handler_modules(self) -> frozenset[str]:
        return self.called_modules | self.route_modules

    def started_at_startup(self, key: str) -> str | None:
        """Where the start-up reaches a function from, if a start-up root reaches it and no route
        handler does; None otherwise."""
        return self.startup.get(key)  # find_reach leaves out what a handler reaches


def may_declare_routes(data: bytes) -> bool:
    if b"@" in data and any(_bound(root, data) for root in _decorator_roots(data)):
        return True
    return b"_route" in data and _ROUTE_CALL.search(data) is not None


def _decorator_roots(data: bytes) -> set[bytes]:
    """The first names of the objects route-like decorators are on (`app` of `@app.get(`)."""
    return {match.group(1) for match in _ROUTE_DECORATOR.finditer(data)}


def _bound(name: bytes, data: bytes) -> bool:
    """Whether `name` is spelled anywhere but right after an `@`: a name that nothing binds in
    the module (a global injected at run time, as Flask-style apps do) is no FastAPI object
    that the module defines, imports or is given."""
    return re.search(rb"(?<![@\w.])" + re.escape(name) + rb"\b", data) is not None


def may_create_app(data: bytes) -> bool:
    """Whether a module may construct the app (at its top level or in an app factory)."""
    return b"FastAPI(" in data or b"Starlette(" in data


def may_start_up(data: bytes) -> bool:
    # Three scans that every start-up word passes (on_startup, on_shutdown, .on_event; lifespan;
    # .add_event_handler) before one scan per word: most modules fail the first three.
    if not (b"on_" in data or b"lifespan" in data or b"event_handler" in data):
        return False
    return any(word in data and pattern.search(data) is not None for word, pattern in _STARTUP)


def find_reach(
    files: Iterable[tuple[Path, str]], index: RepoIndex, worker_startup: Iterable[str] = ()
) -> Reach:
    """Route handlers and start-up roots among `files` (path, root-relative path), what they
    reach, and the state the start-up sets (less what the `worker_startup` callables set). Only
    files whose bytes could declare routes, start-up or the app are parsed, then what they call."""
    resolver = Resolver(index)
    sources = _Sources(files)
    handlers: list[Function] = []
    roots: list[tuple[Function, str]] = []
    factories: list[tuple[Function, str]] = []
    app_modules: list[tuple[ModuleInfo, str]] = []
    route_modules: set[str] = set()
    for path, rel, data in sources.items():
        routes, starts, creates = may_declare_routes(data), may_start_up(data), may_create_app(data)
        if not (routes or starts or creates):
            continue
        info = index.module(module_name(rel))
        if info is None or info.path != path:
            continue
        scan = _ModuleScan(info, resolver)
        if routes:
            found = list(scan.handlers())
            if found:
                route_modules.add(info.module)
                handlers += found
        if starts:
            roots += scan.startup_roots(rel)
        if creates:
            at_module_level, found_factories = scan.app_creation(rel)
            if at_module_level:
                app_modules.append((info, f"the module level of {rel}"))
            factories += found_factories
    # What handlers call directly: the modules that hold request work (discovery, part c), of
    # which only those that may hold a call site matter (and packages, for their re-exports).
    reached = (
        reached_from(((h, "") for h in handlers), Resolver(index, sources.wanted()), depth=1)
        if handlers
        else {}
    )
    at_startup = reached_from(roots, resolver, depth=MAX_DEPTH)
    # Start-up work that holds a background call, and that no handler reaches (looked for
    # backwards from it: far fewer modules to parse than all that every handler reaches).
    search = _Callers(sources, resolver, frozenset(reached), frozenset(f.key for f, _ in roots))
    startup = {
        key: why
        for key, (function, why) in at_startup.items()
        if key not in reached and starts_background_work(function) and not search.reaches(function)
    }
    modules = frozenset(function.info.module for function, _ in reached.values())
    state = collect_state(
        [*roots, *factories],
        app_modules,
        resolver,
        worker_startup,
    )
    # The start-up hooks, and the app's creation where it sets state (every app is created
    # somewhere: that alone is no start-up code worth a line of the report).
    setters = [setter.what for _, setter in state.keys.values()]
    made = [why for _, why in (*factories, *app_modules) if any(why in w for w in setters)]
    code = tuple(dict.fromkeys([*(why for _, why in roots), *made]))
    every = tuple((rel, module_name(rel)) for _, rel, _ in sources.items())
    return Reach(frozenset(route_modules), frozenset(reached), startup, modules, state, code, every)


def starts_background_work(function: Function) -> bool:
    """Whether a function's own body spells a call of a background starter, by the names it may
    have in its module (`from asyncio import create_task as spawn` included)."""
    names = markers(function.info.source)[1]
    return any(
        isinstance(node, ast.Call) and last_name(node.func) in names
        for node in body_nodes(function.node)
    )


def reached_from(
    roots: Iterable[tuple[Function, str]],
    resolver: Resolver,
    depth: int,
    budget: int | None = None,
) -> dict[str, tuple[Function, str]]:
    """Every function reached from the roots by calls (and functions passed as arguments),
    breadth first, at most `depth` calls deep and `budget` functions in all: key -> (function,
    the root's description), in the order reached."""
    seen: dict[str, tuple[Function, str]] = {}
    layer: list[tuple[Function, str]] = []
    for function, why in roots:
        if function.key not in seen:
            seen[function.key] = (function, why)
            layer.append((function, why))
    for _ in range(depth):
        following: list[tuple[Function, str]] = []
        for function, why in layer:
            for called in callees(function, resolver):
                if called.key not in seen and (budget is None or len(seen) < budget):
                    seen[called.key] = (called, why)
                    following.append((called, why))
        if not following:
            break
        layer = following
    return seen


class _Sources:
    """The bytes of every file of the run, read once."""

    def __init__(self, files: Iterable[tuple[Path, str]]) -> None:
        self.data: list[tuple[Path, str, bytes]] = []
        for path, rel in files:
            try:
                self.data.append((path, rel, path.read_bytes()))
            except OSError:
                continue

    def wanted(self) -> frozenset[str]:
        """The modules that may hold a call site, and the packages."""
        return frozenset(
            module_name(rel)
            for _, rel, data in self.data
            if rel.endswith("__init__.py") or any(m in data for m in MARKERS)
        )

    def items(self) -> list[tuple[Path, str, bytes]]:
        return self.data

    def spelling(self, word: str) -> list[str]:
        """The root-relative paths of the files that spell `word`."""
        needle = word.encode()
        return [rel for _, rel, data in self.data if needle in data]


# A backward search that would parse more files than this gives up: the function then counts
# as reached by no handler (a start-up site is refused rather than migrated).
MAX_CALLER_FILES = 150


class _Callers:
    """Whether a route handler reaches a function, searched backwards through its callers."""

    def __init__(
        self,
        sources: _Sources,
        resolver: Resolver,
        handlers: frozenset[str],
        roots: frozenset[str],
    ) -> None:
        self.sources = sources
        self.resolver = resolver
        self.handlers = handlers
        self.roots = roots  # start-up roots: the framework calls them, their callers are moot

    def reaches(self, function: Function) -> bool:
        seen = {function.key}
        layer = [function]
        for _ in range(MAX_DEPTH):
            following: list[Function] = []
            for target in layer:
                if target.key in self.roots:
                    continue
                for caller in self._callers(target):
                    if caller.key in self.handlers:
                        return True
                    if caller.key not in seen:
                        seen.add(caller.key)
                        following.append(caller)
            if not following:
                return False
            layer = following
        return False

    def _callers(self, target: Function) -> Iterator[Function]:
        rels = self.sources.spelling(target.node.name)
        if len(rels) > MAX_CALLER_FILES:
            return
        for rel in rels:
            info = self.resolver.index.module(module_name(rel))
            if info is None:
                continue
            lines = word_lines(info.source, [target.node.name])
            for function in self.resolver.functions(info).values():
                if not spans_line(function.node, lines):
                    continue
                called = callees(function, self.resolver, target.node.name, lines)
                if any(c.key == target.key for c in called):
                    yield function


def callees(
    function: Function, resolver: Resolver, name: str | None = None, lines: list[int] | None = None
) -> Iterator[Function]:
    """The repository functions a function calls, or passes on as an argument (to `add_task`,
    `to_thread`, a registry, ...), as far as they resolve by name; only those spelled `name`
    (on `lines`) when it is given."""
    info = function.info
    for node in body_nodes(function.node, lines):
        if not isinstance(node, ast.Call):
            continue
        for expr in (node.func, *node.args, *(k.value for k in node.keywords)):
            if expr is not node.func and not isinstance(expr, ast.Name | ast.Attribute):
                continue
            if name is not None and last_name(expr) != name:
                continue
            found = resolver.callee(expr, function, info)
            if found is not None:
                yield found


class _ModuleScan:
    """Route handlers and start-up roots declared in one module."""

    def __init__(self, info: ModuleInfo, resolver: Resolver) -> None:
        self.info = info
        self.resolver = resolver

    def _functions(self) -> list[Function]:
        return list(self.resolver.functions(self.info).values())

    def handlers(self) -> Iterator[Function]:
        for function in self._functions():
            if any(self._is_route_decorator(d, function) for d in function.node.decorator_list):
                yield function
        for call, where in self._calls(REGISTRARS):
            func = call.func
            if not isinstance(func, ast.Attribute) or func.attr not in REGISTRARS:
                continue
            endpoint = _argument(call, REGISTRARS[func.attr], "endpoint")
            if endpoint is None and func.attr != "add_api_route":
                endpoint = _argument(call, REGISTRARS[func.attr], "route")
            if endpoint is not None and self._is_app(func.value, where):
                found = self.resolver.callee(endpoint, where, self.info)
                if found is not None:
                    yield found

    def startup_roots(self, rel: str) -> list[tuple[Function, str]]:
        out: list[tuple[Function, str]] = []

        def add(expr: ast.expr, function: Function | None, what: str) -> None:
            target = expr.func if isinstance(expr, ast.Call) else expr  # a lifespan factory
            found = self.resolver.callee(target, function, self.info)
            if found is not None:
                out.append((found, f"{what} `{found.display}` ({rel})"))

        for function in self._functions():
            for decorator in function.node.decorator_list:
                event = _event_of(decorator)
                if event is not None:
                    out.append((function, f"{event} handler `{function.display}` ({rel})"))
        for call, where in self._calls(("add_event_handler", *APP_HOOKS)):
            func = call.func
            if isinstance(func, ast.Attribute) and func.attr == "add_event_handler":
                event = _string(_argument(call, 0, "event_type"))
                handler = _argument(call, 1, "func")
                if event in ("startup", "shutdown") and handler is not None:
                    add(handler, where, f"{event} handler")
                continue
            if not any(k.arg in APP_HOOKS for k in call.keywords):
                continue
            if not self._constructs_app(call, where):
                continue
            for keyword in call.keywords:
                if keyword.arg == "lifespan":
                    add(keyword.value, where, "lifespan")
                elif keyword.arg in ("on_startup", "on_shutdown"):
                    event = keyword.arg.removeprefix("on_")
                    for element in getattr(keyword.value, "elts", []):
                        add(element, where, f"{event} handler")
        return out

    def app_creation(self, rel: str) -> tuple[bool, list[tuple[Function, str]]]:
        """Whether the module constructs the app at its top level, and the functions that
        construct it (app factories, start-up code when the app is created)."""
        at_module_level = False
        factories: list[tuple[Function, str]] = []
        for call, where in self._calls(("FastAPI", "Starlette")):
            if not self._constructs_app(call, where, APPS_ONLY):
                continue
            if where is None:
                at_module_level = True
            elif all(f.key != where.key for f, _ in factories):
                factories.append((where, f"app factory `{where.display}` ({rel})"))
        return at_module_level, factories

    def _calls(self, words: Iterable[str]) -> Iterator[tuple[ast.Call, Function | None]]:
        """The calls of the module on lines that spell one of `words`, with the function each is
        in (None: module level)."""
        lines = word_lines(self.info.source, words)
        if not lines:
            return
        for node in _module_level_nodes(self.info.tree):
            if isinstance(node, ast.Call) and spans_line(node, lines):
                yield node, None
        for function in self._functions():
            if spans_line(function.node, lines):
                for node in body_nodes(function.node, lines):
                    if isinstance(node, ast.Call):
                        yield node, function

    def _is_route_decorator(self, decorator: ast.expr, function: Function) -> bool:
        if not isinstance(decorator, ast.Call) or not isinstance(decorator.func, ast.Attribute):
            return False
        if decorator.func.attr not in ROUTE_METHODS:
            return False
        return self._is_app(decorator.func.value, self.resolver.outer(function))

    def _constructs_app(
        self, call: ast.Call, function: Function | None, classes: frozenset[str] = APP_CLASSES
    ) -> bool:
        name = self._qualname(call.func, function)
        return name is not None and self.resolver.derives_from(name, classes)

    def _qualname(self, expr: ast.expr, function: Function | None) -> str | None:
        if isinstance(expr, ast.Name) and function is not None:
            local = self.resolver.local_bindings(function).get(expr.id)
            if local is not None:
                return local.target if local.kind == "import" else None
        name = self.info.qualify_expr(expr)
        return self.resolver.canonical(name) if name else None

    def _is_app(self, expr: ast.expr, function: Function | None, depth: int = 0) -> bool:
        """Whether an expression is a FastAPI, APIRouter or Starlette object (or of a class of the
        repository deriving from one): by the constructor or annotation that defines the name."""
        if depth > 4:
            return False
        if isinstance(expr, ast.Attribute) and expr.attr == "router":  # `app.router`
            return self._is_app(expr.value, function, depth + 1)
        if isinstance(expr, ast.Name) and function is not None:
            local = self.resolver.local_bindings(function).get(expr.id)
            if local is not None:
                return self._defines_app(self.info, local.node)
        name = self.info.qualify_expr(expr)
        return name is not None and self._is_app_named(name, depth)

    def _is_app_named(self, qualname: str, depth: int) -> bool:
        """The module-level name `qualname` (followed through imports) is such an object."""
        found = self.resolver.index.split(qualname)
        if found is None or depth > 4:
            return False
        info, rest = found
        binding = info.bindings.get(rest)
        if binding is None:
            return False
        if binding.kind == "import":
            return self._is_app_named(binding.target, depth + 1)
        return self._defines_app(info, binding.node)

    def _defines_app(self, info: ModuleInfo, node: ast.AST | None) -> bool:
        """`x = FastAPI(...)`, `x: APIRouter = ...`, or a parameter annotated so."""
        name = class_named_by(info, node)
        return name is not None and self.resolver.derives_from(
            self.resolver.canonical(name), APP_CLASSES
        )


def _module_level_nodes(tree: ast.Module) -> Iterator[ast.AST]:
    stack: list[ast.AST] = list(reversed(tree.body))
    while stack:
        current = stack.pop()
        if isinstance(current, FunctionNode | ast.ClassDef):
            stack.extend(reversed(current.decorator_list))
            continue
        yield current
        stack.extend(reversed(list(ast.iter_child_nodes(current))))


def _argument(call: ast.Call, position: int, keyword: str) -> ast.expr | None:
    for k in call.keywords:
        if k.arg == keyword:
            return k.value
    if position < len(call.args) and not isinstance(call.args[position], ast.Starred):
        return call.args[position]
    return None


def _string(expr: ast.expr | None) -> str | None:
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value
    return None


def _event_of(decorator: ast.expr) -> str | None:
    """ "startup" / "shutdown" for `@x.on_event("startup")`."""
    if (
        isinstance(decorator, ast.Call)
        and isinstance(decorator.func, ast.Attribute)
        and decorator.func.attr == "on_event"
    ):
        event = _string(_argument(decorator, 0, "event_type"))
        return event if event in ("startup", "shutdown") else None
    return None


def function_key(module: str, parents: Iterable[ast.AST]) -> str | None:
    """The reach key of the innermost function among a node's parents (None: module level)."""
    names: list[str] = []
    last_function = 0
    for parent in parents:
        if isinstance(parent, FunctionNode | ast.ClassDef):
            names.append(parent.name)
            if isinstance(parent, FunctionNode):
                last_function = len(names)
    return ".".join((module, *names[:last_function])) if last_function else None
