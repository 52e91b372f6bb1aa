"""Enum parameters: an enum whose values all have one JSON-safe type travels as its `.value`."""

from __future__ import annotations

import ast

from codemod.analysis.aliases import qualify_expr
from codemod.model.resolve import ClassAt, Resolver
from codemod.model.summary import ModuleSummary
from codemod.model.syntax import parse_expression

# The enum bases, and the type `auto()` gives under each (Flag and IntFlag are left out: a
# combination of flags is no member of the class).
_BASES = {
    "enum.Enum": "int",
    "enum.IntEnum": "int",
    "enum.StrEnum": "str",
}
_MIXINS = {"builtins.str": "str", "builtins.int": "int"}
_VALUE_TYPES = frozenset({"str", "int", "float"})


def enum_value_type(
    annotation: str, summary: ModuleSummary, resolver: Resolver
) -> tuple[str, str] | None:
    """(qualified enum class, the type of its values: "str", "int" or "float") if a parameter's
    annotation is exactly an Enum class of the program whose members all have values of that
    one type; None otherwise (an enum with mixed or non-JSON values is not data)."""
    parsed = parse_expression(annotation)
    if not isinstance(parsed, ast.Name | ast.Attribute):
        return None
    qualname = qualify_expr(summary, parsed, resolver)
    found = enum_class(qualname, resolver) if qualname else None
    return (qualname, found) if qualname and found else None


def enum_class(qualname: str, resolver: Resolver) -> str | None:
    """The type of the values of an Enum class of the program ("str", "int", "float"), when all
    its members have values of that one type; None otherwise."""
    cls = resolver.class_of(qualname)
    if cls is None:
        return None
    auto = _auto_type(cls, resolver)
    if auto is None:
        return None
    types: set[str] = set()
    for field in cls.cls.fields:
        if field.kind != "assign" or not field.name or field.name.startswith("_"):
            continue
        if field.value_call is not None:
            func = resolver.qualify_chain(cls.summary, field.value_call)
            if func != "enum.auto":
                return None
            types.add(auto)
        elif field.value_const in _VALUE_TYPES:
            types.add(field.value_const)
        else:
            return None  # a tuple, a call, a bool: not one JSON-safe type
    return types.pop() if len(types) == 1 else None


def _auto_type(cls: ClassAt, resolver: Resolver, depth: int = 0) -> str | None:
    """The type of `auto()` values if the class is an enum (through the program's enum
    bases), else None."""
    mixin: str | None = None
    found: str | None = None
    for base in cls.cls.bases:
        name = resolver.qualify_chain(cls.summary, base) or ""
        if name in _MIXINS:
            mixin = _MIXINS[name]
        elif name in _BASES:
            found = _BASES[name]
        elif depth < 8:
            inner = resolver.class_of(name)
            if inner is not None:
                found = found or _auto_type(inner, resolver, depth + 1)
    if found is None:
        return None
    return mixin or found
