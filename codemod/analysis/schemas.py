"""Pydantic model parameters: a job that takes a model gets its JSON form through the broker.

A parameter annotated with a Pydantic v2 model class is passed as `arg.model_dump(mode="json")`
at the call site and validated back into the model inside the wrapper. Models written for
Pydantic v1 (`pydantic.v1.BaseModel`, an inner `class Config`, `@validator`) have no
`model_dump`: their sites are skipped. Classes are followed through the program, so a model
that subclasses another of the app's models is recognised too.
"""

from __future__ import annotations

import ast
import re
from dataclasses import replace

from codemod.analysis.aliases import alias_of, qualify_expr
from codemod.analysis.enums import enum_class, enum_value_type
from codemod.analysis.jsonsafe import PATH_CLASSES, SAFE_TYPES, path_class
from codemod.model.resolve import Resolver
from codemod.model.summary import ModuleSummary
from codemod.model.syntax import parse_expression
from codemod.models import Param, Signature

V2 = "v2"
V1 = "v1"
_V2_BASES = frozenset({"pydantic.BaseModel", "pydantic.main.BaseModel"})
# SQLModel classes are Pydantic v2 models, but for those declared `table=True`: ORM rows, which a
# worker loads by id rather than receives.
_SQLMODEL = frozenset({"sqlmodel.SQLModel", "sqlmodel.main.SQLModel"})
_V1_BASES = frozenset({"pydantic.v1.BaseModel", "pydantic.v1.main.BaseModel"})
ANNOTATED = frozenset({"typing.Annotated", "typing_extensions.Annotated"})


def class_style(qualname: str, resolver: Resolver, depth: int = 0) -> str | None:
    """V2 or V1 if the class is a Pydantic model of that style; None if it is not one."""
    if qualname in _V2_BASES or qualname in _SQLMODEL:
        return V2
    if qualname in _V1_BASES:
        return V1
    if depth > 10:
        return None
    found = resolver.class_of(qualname)
    if found is None:
        return None
    cls = found.cls
    if ("table", "True") in cls.keywords:
        return None  # a SQLModel table: an ORM row
    for base in cls.bases:
        base_name = resolver.qualify_chain(found.summary, base)
        style = class_style(base_name, resolver, depth + 1) if base_name else None
        if style == V1:
            return V1
        if style == V2:
            return V1 if cls.v1_style else V2
    return None


def annotation_model(
    annotation: str | ast.expr, summary: ModuleSummary, resolver: Resolver
) -> tuple[str, str] | None:
    """(qualified class name, style) if the annotation is exactly a Pydantic model class."""
    if isinstance(annotation, str):
        parsed = parse_expression(annotation)
        if parsed is None:
            return None
        annotation = parsed
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        return annotation_model(annotation.value, summary, resolver)
    if isinstance(annotation, ast.Subscript):  # Annotated[Model, ...]: the model
        if qualify_expr(summary, annotation.value, resolver) not in ANNOTATED:
            return None
        items = annotation.slice
        first = items.elts[0] if isinstance(items, ast.Tuple) else items
        return annotation_model(first, summary, resolver)
    qualname = qualify_expr(summary, annotation, resolver)
    if qualname is None:
        return None
    style = class_style(qualname, resolver)
    if style is None:  # a type alias of a model: `CurrentUser = Annotated[User, Depends(...)]`
        aliased = alias_of(qualname, resolver)
        if isinstance(aliased, tuple):
            return annotation_model(aliased[0], aliased[1], resolver)
    return (qualname, style) if style else None


def with_models(signature: Signature, resolver: Resolver) -> Signature:
    """The signature with `model` set on every parameter that takes a Pydantic v2 model."""
    summary = resolver.program.module(signature.module)
    if summary is None:
        return signature
    params: list[Param] = []
    changed = False
    for param in signature.params:
        found = enum = None
        if param.annotation and param.kind in ("posonly", "normal", "kwonly"):
            found = annotation_model(param.annotation, summary, resolver)
            enum = enum_value_type(param.annotation, summary, resolver) if found is None else None
            path = path_class(param.annotation, summary, resolver)
            if path is not None:
                params.append(replace(param, enum=path, enum_value="str", path=True))
                changed = True
                continue
        if found is not None and found[1] == V2:
            params.append(replace(param, model=found[0]))
            changed = True
        elif enum is not None:
            params.append(replace(param, enum=enum[0], enum_value=enum[1]))
            changed = True
        else:
            params.append(param)
    if not changed:
        return signature
    return with_params(signature, tuple(params))


def with_params(signature: Signature, params: tuple[Param, ...]) -> Signature:
    """The signature with these parameters, and only the imports the wrapper still needs for
    them: a model parameter is declared `dict`, an enum one its value's type, and a re-created
    dependency is no parameter of the wrapper at all."""
    texts = " ".join(
        ""
        if p.provider
        else p.default or ""
        if p.model or p.enum
        else f"{p.annotation or ''} {p.default or ''}"
        for p in params
    )
    imports = tuple(
        spec
        for spec in signature.imports
        if re.search(rf"\b{re.escape(spec[2] or spec[1] or spec[0])}\b", texts)
    )
    return replace(signature, params=params, imports=imports)


def round_trip_problem(model: str, resolver: Resolver) -> str | None:
    """Why a model would not come back from `Model.model_validate(model.model_dump(mode="json"))`
    as it left, judged from its class and the program's classes it derives from: a field
    declared `Field(exclude=True)` (left out of the dump), aliases without population by name
    (the dump has the names, validation wants the aliases), or a computed field (in the dump) on
    a model that forbids extra fields; also for the models its fields hold (`tags: list[Tag]`).
    None when nothing of the kind is declared."""
    return _round_trip(model, resolver, set())


def _round_trip(model: str, resolver: Resolver, seen: set[str]) -> str | None:
    if model in seen or len(seen) > 20:
        return None
    seen.add(model)
    facts = _Facts()
    _gather(model, resolver, facts, 0)
    own = _problem(facts) or _arbitrary(facts, resolver)
    if own is not None:
        return own
    for field, nested in facts.nested:
        if class_style(nested, resolver) != V2:
            continue
        inner = _round_trip(nested, resolver, seen)
        if inner is not None:
            name = nested.rpartition(".")[2]
            return f"whose field `{field}` holds a `{name}`, a model {inner}"
    return None


# Modules whose types Pydantic dumps as JSON (`EmailStr`, `timedelta`, `IPv4Address`, ...).
_DATA_MODULES = (
    "pydantic.",
    "pydantic_core.",
    "datetime.",
    "uuid.",
    "decimal.",
    "ipaddress.",
    "typing_extensions.",
    "annotated_types.",
)


def _arbitrary(facts: _Facts, resolver: Resolver) -> str | None:
    """A model that allows arbitrary types and has a field of a class that is neither a model
    nor JSON data (whisperX's `audio: np.ndarray`): `model_dump(mode="json")` raises on it in
    the handler, before anything is sent."""
    if not facts.arbitrary:
        return None
    for field, named in facts.nested:
        if named in SAFE_TYPES or named in PATH_CLASSES or (named + ".").startswith(_DATA_MODULES):
            continue
        if class_style(named, resolver):
            continue
        found = resolver.resolve(named)
        if found is not None and found[1].kind != "class":
            continue  # a type alias of the program (`PrimaryKey = conint(...)`): judged elsewhere
        if enum_class(resolver.canonical(named), resolver) is not None:
            continue
        name = named.rpartition(".")[2]
        return (
            f"that allows arbitrary types, whose field `{field}` holds a `{name}`: "
            '`model_dump(mode="json")` cannot serialise it (and the handler would fail); pass '
            "what the job needs to rebuild it (an id, a path)"
        )
    return None


def _problem(facts: _Facts) -> str | None:
    if facts.excluded:
        return (
            f"whose field `{facts.excluded}` is declared `Field(exclude=True)`: `model_dump` "
            "leaves it out, so it would not reach the worker; pass it as an argument of its own"
        )
    if facts.alias and not facts.by_name:
        return (
            f"with aliased fields ({facts.alias}) that it does not populate by name: the "
            "wrapper's `model_validate` of its `model_dump` would fail; set "
            "`populate_by_name=True` in its `model_config`"
        )
    if facts.forbid and facts.computed:
        return (
            f"that forbids extra fields and has the computed field `{facts.computed}`, which "
            "`model_dump` includes: the wrapper's `model_validate` of it would fail"
        )
    return None


class _Facts:
    def __init__(self) -> None:
        self.nested: list[tuple[str, str]] = []  # (field, a class its annotation names)
        self.excluded: str | None = None
        self.alias: str | None = None
        self.by_name = False
        self.forbid = False
        self.computed: str | None = None
        self.arbitrary = False  # `arbitrary_types_allowed=True`


def _gather(qualname: str, resolver: Resolver, facts: _Facts, depth: int) -> None:
    found = resolver.class_of(qualname) if depth <= 10 else None
    if found is None:
        return
    cls = found.cls
    _config(cls.keywords, facts)
    _config(cls.config, facts)
    if cls.computed:
        facts.computed = facts.computed or cls.computed[0]
    for field in cls.fields:
        name = field.name
        if field.kind == "ann" and name:
            for chain in field.annotation_names:
                named = resolver.qualify_chain(found.summary, chain)
                if named and not named.startswith(("builtins.", "typing.")):
                    facts.nested.append((name, named))
        if field.value_call is not None and field.value_call[-1] == "Field":
            for keyword, value in field.keywords:
                if keyword == "exclude" and value == "True":
                    facts.excluded = facts.excluded or name
                if keyword in ("alias", "validation_alias") and value != "None":
                    facts.alias = facts.alias or f"`{name}`"
    for base in cls.bases:
        base_name = resolver.qualify_chain(found.summary, base)
        if base_name:
            _gather(base_name, resolver, facts, depth + 1)


def _config(keywords: tuple[tuple[str, str], ...], facts: _Facts) -> None:
    for keyword, value in keywords:
        if keyword == "alias_generator" and value != "None":
            facts.alias = facts.alias or "an `alias_generator`"
        elif keyword in ("populate_by_name", "validate_by_name") and value == "True":
            facts.by_name = True
        elif keyword == "extra":
            facts.forbid = facts.forbid or value in ("str:forbid", "attr:forbid")
        elif keyword == "arbitrary_types_allowed" and value == "True":
            facts.arbitrary = True
