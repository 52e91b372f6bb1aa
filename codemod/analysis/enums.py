"""Enum parameters: an enum whose values all have one JSON-safe type travels as its `.value`."""

from __future__ import annotations

import ast

from codemod.model.index import ModuleInfo, RepoIndex
from codemod.model.syntax import parse_expression

# The enum bases, and the type `auto()` gives under each (Flag and IntFlag are left out: a
# combination of flags is no member of the class).
_BASES = {
    "enum.Enum": "int",
    "enum.IntEnum": "int",
    "enum.StrEnum": "str",
}
_MIXINS = {"builtins.str": "str", "builtins.int": "int"}
_VALUE_TYPES = {str: "str", int: "int", float: "float"}


def enum_value_type(annotation: str, info: ModuleInfo, index: RepoIndex) -> tuple[str, str] | None:
    """(qualified enum class, the type of its values: "str", "int" or "float") if a parameter's
    annotation is exactly a repository Enum class whose members all have values of that one
    type; None otherwise (an enum with mixed or non-JSON values is not data)."""
    parsed = parse_expression(annotation)
    qualname = info.qualify_expr(parsed) if isinstance(parsed, ast.Name | ast.Attribute) else None
    resolved = index.resolve(qualname) if qualname else None
    if resolved is None or resolved[1].kind != "class":
        return None
    where, binding = resolved
    node = binding.node
    if not isinstance(node, ast.ClassDef):
        return None
    auto = _auto_type(node, where, index)
    if auto is None:
        return None
    types: set[str] = set()
    for stmt in node.body:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1):
            continue
        target = stmt.targets[0]
        if not isinstance(target, ast.Name) or target.id.startswith("_"):
            continue
        value = stmt.value
        if isinstance(value, ast.Call) and where.qualify_expr(value.func) == "enum.auto":
            types.add(auto)
        elif isinstance(value, ast.Constant) and type(value.value) in _VALUE_TYPES:
            types.add(_VALUE_TYPES[type(value.value)])
        else:
            return None  # a tuple, a call, a bool: not one JSON-safe type
    return (qualname or "", types.pop()) if len(types) == 1 else None


def _auto_type(
    node: ast.ClassDef, info: ModuleInfo, index: RepoIndex, depth: int = 0
) -> str | None:
    """The type of `auto()` values if the class is an enum (through the repository's enum
    bases), else None."""
    mixin: str | None = None
    found: str | None = None
    for base in node.bases:
        name = info.qualify_expr(base) or ""
        if name in _MIXINS:
            mixin = _MIXINS[name]
        elif name in _BASES:
            found = _BASES[name]
        elif depth < 8:
            resolved = index.resolve(name)
            if resolved is not None and isinstance(resolved[1].node, ast.ClassDef):
                found = found or _auto_type(resolved[1].node, resolved[0], index, depth + 1)
    if found is None:
        return None
    return mixin or found
