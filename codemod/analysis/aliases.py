"""Type aliases, followed across modules: `X = T`, `X: TypeAlias = T`, `X = NewType("X", T)`."""

from __future__ import annotations

import ast

from codemod.model.resolve import Resolver
from codemod.model.summary import ModuleSummary
from codemod.model.syntax import parse_expression

NEWTYPES = frozenset({"typing.NewType", "typing_extensions.NewType"})
# How many aliases of aliases are followed.
MAX_ALIAS_DEPTH = 8


class NotAnAlias:
    """A module-level variable that is no type alias one can read (a TypeVar, an instance)."""


NOT_AN_ALIAS = NotAnAlias()


def qualify_expr(summary: ModuleSummary, expr: ast.expr | None, resolver: Resolver) -> str | None:
    """The qualified name a module-level name or dotted attribute refers to in `summary`."""
    chain: list[str] = []
    while isinstance(expr, ast.Attribute):
        chain.append(expr.attr)
        expr = expr.value
    if not isinstance(expr, ast.Name):
        return None
    chain.append(expr.id)
    return resolver.qualify_chain(summary, tuple(reversed(chain)))


def alias_of(
    qualname: str, resolver: Resolver
) -> tuple[ast.expr, ModuleSummary] | NotAnAlias | None:
    """The type that a qualified name aliases, with the module that spells it (whose imports
    qualify it); NOT_AN_ALIAS for a variable that aliases no type; None when the name is no
    module-level variable of the program (a class, a function, a library's name).

    `Annotated[T, ...]` is returned as it is: its metadata is the caller's business."""
    resolved = resolver.resolve(qualname)
    if resolved is None:
        return None
    summary, binding = resolved
    if binding.kind != "assign":
        return None
    alias = binding.value.alias if binding.value is not None else None
    if alias is None:
        return NOT_AN_ALIAS
    kind, text, second = alias
    if kind == "call":
        func = resolver.qualify_chain(summary, tuple(text.split("."))) if text else None
        if func in NEWTYPES and second is not None:
            parsed = parse_expression(second)
            return (parsed, summary) if parsed is not None else NOT_AN_ALIAS
        return NOT_AN_ALIAS  # TypeVar("T"), an instance, a factory's result
    parsed = parse_expression(text) if text is not None else None
    return (parsed, summary) if parsed is not None else NOT_AN_ALIAS
