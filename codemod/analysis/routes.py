"""Route handlers, start-up hooks and the app's creation that one module declares."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from codemod.model.resolve import Func, Resolver
from codemod.model.summary import Arg, Call, Chain, ModuleSummary

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


class ModuleScan:
    """Route handlers and start-up roots declared in one module."""

    def __init__(self, summary: ModuleSummary, rel: str, resolver: Resolver) -> None:
        self.summary = summary
        self.rel = rel
        self.resolver = resolver

    def _scopes(self) -> Iterator[Func | None]:
        """The module's top level (None) and its functions."""
        yield None
        yield from self.resolver.functions(self.summary)

    def _calls(self, wanted: Callable[[Call], bool]) -> Iterator[tuple[Call, Func | None]]:
        """The calls summarised in full (summary.Call) that `wanted` takes, with the function
        each is in (None: the module's top level)."""
        top = self.resolver.top_level(self.summary)
        for scope in self._scopes():
            function = scope or top
            if function is None:
                continue
            for call in function.fn.calls:
                if wanted(call):
                    yield call, scope

    def handlers(self) -> Iterator[Func]:
        for function in self.resolver.functions(self.summary):
            for decorator in function.fn.decorators:
                target = decorator.target
                if (
                    decorator.is_call
                    and target is not None
                    and len(target) > 1
                    and target[-1] in ROUTE_METHODS
                    and self._is_app(target[:-1], self.resolver.outer(function))
                ):
                    yield function
                    break
        for call, where in self._calls(lambda c: c.func[-1] in REGISTRARS):
            name = call.func[-1]
            if len(call.func) < 2:
                continue
            endpoint = argument(call, REGISTRARS[name], "endpoint")
            if endpoint is None and name != "add_api_route":
                endpoint = argument(call, REGISTRARS[name], "route")
            if endpoint is not None and self._is_app(call.func[:-1], where):
                found = self.resolver.callee(endpoint.chain, where, self.summary)
                if found is not None:
                    yield found

    def startup_roots(self) -> list[tuple[Func, str]]:
        out: list[tuple[Func, str]] = []
        rel = self.rel

        def add(arg: Arg, function: Func | None, what: str) -> None:
            target = arg.call or arg.chain  # a lifespan factory: its function
            found = self.resolver.callee(target, function, self.summary)
            if found is not None:
                out.append((found, f"{what} `{found.display}` ({rel})"))

        for function in self.resolver.functions(self.summary):
            for decorator in function.fn.decorators:
                target = decorator.target
                if (
                    decorator.is_call
                    and target
                    and len(target) > 1
                    and target[-1] == "on_event"
                    and decorator.first in ("startup", "shutdown")
                ):
                    out.append(
                        (function, f"{decorator.first} handler `{function.display}` ({rel})")
                    )
        for call, where in self._calls(lambda c: c.func[-1] == "add_event_handler"):
            if len(call.func) < 2:
                continue
            event = argument(call, 0, "event_type")
            handler = argument(call, 1, "func")
            if event is not None and event.const in ("startup", "shutdown") and handler:
                add(handler, where, f"{event.const} handler")
        for call, where in self._calls(lambda c: any(k in APP_HOOKS for k, _ in c.keywords)):
            if not self._constructs_app(call.func, where, APP_CLASSES):
                continue
            for keyword, value in call.keywords:
                if keyword == "lifespan":
                    add(value, where, "lifespan")
                elif keyword in ("on_startup", "on_shutdown"):
                    hook = keyword.removeprefix("on_")
                    for element in value.elts or ():
                        add(Arg(element, None, None, None, False), where, f"{hook} handler")
        return out

    def app_creation(self) -> tuple[bool, list[tuple[Func, str]]]:
        """Whether the module constructs the app at its top level, and the functions that
        construct it (app factories, start-up code when the app is created)."""
        at_module_level = False
        factories: list[tuple[Func, str]] = []
        for call, where in self._calls(lambda c: c.func[-1] in ("FastAPI", "Starlette")):
            if not self._constructs_app(call.func, where, APPS_ONLY):
                continue
            if where is None:
                at_module_level = True
            elif all(f.key != where.key for f, _ in factories):
                factories.append((where, f"app factory `{where.display}` ({self.rel})"))
        return at_module_level, factories

    def _constructs_app(self, func: Chain, function: Func | None, classes: frozenset[str]) -> bool:
        name = self._qualname(func, function)
        return name is not None and self.resolver.derives_from(name, classes)

    def _qualname(self, chain: Chain, function: Func | None) -> str | None:
        if len(chain) == 1 and function is not None:
            local = function.fn.locals.get(chain[0])
            if local is not None:
                return local.target if local.kind == "import" else None
        name = self.resolver.qualify_chain(self.summary, chain)
        return self.resolver.canonical(name) if name else None

    def _is_app(self, chain: Chain, function: Func | None, depth: int = 0) -> bool:
        """Whether an expression is a FastAPI, APIRouter or Starlette object (or of a class of the
        repository deriving from one): by the constructor or annotation that defines the name."""
        if depth > 4 or not chain:
            return False
        if len(chain) > 1 and chain[-1] == "router":  # `app.router`
            return self._is_app(chain[:-1], function, depth + 1)
        if len(chain) == 1 and function is not None:
            local = function.fn.locals.get(chain[0])
            if local is not None:
                return self._defines_app(self.summary, local.cls)
        name = self.resolver.qualify_chain(self.summary, chain)
        return name is not None and self._is_app_named(name, depth)

    def _is_app_named(self, qualname: str, depth: int) -> bool:
        """The module-level name `qualname` (followed through imports) is such an object."""
        found = self.resolver.split(qualname) if depth <= 4 else None
        if found is None:
            return False
        summary, rest = found
        binding = summary.bindings.get(rest)
        if binding is None:
            return False
        if binding.kind == "import":
            return self._is_app_named(binding.target, depth + 1)
        return binding.value is not None and self._defines_app(summary, binding.value.cls)

    def _defines_app(self, summary: ModuleSummary, cls: Chain | None) -> bool:
        """`x = FastAPI(...)`, `x: APIRouter = ...`, or a parameter annotated so."""
        name = self.resolver.qualify_chain(summary, cls)
        return name is not None and self.resolver.derives_from(
            self.resolver.canonical(name), APP_CLASSES
        )


def argument(call: Call, position: int, keyword: str) -> Arg | None:
    for name, value in call.keywords:
        if name == keyword:
            return value
    if position < len(call.args) and not call.args[position].starred:
        return call.args[position]
    return None
