"""Type aliases, followed across modules: `X = T`, `X: TypeAlias = T`, `X = NewType("X", T)`."""

from __future__ import annotations

import ast

from codemod.model.index import ModuleInfo, RepoIndex

NEWTYPES = frozenset({"typing.NewType", "typing_extensions.NewType"})
# How many aliases of aliases are followed.
MAX_ALIAS_DEPTH = 8


class NotAnAlias:
    """A module-level variable that is no type alias one can read (a TypeVar, an instance)."""


NOT_AN_ALIAS = NotAnAlias()


def alias_of(qualname: str, index: RepoIndex) -> tuple[ast.expr, ModuleInfo] | NotAnAlias | None:
    """The type that a qualified name aliases, with the module that spells it (whose imports
    qualify it); NOT_AN_ALIAS for a variable that aliases no type; None when the name is no
    module-level variable of the repository (a class, a function, a library's name).

    `Annotated[T, ...]` is returned as it is: its metadata is the caller's business."""
    resolved = index.resolve(qualname)
    if resolved is None:
        return None
    info, binding = resolved
    if binding.kind != "assign":
        return None
    node = binding.node
    value: ast.expr | None = None
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        value = node.value if isinstance(node.targets[0], ast.Name) else None
    elif isinstance(node, ast.AnnAssign):
        value = node.value
    if value is None:
        return NOT_AN_ALIAS
    if isinstance(value, ast.Call):
        func = info.qualify_expr(value.func)
        if func in NEWTYPES and len(value.args) >= 2:
            return value.args[1], info
        return NOT_AN_ALIAS  # TypeVar("T"), an instance, a factory's result
    return value, info
