"""Whether an annotation is a JSON-safe type (one Celery's JSON serialiser takes and gives back
as it was), followed through type aliases across modules."""

from __future__ import annotations

import ast

from codemod.analysis.aliases import MAX_ALIAS_DEPTH, NotAnAlias, alias_of, qualify_expr
from codemod.model.resolve import Resolver
from codemod.model.summary import ModuleSummary
from codemod.model.syntax import parse_expression

SAFE_TYPES = frozenset(
    {
        "builtins.str",
        "builtins.int",
        "builtins.float",
        "builtins.bool",
        "uuid.UUID",
        "datetime.datetime",
        "datetime.date",
        "decimal.Decimal",
    }
)
# Paths travel as their str and are rebuilt by the wrapper (a path of the web host's disk is
# host-path first): not JSON-safe themselves.
PATH_CLASSES = frozenset(
    f"pathlib.{name}"
    for name in ("Path", "PurePath", "PosixPath", "PurePosixPath", "WindowsPath", "PureWindowsPath")
)
CONTAINERS = frozenset(
    {
        "builtins.list",
        "builtins.dict",
        "builtins.tuple",
        "typing.List",
        "typing.Dict",
        "typing.Tuple",
    }
)
UNIONS = frozenset({"typing.Optional", "typing.Union"})
LITERALS = frozenset({"typing.Literal", "typing_extensions.Literal"})
ANNOTATED = frozenset({"typing.Annotated", "typing_extensions.Annotated"})
UNKNOWN_TYPES = frozenset({"typing.Any", "builtins.object", "typing_extensions.Any"})

SAFE, UNKNOWN, UNSAFE = "safe", "unknown", "unsafe"


def _combine(*values: str) -> str:
    if UNSAFE in values:
        return UNSAFE
    return UNKNOWN if UNKNOWN in values else SAFE


def annotation_safety(
    expr: ast.expr, summary: ModuleSummary, resolver: Resolver, depth: int = 0
) -> str:
    """SAFE if the annotation is a JSON-safe type, UNSAFE if evidently not, else UNKNOWN; type
    aliases are followed to what they alias, across modules."""
    if isinstance(expr, ast.Constant):
        if expr.value is None:
            return SAFE
        if isinstance(expr.value, str):
            inner = parse_expression(expr.value)
            return UNKNOWN if inner is None else annotation_safety(inner, summary, resolver, depth)
        return UNKNOWN
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.BitOr):
        left = annotation_safety(expr.left, summary, resolver, depth)
        return _combine(left, annotation_safety(expr.right, summary, resolver, depth))
    if isinstance(expr, ast.Subscript):
        return _subscript_safety(expr, summary, resolver, depth)
    qualname = qualify_expr(summary, expr, resolver)
    if qualname in SAFE_TYPES:
        return SAFE
    if qualname is None or qualname in CONTAINERS or qualname in UNKNOWN_TYPES:
        return UNKNOWN
    if qualname.startswith(("typing.", "typing_extensions.", "collections.abc.")):
        return UNKNOWN
    if depth >= MAX_ALIAS_DEPTH:
        return UNKNOWN
    found = alias_of(qualname, resolver)
    if isinstance(found, NotAnAlias):
        return UNKNOWN
    if found is not None:
        return annotation_safety(found[0], found[1], resolver, depth + 1)
    if qualname.startswith(f"{summary.module}.") and isinstance(expr, ast.Name):
        binding = summary.bindings.get(expr.id)
        if binding is not None and binding.kind == "assign":
            return UNKNOWN  # a type alias or a TypeVar: not followed
    return UNSAFE


def text_safety(annotation: str | None, summary: ModuleSummary, resolver: Resolver) -> str:
    """annotation_safety of an annotation's text (UNKNOWN when there is none)."""
    parsed = parse_expression(annotation) if annotation else None
    return annotation_safety(parsed, summary, resolver) if parsed is not None else UNKNOWN


def _subscript_safety(
    expr: ast.Subscript, summary: ModuleSummary, resolver: Resolver, depth: int
) -> str:
    base = qualify_expr(summary, expr.value, resolver)
    items = list(expr.slice.elts) if isinstance(expr.slice, ast.Tuple) else [expr.slice]
    if base in LITERALS:
        return SAFE
    if base in ANNOTATED:
        return annotation_safety(items[0], summary, resolver, depth)
    if base in UNIONS or base in CONTAINERS:
        parts = [i for i in items if not (isinstance(i, ast.Constant) and i.value is Ellipsis)]
        return _combine(*(annotation_safety(i, summary, resolver, depth) for i in parts))
    return UNKNOWN if base is None or base.startswith(("typing.", "collections.abc.")) else UNSAFE


def path_class(annotation: str, summary: ModuleSummary, resolver: Resolver) -> str | None:
    """The pathlib class an annotation is exactly (`Path`, `pathlib.PurePath`), qualified."""
    parsed = parse_expression(annotation)
    if not isinstance(parsed, ast.Name | ast.Attribute):
        return None
    qualname = qualify_expr(summary, parsed, resolver)
    return qualname if qualname in PATH_CLASSES else None
