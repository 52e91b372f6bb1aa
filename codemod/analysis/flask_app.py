"""Which Flask app a worker creates (`flask-app`, or the one the project makes), and where that
creation runs: the generated runner creates the app in every worker process, so what it sets
(the factory and what it calls, the module that builds the app, extensions' `init_app`) is set
in the worker too."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from codemod.analysis.routes import AppCreation
from codemod.model.files import module_name
from codemod.model.resolve import Func, Resolver
from codemod.model.sources import Sources
from codemod.model.summary import ModuleSummary

# How many modules that spell a factory's name are looked into for `app = create_app(...)`.
MAX_FACTORY_CALLERS = 40


@dataclass(frozen=True)
class FlaskApps:
    """The project's Flask side: where it declares Flask routes, the apps a worker could
    create ("module:attr" for an app a module builds, "module:factory" for an app factory a
    worker can call with no argument), and the one it does create (`flask-app`, else the only
    one found)."""

    routes: tuple[str, ...] = ()  # the files that declare Flask routes or views
    candidates: tuple[str, ...] = ()
    chosen: str | None = None
    configured: bool = False  # `chosen` is the `flask-app` setting

    @property
    def used(self) -> bool:
        """Whether the project is a Flask app (its jobs run in the app's context)."""
        return bool(self.routes or self.candidates or self.configured)


def find_flask_apps(
    creations: Iterable[tuple[ModuleSummary, AppCreation]],
    resolver: Resolver,
    sources: Sources,
    routes: Iterable[str],
    configured: str | None,
) -> FlaskApps:
    """The Flask apps of the modules that create one (`creations`), and the one chosen."""
    found: list[str] = []
    needing: list[Func] = []  # factories that take arguments: a worker cannot call them
    for summary, creation in creations:
        found += [f"{summary.module}:{name}" for name in creation.flask_apps]
        for factory, _ in creation.flask_factories:
            if len(factory.path) != 1 or not _returns_app(factory):
                continue
            if _required(factory):
                needing.append(factory)
            else:
                found.append(f"{factory.module}:{factory.name}")
    found += _built_by(needing, resolver, sources)
    candidates = tuple(dict.fromkeys(found))
    chosen = configured or (candidates[0] if len(candidates) == 1 else None)
    return FlaskApps(tuple(sorted(set(routes))), candidates, chosen, configured is not None)


def _returns_app(factory: Func) -> bool:
    """Whether a function that constructs an app returns something (the app: a factory)."""
    return factory.fn.returns_value or factory.fn.returns is not None


def _required(function: Func) -> bool:
    return any(
        p.default is None and p.kind in ("posonly", "normal", "kwonly") for p in function.fn.params
    )


def _built_by(factories: list[Func], resolver: Resolver, sources: Sources) -> list[str]:
    """`app = create_app("production")` at a module's top level, for factories that take
    arguments: the module's `app` is what a worker imports."""
    out: list[str] = []
    program = resolver.program
    for factory in factories:
        rels = sources.spelling_word(factory.name)
        if len(rels) > MAX_FACTORY_CALLERS:
            continue
        for rel in rels:
            summary = program.module(module_name(rel))
            if summary is None:
                continue
            for name, binding in summary.bindings.items():
                made = binding.value.call if binding.value is not None else None
                if binding.kind != "assign" or made is None or made[-1] != factory.name:
                    continue
                called = resolver.callee(made, None, summary)
                if called is not None and called.key == factory.key:
                    out.append(f"{summary.module}:{name}")
    return out


def creation_roots(
    spec: str | None, resolver: Resolver
) -> tuple[list[tuple[Func, str]], list[tuple[ModuleSummary, str]]]:
    """What a worker runs to create the app `spec`: the module's top level (importing it), and
    the factory when `spec` names one."""
    if spec is None:
        return [], []
    module, _, name = spec.partition(":")
    summary = resolver.program.module(module)
    if summary is None:
        return [], []
    why = f"the Flask app `{spec}`, which the worker creates"
    binding = summary.bindings.get(name)
    functions: list[tuple[Func, str]] = []
    if binding is not None and binding.kind == "def":
        factory = resolver.func(summary, (name,))
        if factory is not None:
            functions.append((factory, why))
    return functions, [(summary, why)]
