"""FastAPI dependencies among a handler's parameters: what provides them, and what type they are."""

from __future__ import annotations

import ast
from dataclasses import dataclass

from codemod.analysis.aliases import MAX_ALIAS_DEPTH, alias_of, qualify_expr
from codemod.model.resolve import Resolver
from codemod.model.signature import provider_text
from codemod.model.summary import ModuleSummary
from codemod.model.syntax import last_name, parse_expression

DEPENDS = frozenset({"Depends", "Security"})
ANNOTATED = frozenset({"typing.Annotated", "typing_extensions.Annotated"})


@dataclass(frozen=True)
class Dependency:
    """`p: T = Depends(provider)`, `p: Annotated[T, Depends(provider)]` or an alias of that."""

    provider: str  # as spelled: "get_db"
    value_type: ast.expr | None  # T, where `summary` spells it
    summary: ModuleSummary


def dependency_of(
    depends: str | None, annotation: str | None, summary: ModuleSummary, resolver: Resolver
) -> Dependency | None:
    """The dependency a parameter is, from its `Depends(...)` default's provider (`depends`) or
    its annotation (`Annotated[T, Depends(...)]`, or an alias of one), if it is one."""
    parsed = parse_expression(annotation) if annotation else None
    if depends is not None:
        return Dependency(depends, parsed, summary)
    where = summary
    for _ in range(MAX_ALIAS_DEPTH):
        if isinstance(parsed, ast.Subscript):
            if qualify_expr(where, parsed.value, resolver) not in ANNOTATED:
                return None
            items = parsed.slice
            parts = list(items.elts) if isinstance(items, ast.Tuple) else [items]
            found = next((p for p in parts[1:] if is_depends(p)), None)
            if not isinstance(found, ast.Call):
                return None
            return Dependency(provider_text(found), parts[0], where)
        qualname = qualify_expr(where, parsed, resolver) if parsed is not None else None
        aliased = alias_of(qualname, resolver) if qualname else None
        if not isinstance(aliased, tuple):
            return None
        parsed, where = aliased
    return None


def is_depends(expr: ast.expr | None) -> bool:
    return isinstance(expr, ast.Call) and last_name(expr.func) in DEPENDS


# What a provider may not take if a worker is to call it: the request and its connection.
REQUEST_TYPES = frozenset(
    {
        "fastapi.Request",
        "fastapi.WebSocket",
        "fastapi.requests.Request",
        "fastapi.requests.HTTPConnection",
        "fastapi.websockets.WebSocket",
        "starlette.requests.Request",
        "starlette.requests.HTTPConnection",
        "starlette.websockets.WebSocket",
    }
)


def provider_spec(dependency: Dependency, resolver: Resolver) -> str | None:
    """The provider as `module:function`, if it is a module-level function of the program."""
    parsed = parse_expression(dependency.provider)
    expr = qualify_expr(dependency.summary, parsed, resolver) if parsed is not None else None
    resolved = resolver.resolve(expr) if expr else None
    if resolved is None or resolved[1].kind != "def":
        return None
    return f"{resolved[0].module}:{resolved[1].target}"


def needs_the_request(provider: str, resolver: Resolver) -> str | None:
    """Why a provider (`module:function` of the program) cannot be called by a worker: a
    parameter without a default, one that is itself a dependency, or the request; None when it
    can (every parameter optional, none of those)."""
    module, _, name = provider.partition(":")
    summary = resolver.program.module(module)
    binding = summary.bindings.get(name) if summary else None
    function = resolver.func(summary, (name,)) if summary and binding else None
    if summary is None or binding is None or binding.kind != "def" or function is None:
        return "it is not a module-level function of the program"
    for param in function.fn.params:
        if param.kind not in ("posonly", "normal", "kwonly"):
            continue
        parsed = parse_expression(param.annotation) if param.annotation else None
        annotation = qualify_expr(summary, parsed, resolver) if parsed is not None else None
        if annotation in REQUEST_TYPES or (param.annotation is None and param.name == "request"):
            return f"its parameter `{param.name}` is the request"
        if param.depends is not None or (
            dependency_of(None, param.annotation, summary, resolver) is not None
        ):
            return f"its parameter `{param.name}` is a dependency of its own"
        if param.default is None:
            return f"its parameter `{param.name}` has no default"
    return None
