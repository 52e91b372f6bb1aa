"""Route handlers, start-up hooks and the app's creation that one module declares: FastAPI,
Starlette and Flask (blueprints, class-based views, flask_restful / flask_restx resources)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from codemod.model.nodes import FIRST_REQUEST_HOOKS, REQUEST_HOOKS
from codemod.model.resolve import Func, Resolver
from codemod.model.summary import Arg, Call, Chain, ModuleSummary

ROUTE_METHODS = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "api_route", "websocket", "route"}
)
# registrar -> (the position of the endpoint among its positional arguments, its keyword)
REGISTRARS = {
    "add_api_route": (1, "endpoint"),
    "add_route": (1, "endpoint"),
    "add_websocket_route": (1, "endpoint"),
    "add_api_websocket_route": (1, "endpoint"),
    "add_url_rule": (2, "view_func"),  # Flask: (rule, endpoint, view_func)
}
# Route objects of Starlette and FastAPI: (the position of the endpoint, its keyword)
ROUTE_OBJECTS = {
    "starlette.routing.Route": (1, "endpoint"),
    "starlette.routing.WebSocketRoute": (1, "endpoint"),
    "fastapi.routing.APIRoute": (1, "endpoint"),
    "fastapi.routing.APIWebSocketRoute": (1, "endpoint"),
}
FLASK_APPS = frozenset(
    {"flask.Flask", "flask.app.Flask", "apiflask.APIFlask", "apiflask.app.APIFlask"}
)
FLASK_CLASSES = FLASK_APPS | {"flask.Blueprint", "flask.blueprints.Blueprint"}
APP_CLASSES = (
    frozenset(
        {
            "fastapi.FastAPI",
            "fastapi.applications.FastAPI",
            "fastapi.APIRouter",
            "fastapi.routing.APIRouter",
            "starlette.applications.Starlette",
            "starlette.routing.Router",
        }
    )
    | FLASK_CLASSES
)
# The applications themselves (not routers): what constructs one is the app's start-up.
APPS_ONLY = (
    frozenset(
        {"fastapi.FastAPI", "fastapi.applications.FastAPI", "starlette.applications.Starlette"}
    )
    | FLASK_APPS
)
APP_CONSTRUCTORS = frozenset({"FastAPI", "Starlette", "Flask", "APIFlask"})
APP_HOOKS = frozenset({"lifespan", "on_startup", "on_shutdown"})
# Class-based views: their methods named for HTTP methods (and `dispatch_request`) are handlers.
VIEW_CLASSES = frozenset(
    {
        "flask.views.View",
        "flask.views.MethodView",
        "flask_restful.Resource",
        "flask_restx.Resource",
        "flask_restx.resource.Resource",
        "flask_restplus.Resource",
        "flask_restplus.resource.Resource",
    }
)
VIEW_METHODS = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "dispatch_request"}
)

# Cheap byte tests, before any parse: a module that declares a route, or the app's start-up.
# Each pattern starts with a literal, which `re` finds fast; an alternation at the front would
# make it try every position (3x slower on a big tree).
_ROUTE_DECORATOR = re.compile(
    rb"@[ \t]*(\w+)[\w.]*\.(?:get|post|put|patch|delete|head|options|api_route|websocket|route)"
    rb"[ \t]*\("
)
_ROUTE_CALL = re.compile(rb"\.add_(?:api_|websocket_|api_websocket_|url_)?r(?:oute|ule)[ \t]*\(")
_ROUTE_OBJECT = re.compile(rb"Route[ \t]*\(")
_REQUEST_HOOK = re.compile(rb"\.(?:before|after|teardown)_(?:app_)?request\b")
# `class X(MethodView)`, `class X(views.View)`, `class X(Resource, Mixin)`
_VIEW_CLASS = re.compile(rb"class[ \t]+\w+[ \t]*\([^)]*\b(?:MethodView|View|Resource)\b")
_STARTUP = tuple(
    (word, re.compile(re.escape(word) + pattern))
    for word, pattern in (
        (b"lifespan", rb"[ \t]*="),
        (b"on_startup", rb"[ \t]*="),
        (b"on_shutdown", rb"[ \t]*="),
        (b".on_event", rb"[ \t]*\("),
        (b".add_event_handler", rb"[ \t]*\("),
        (b"_first_request", rb"\b"),
    )
)


def may_declare_routes(data: bytes) -> bool:
    if b"@" in data and any(_bound(root, data) for root in _decorator_roots(data)):
        return True
    if (b"_route" in data or b"_url_rule" in data) and _ROUTE_CALL.search(data) is not None:
        return True
    if b"_request" in data and _REQUEST_HOOK.search(data) is not None:
        return True
    if b"Route" in data and _ROUTE_OBJECT.search(data) is not None:
        return True
    return (b"View" in data or b"Resource" in data) and _VIEW_CLASS.search(data) is not None


def views_deriving(bases: Iterable[str]) -> Callable[[bytes], bool]:
    """A byte test: whether a class of a module may derive from one of these class-based views
    of the program (by name: `class ItemAPI(BaseAPI)` where `BaseAPI` derives from MethodView)."""
    names = [name.encode() for name in bases]
    alternatives = b"|".join(re.escape(name) for name in names)
    pattern = re.compile(rb"class[ \t]+\w+[ \t]*\([^)]*\b(?:" + alternatives + rb")\b")

    def test(data: bytes) -> bool:
        return (
            b"class" in data
            and any(name in data for name in names)
            and pattern.search(data) is not None
        )

    return test


def _decorator_roots(data: bytes) -> set[bytes]:
    """The first names of the objects route-like decorators are on (`app` of `@app.get(`)."""
    return {match.group(1) for match in _ROUTE_DECORATOR.finditer(data)}


def _bound(name: bytes, data: bytes) -> bool:
    """Whether `name` is spelled anywhere but right after an `@`: a name that nothing binds in
    the module (a global injected at run time, as Flask-style apps do) is no FastAPI object
    that the module defines, imports or is given."""
    return re.search(rb"(?<![@\w.])" + re.escape(name) + rb"\b", data) is not None


def may_create_app(data: bytes) -> bool:
    """Whether a module may construct the app (at its top level or in an app factory), or enter
    a Flask app's context at its top level."""
    return (
        b"FastAPI(" in data
        or b"Starlette(" in data
        or b"Flask(" in data
        or b".app_context(" in data
    )


# A `__main__` block that starts the web server: `uvicorn.run(...)`, `app.run(...)`, ...
_SERVES = re.compile(
    rb"uvicorn|hypercorn|waitress|gunicorn|run_simple|run_app|\bapp\.run\(|socketio\.run\(|"
    rb"\.serve\("
)


def may_serve(data: bytes) -> bool:
    """Whether a module may start the web server from its `if __name__ == "__main__":` block."""
    return b"__main__" in data and _SERVES.search(data) is not None


def may_start_up(data: bytes) -> bool:
    # Three scans that every start-up word passes (on_startup, on_shutdown, .on_event; lifespan;
    # .add_event_handler; before_first_request) before one scan per word: most modules fail them.
    if not (
        b"on_" in data
        or b"lifespan" in data
        or b"event_handler" in data
        or b"first_request" in data
    ):
        return False
    return any(word in data and pattern.search(data) is not None for word, pattern in _STARTUP)


@dataclass
class AppCreation:
    """Where one module creates the app: at its top level (or it enters a Flask app's context
    there), and in app factories (FastAPI's and Starlette's, Flask's apart: a worker that
    creates the Flask app runs them)."""

    at_module_level: bool = False
    factories: list[tuple[Func, str]] = field(default_factory=list)
    flask_factories: list[tuple[Func, str]] = field(default_factory=list)
    flask_apps: list[str] = field(default_factory=list)  # module-level names: `app = Flask()`


class ModuleScan:
    """Route handlers and start-up roots declared in one module."""

    def __init__(self, summary: ModuleSummary, rel: str, resolver: Resolver) -> None:
        self.summary = summary
        self.rel = rel
        self.resolver = resolver
        # Whether a handler it declares is Flask's (set by `handlers`).
        self.flask = False
        # The classes it declares that derive from a class-based view (set by `handlers`).
        self.view_classes: list[str] = []
        # The functions registered to run before the first request (set by `startup_roots`):
        # start-up that a worker, which serves no request, never runs.
        self.first_request_hooks: list[Func] = []

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
        """Route handlers, class-based views' methods and Flask's per-request hooks."""
        for function in self.resolver.functions(self.summary):
            for decorator in function.fn.decorators:
                target = decorator.target
                if target is None or len(target) < 2:
                    continue
                route = decorator.is_call and target[-1] in ROUTE_METHODS
                hook = not decorator.is_call and target[-1] in REQUEST_HOOKS
                where = self.resolver.outer(function)
                if (route or hook) and self._is_app(target[:-1], where):
                    self._note_flask(target[:-1], where)
                    yield function
                    break
        for call, where in self._calls(lambda c: c.func[-1] in REGISTRARS):
            name = call.func[-1]
            if len(call.func) < 2:
                continue
            endpoint = argument(call, *REGISTRARS[name])
            if endpoint is None and name not in ("add_api_route", "add_url_rule"):
                endpoint = argument(call, REGISTRARS[name][0], "route")
            if endpoint is not None and self._is_app(call.func[:-1], where):
                self._note_flask(call.func[:-1], where)
                yield from self._endpoints(endpoint, where)
        for call, where in self._calls(lambda c: c.func[-1].endswith("Route")):
            found = self.resolver.qualify_local(call.func, where, self.summary)
            spec = ROUTE_OBJECTS.get(self.resolver.canonical(found)) if found else None
            endpoint = argument(call, *spec) if spec else None
            if endpoint is not None:
                yield from self._endpoints(endpoint, where)
        for call, where in self._calls(lambda c: c.func[-1] in REQUEST_HOOKS):
            hooked = argument(call, 0, "f")
            if len(call.func) > 1 and hooked is not None and self._is_app(call.func[:-1], where):
                yield from self._endpoints(hooked, where)
        yield from self._views()

    def _endpoints(self, arg: Arg, where: Func | None) -> Iterator[Func]:
        """The handler a registration names: a function, or the methods of `View.as_view(...)`."""
        if arg.call is not None and len(arg.call) > 1 and arg.call[-1] == "as_view":
            qualname = self.resolver.qualify_local(arg.call[:-1], where, self.summary)
            cls = self.resolver.class_of(self.resolver.canonical(qualname)) if qualname else None
            if cls is not None:
                self.flask = True
                for name in sorted(VIEW_METHODS):
                    found = self.resolver.member(cls, name)
                    if found is not None:
                        yield found
            return
        found = self.resolver.callee(arg.chain, where, self.summary)
        if found is not None:
            yield found

    def _views(self) -> Iterator[Func]:
        """The methods named for HTTP methods (and `dispatch_request`) of the module's classes
        that derive from a Flask view or a flask_restful / flask_restx Resource."""
        for path, cls in self.summary.classes.items():
            if len(path) != 1 or not cls.bases or not self._derives_view(path[0]):
                continue
            self.view_classes.append(path[0])
            for name, method in cls.methods.items():
                found = self.resolver.func(self.summary, method) if name in VIEW_METHODS else None
                if found is not None:
                    self.flask = True
                    yield found

    def _derives_view(self, name: str) -> bool:
        return self.resolver.derives_from(f"{self.summary.module}.{name}", VIEW_CLASSES)

    def _note_flask(self, chain: Chain, where: Func | None) -> None:
        if not self.flask and self._is_app(chain, where, FLASK_CLASSES):
            self.flask = True

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
                if not target or len(target) < 2:
                    continue
                if (
                    decorator.is_call
                    and target[-1] == "on_event"
                    and decorator.first in ("startup", "shutdown")
                ):
                    out.append(
                        (function, f"{decorator.first} handler `{function.display}` ({rel})")
                    )
                elif not decorator.is_call and target[-1] in FIRST_REQUEST_HOOKS:
                    out.append((function, f"{target[-1]} hook `{function.display}` ({rel})"))
                    self.first_request_hooks.append(function)
        for call, where in self._calls(lambda c: c.func[-1] == "add_event_handler"):
            if len(call.func) < 2:
                continue
            event = argument(call, 0, "event_type")
            handler = argument(call, 1, "func")
            if event is not None and event.const in ("startup", "shutdown") and handler:
                add(handler, where, f"{event.const} handler")
        for call, where in self._calls(lambda c: c.func[-1] in FIRST_REQUEST_HOOKS):
            registered = argument(call, 0, "f")
            if len(call.func) > 1 and registered is not None:
                before = len(out)
                add(registered, where, f"{call.func[-1]} hook")
                self.first_request_hooks += [f for f, _ in out[before:]]
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

    def app_creation(self) -> AppCreation:
        """Whether the module constructs the app at its top level (or enters a Flask app's
        context there), and the functions that construct it (app factories: start-up code when
        the app is created)."""
        found = AppCreation()
        for call, where in self._calls(lambda c: c.func[-1] in APP_CONSTRUCTORS):
            if not self._constructs_app(call.func, where, APPS_ONLY):
                continue
            if where is None:
                found.at_module_level = True
                continue
            flask = self._constructs_app(call.func, where, FLASK_APPS)
            listed = found.flask_factories if flask else found.factories
            if all(f.key != where.key for f, _ in listed):
                listed.append((where, f"app factory `{where.display}` ({self.rel})"))
        top = self.resolver.top_level(self.summary)
        if top is not None and any(
            len(ref.chain) > 1 and ref.chain[-1] == "app_context" for ref in top.fn.refs
        ):
            found.at_module_level = True  # `with app.app_context(): ...` at import
        for function in self.resolver.functions(self.summary):
            # a module-level function that sets up a Flask app made elsewhere and returns it
            # (`def make_app(config): app.config.update(config); ...; return app`)
            if (
                len(function.path) == 1
                and function.fn.returned
                and all(f.key != function.key for f, _ in found.flask_factories)
                and any(self._is_app(c, function, FLASK_APPS) for c in function.fn.returned)
            ):
                why = f"app factory `{function.display}` ({self.rel})"
                found.flask_factories.append((function, why))
        for name, binding in self.summary.bindings.items():
            made = binding.value.call if binding.value is not None else None
            if (
                binding.kind == "assign"
                and made is not None
                and made[-1] in APP_CONSTRUCTORS
                and self._constructs_app(made, None, FLASK_APPS)
            ):
                found.flask_apps.append(name)
        return found

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

    def _is_app(
        self,
        chain: Chain,
        function: Func | None,
        classes: frozenset[str] = APP_CLASSES,
        depth: int = 0,
    ) -> bool:
        """Whether an expression is a FastAPI, APIRouter, Starlette, Flask or Blueprint object
        (or of a class of the repository deriving from one): by the constructor or annotation
        that defines the name (`classes`: which of them)."""
        if depth > 4 or not chain:
            return False
        if len(chain) > 1 and chain[-1] == "router":  # `app.router`
            return self._is_app(chain[:-1], function, classes, depth + 1)
        if len(chain) == 1 and function is not None:
            scope: Func | None = function
            while scope is not None:  # a local of the function or of one around it
                local = scope.fn.locals.get(chain[0])
                if local is not None:
                    return self._defines_app(self.summary, local.cls, classes)
                scope = self.resolver.outer(scope)
        name = self.resolver.qualify_chain(self.summary, chain)
        return name is not None and self._is_app_named(name, classes, depth)

    def _is_app_named(self, qualname: str, classes: frozenset[str], depth: int) -> bool:
        """The module-level name `qualname` (followed through imports) is such an object."""
        found = self.resolver.assigned(qualname) if depth <= 4 else None
        return found is not None and self._defines_app(found[0], found[1].cls, classes)

    def _defines_app(
        self, summary: ModuleSummary, cls: Chain | None, classes: frozenset[str]
    ) -> bool:
        """`x = FastAPI(...)`, `x: APIRouter = ...`, or a parameter annotated so."""
        name = self.resolver.qualify_chain(summary, cls)
        return name is not None and self.resolver.derives_from(
            self.resolver.canonical(name), classes
        )


def argument(call: Call, position: int, keyword: str) -> Arg | None:
    for name, value in call.keywords:
        if name == keyword:
            return value
    if position < len(call.args) and not call.args[position].starred:
        return call.args[position]
    return None


def routed(function: Func) -> bool:
    """A function decorated as a route (`@manager.route("/x", methods=[...])`) on an object the
    program does not show: a request handler all the same (an app injected at run time)."""
    return any(
        decorator.is_call
        and decorator.target is not None
        and len(decorator.target) > 1
        and decorator.target[-1] in ROUTE_METHODS
        for decorator in function.fn.decorators
    )
