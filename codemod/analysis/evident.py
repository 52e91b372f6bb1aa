"""What a call site makes evident of an argument's type when the job's parameter says nothing:
`Phase[name]` is a `Phase`, `Item.model_validate(...)` an `Item`, the loop variable of
`for doc in request.content` an element of that field's type (SPEC §4)."""

from __future__ import annotations

import ast
from dataclasses import dataclass

from codemod.analysis.aliases import qualify_expr
from codemod.analysis.enums import enum_class
from codemod.analysis.jsonsafe import PATH_CLASSES, SAFE, SAFE_TYPES, annotation_safety
from codemod.analysis.schemas import V1, V2, class_style
from codemod.model.resolve import ClassAt, Resolver
from codemod.model.summary import ArgFact, ModuleSummary
from codemod.model.syntax import parse_expression

SEQUENCES = frozenset(
    {
        "builtins.list",
        "builtins.set",
        "builtins.frozenset",
        "builtins.tuple",
        "typing.List",
        "typing.Set",
        "typing.Tuple",
        "typing.Sequence",
        "typing.Iterable",
        "collections.abc.Sequence",
        "collections.abc.Iterable",
    }
)
UNIONS = frozenset({"typing.Optional", "typing.Union"})
# Library classes whose objects are connections, clients, locks or streams of the process that
# made them: built at the call site, they are evidently no data (gns3-server hands its job the
# `WebSocketResponse` it has just prepared).
CONNECTIONS = frozenset(
    {
        "aiohttp.web.WebSocketResponse",
        "aiohttp.web_ws.WebSocketResponse",
        "aiohttp.web.StreamResponse",
        "aiohttp.web_response.StreamResponse",
        "aiohttp.ClientSession",
        "aiohttp.client.ClientSession",
        "httpx.AsyncClient",
        "httpx.Client",
        "requests.Session",
        "requests.sessions.Session",
        "socket.socket",
        "threading.Lock",
        "threading.RLock",
        "threading.Event",
        "threading.Thread",
        "asyncio.Lock",
        "asyncio.Event",
        "asyncio.Queue",
        "asyncio.Semaphore",
        "queue.Queue",
        "subprocess.Popen",
        "sqlite3.connect",
        "starlette.websockets.WebSocket",
        "fastapi.WebSocket",
    }
)


@dataclass(frozen=True)
class Evident:
    """An argument's evident type: "safe" (JSON-safe already), "enum" (travels as its value),
    "model" (as its JSON form), "path" (a pathlib path: as its str), or "unsafe" (no data:
    `why` says what it may be)."""

    kind: str
    qualname: str | None = None  # the enum or model class
    value_type: str | None = None  # the type of an enum's values
    why: str = ""


def evident_type(arg: ArgFact, summary: ModuleSummary, resolver: Resolver) -> Evident | None:
    """What the call site makes evident of an argument's type; None when it shows nothing."""
    built = arg.built
    if not built:
        return None
    if built[0] == "class":
        qualname = resolver.qualify_chain(summary, tuple(built[1].split(".")))
        if qualname is None:
            return None
        qualname = resolver.program.rebase(summary.module, qualname)
        return _of_class(qualname, resolver, f"`{built[1]}`")
    if built[0] == "value":
        return _path_value(built[1], summary, resolver)
    if built[0] == "element" and len(built) == 4:
        return _of_element(built[1], built[2], built[3], summary, resolver)
    return None


def _of_class(qualname: str, resolver: Resolver, spelled: str) -> Evident | None:
    """The evident type of a value built as `qualname`, when that names a class."""
    if qualname in SAFE_TYPES:
        return Evident("safe")
    if qualname in CONNECTIONS:
        return Evident("unsafe", why=f"is a {spelled}, an object of this process, not data")
    if qualname in PATH_CLASSES:
        return Evident("path", qualname, "str")
    canonical = resolver.canonical(qualname)
    values = enum_class(canonical, resolver)
    if values is not None:
        return Evident("enum", canonical, values)
    style = class_style(canonical, resolver)
    if style == V2:
        return Evident("model", canonical)
    if style == V1:
        return Evident("unsafe", why=f"is a {spelled}, a Pydantic v1-style model")
    if isinstance(resolver.class_of(canonical), ClassAt):
        return Evident("unsafe", why=f"is a {spelled} of the application, not data")
    return None  # a function (what it returns is not evident), a library's name


def _path_value(spelled: str, summary: ModuleSummary, resolver: Resolver) -> Evident | None:
    """A module-level name assigned a pathlib path (`BASE = Path(...)`, `BASE: Path = ...`),
    followed through imports: such a value (and `BASE / name`) is a path."""
    qualname = resolver.qualify_chain(summary, tuple(spelled.split(".")))
    found = resolver.assigned(qualname) if qualname else None
    if found is None:
        return None
    where, value = found
    for chain in (value.cls, value.declared):
        name = resolver.qualify_chain(where, chain) if chain else None
        if name in PATH_CLASSES:
            return Evident("path", name, "str")
    return None


def _of_element(
    annotation: str, path: str, spelled: str, summary: ModuleSummary, resolver: Resolver
) -> Evident | None:
    """The evident type of the loop variable of `for x in p.field`, `p` annotated so."""
    parsed = parse_expression(annotation)
    owner = qualify_expr(summary, parsed, resolver) if parsed is not None else None
    if owner is None:
        return None
    found = _field(owner, path.split("."), resolver)
    if found is None:
        return None
    text, where = found
    field_type = parse_expression(text)
    if field_type is None:
        return None
    elements = _elements(field_type, where, resolver)
    if elements is None:
        return None
    judged = [(_judge(e, where, resolver), e) for e in elements]
    if all(j is not None and j.kind == "safe" for j, _ in judged):
        return Evident("safe")
    if len(judged) == 1 and judged[0][0] is not None:
        return judged[0][0]
    odd = next(
        (ast.unparse(e) for j, e in judged if j is None or j.kind != "safe"),
        ast.unparse(field_type),
    )
    return Evident(
        "unsafe",
        why=(
            f"is an element of `{spelled}`, typed `{text}`: it may be a `{odd}`, which the "
            "run-time check would send back to the web process on every call"
        ),
    )


def _field(owner: str, names: list[str], resolver: Resolver) -> tuple[str, ModuleSummary] | None:
    """The annotation (as text, with the module that spells it) of `owner.a.b`'s last field."""
    text: str | None = None
    where: ModuleSummary | None = None
    current = owner
    for i, name in enumerate(names):
        found = _annotation_of(current, name, resolver)
        if found is None:
            return None
        text, where = found
        if i + 1 < len(names):
            parsed = parse_expression(text)
            nested = qualify_expr(where, parsed, resolver) if parsed is not None else None
            if nested is None:
                return None
            current = nested
    return (text, where) if text is not None and where is not None else None


def _annotation_of(
    owner: str, name: str, resolver: Resolver, depth: int = 0
) -> tuple[str, ModuleSummary] | None:
    cls = resolver.class_of(owner)
    if cls is None or depth > 8:
        return None
    for field in cls.cls.fields:
        if field.name == name and field.annotation is not None:
            return field.annotation, cls.summary
    for base in resolver.bases(cls):
        found = _annotation_of(base.key, name, resolver, depth + 1)
        if found is not None:
            return found
    return None


def _elements(expr: ast.expr, where: ModuleSummary, resolver: Resolver) -> list[ast.expr] | None:
    """The types of the elements of an iterable typed `expr` (None: not evident)."""
    parts = _union(expr, where, resolver)
    out: list[ast.expr] = []
    for part in parts:
        if isinstance(part, ast.Constant) and part.value is None:
            continue
        if isinstance(part, ast.Subscript):
            base = qualify_expr(where, part.value, resolver)
            if base in SEQUENCES:
                inner = part.slice.elts if isinstance(part.slice, ast.Tuple) else [part.slice]
                out.extend(
                    i for i in inner if not (isinstance(i, ast.Constant) and i.value is Ellipsis)
                )
                continue
            return None
        if qualify_expr(where, part, resolver) == "builtins.str":
            out.append(part)  # iterating a string gives strings
            continue
        return None
    return out or None


def _union(expr: ast.expr, where: ModuleSummary, resolver: Resolver) -> list[ast.expr]:
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.BitOr):
        return [*_union(expr.left, where, resolver), *_union(expr.right, where, resolver)]
    if isinstance(expr, ast.Subscript) and qualify_expr(where, expr.value, resolver) in UNIONS:
        inner = expr.slice.elts if isinstance(expr.slice, ast.Tuple) else [expr.slice]
        return [p for i in inner for p in _union(i, where, resolver)]
    return [expr]


def _judge(expr: ast.expr, where: ModuleSummary, resolver: Resolver) -> Evident | None:
    if annotation_safety(expr, where, resolver) == SAFE:
        return Evident("safe")
    qualname = qualify_expr(where, expr, resolver)
    return _of_class(qualname, resolver, f"`{ast.unparse(expr)}`") if qualname else None


def _is_ellipsis(expr: ast.expr) -> bool:
    return isinstance(expr, ast.Constant) and expr.value is Ellipsis
