"""Pydantic model parameters: a job that takes a model gets its JSON form through the broker.

A parameter annotated with a Pydantic v2 model class is passed as `arg.model_dump(mode="json")`
at the call site and validated back into the model inside the wrapper. Models written for
Pydantic v1 (`pydantic.v1.BaseModel`, an inner `class Config`, `@validator`) have no
`model_dump`: their sites are skipped. Classes are followed through the repository, so a model
that subclasses another of the app's models is recognised too.
"""

from __future__ import annotations

import ast
import re
from dataclasses import replace

from codemod.analysis.aliases import alias_of
from codemod.analysis.enums import enum_value_type
from codemod.model.calls import last_name
from codemod.model.index import ModuleInfo, RepoIndex
from codemod.model.syntax import parse_expression
from codemod.models import Param, Signature

V2 = "v2"
V1 = "v1"
_V2_BASES = frozenset({"pydantic.BaseModel", "pydantic.main.BaseModel"})
# SQLModel classes are Pydantic v2 models, but for those declared `table=True`: ORM rows, which a
# worker loads by id rather than receives.
_SQLMODEL = frozenset({"sqlmodel.SQLModel", "sqlmodel.main.SQLModel"})
_V1_BASES = frozenset({"pydantic.v1.BaseModel", "pydantic.v1.main.BaseModel"})
_V1_DECORATORS = frozenset({"validator", "root_validator"})


def _v1_style(node: ast.ClassDef) -> bool:
    for stmt in node.body:
        if isinstance(stmt, ast.ClassDef) and stmt.name == "Config":
            return True
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in stmt.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                name = (
                    target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
                )
                if name in _V1_DECORATORS:
                    return True
    return False


def class_style(qualname: str, index: RepoIndex, depth: int = 0) -> str | None:
    """V2 or V1 if the class is a Pydantic model of that style; None if it is not one."""
    if qualname in _V2_BASES or qualname in _SQLMODEL:
        return V2
    if qualname in _V1_BASES:
        return V1
    if depth > 10:
        return None
    resolved = index.resolve(qualname)
    if resolved is None:
        return None
    info, binding = resolved
    node = binding.node
    if binding.kind != "class" or not isinstance(node, ast.ClassDef):
        return None
    if any(
        k.arg == "table" and isinstance(k.value, ast.Constant) and k.value.value is True
        for k in node.keywords
    ):
        return None  # a SQLModel table: an ORM row
    for base in node.bases:
        base_name = info.qualify_expr(base)
        style = class_style(base_name, index, depth + 1) if base_name else None
        if style == V1:
            return V1
        if style == V2:
            return V1 if _v1_style(node) else V2
    return None


def annotation_model(
    annotation: str | ast.expr, info: ModuleInfo, index: RepoIndex
) -> tuple[str, str] | None:
    """(qualified class name, style) if the annotation is exactly a Pydantic model class."""
    if isinstance(annotation, str):
        parsed = parse_expression(annotation)
        if parsed is None:
            return None
        annotation = parsed
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        return annotation_model(annotation.value, info, index)
    if isinstance(annotation, ast.Subscript):  # Annotated[Model, ...]: the model
        if info.qualify_expr(annotation.value) not in (
            "typing.Annotated",
            "typing_extensions.Annotated",
        ):
            return None
        items = annotation.slice
        first = items.elts[0] if isinstance(items, ast.Tuple) else items
        return annotation_model(first, info, index)
    qualname = info.qualify_expr(annotation)
    if qualname is None:
        return None
    style = class_style(qualname, index)
    if style is None:  # a type alias of a model: `CurrentUser = Annotated[User, Depends(...)]`
        aliased = alias_of(qualname, index)
        if isinstance(aliased, tuple):
            return annotation_model(aliased[0], aliased[1], index)
    return (qualname, style) if style else None


def with_models(signature: Signature, index: RepoIndex) -> Signature:
    """The signature with `model` set on every parameter that takes a Pydantic v2 model."""
    info = index.module(signature.module)
    if info is None:
        return signature
    params: list[Param] = []
    changed = False
    for param in signature.params:
        found = enum = None
        if param.annotation and param.kind in ("posonly", "normal", "kwonly"):
            found = annotation_model(param.annotation, info, index)
            enum = enum_value_type(param.annotation, info, index) if found is None else None
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


def round_trip_problem(model: str, index: RepoIndex) -> str | None:
    """Why a model would not come back from `Model.model_validate(model.model_dump(mode="json"))`
    as it left, judged from its class and the repository classes it derives from: a field
    declared `Field(exclude=True)` (left out of the dump), aliases without population by name
    (the dump has the names, validation wants the aliases), or a computed field (in the dump) on
    a model that forbids extra fields; also for the models its fields hold (`tags: list[Tag]`).
    None when nothing of the kind is declared."""
    return _round_trip(model, index, set())


def _round_trip(model: str, index: RepoIndex, seen: set[str]) -> str | None:
    if model in seen or len(seen) > 20:
        return None
    seen.add(model)
    facts = _Facts()
    _gather(model, index, facts, 0)
    own = _problem(facts)
    if own is not None:
        return own
    for field, nested in facts.nested:
        if class_style(nested, index) != V2:
            continue
        inner = _round_trip(nested, index, seen)
        if inner is not None:
            name = nested.rpartition(".")[2]
            return f"whose field `{field}` holds a `{name}`, a model {inner}"
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


def _gather(qualname: str, index: RepoIndex, facts: _Facts, depth: int) -> None:
    resolved = index.resolve(qualname) if depth <= 10 else None
    if resolved is None:
        return
    info, binding = resolved
    cls = binding.node
    if binding.kind != "class" or not isinstance(cls, ast.ClassDef):
        return
    _config(cls.keywords, facts)
    for stmt in cls.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            if any(
                last_name(d.func if isinstance(d, ast.Call) else d) == "computed_field"
                for d in stmt.decorator_list
            ):
                facts.computed = facts.computed or stmt.name
            continue
        if not isinstance(stmt, ast.AnnAssign | ast.Assign):
            continue
        target = stmt.target if isinstance(stmt, ast.AnnAssign) else stmt.targets[0]
        name = target.id if isinstance(target, ast.Name) else ""
        value = stmt.value
        if name == "model_config":
            if isinstance(value, ast.Call):
                _config(value.keywords, facts)
            elif isinstance(value, ast.Dict):
                pairs = zip(value.keys, value.values, strict=True)
                keys = [(k.value, v) for k, v in pairs if isinstance(k, ast.Constant)]
                _config([ast.keyword(k, v) for k, v in keys if isinstance(k, str)], facts)
            continue
        if isinstance(stmt, ast.AnnAssign) and name:
            for node in ast.walk(stmt.annotation):
                named = (
                    info.qualify_expr(node) if isinstance(node, ast.Name | ast.Attribute) else None
                )
                if named and not named.startswith(("builtins.", "typing.")):
                    facts.nested.append((name, named))
        if isinstance(value, ast.Call) and last_name(value.func) == "Field":
            for keyword in value.keywords:
                if keyword.arg == "exclude" and _is_true(keyword.value):
                    facts.excluded = facts.excluded or name
                if keyword.arg in ("alias", "validation_alias") and not _is_none(keyword.value):
                    facts.alias = facts.alias or f"`{name}`"
    for base in cls.bases:
        base_name = info.qualify_expr(base)
        if base_name:
            _gather(base_name, index, facts, depth + 1)


def _config(keywords: list[ast.keyword], facts: _Facts) -> None:
    for keyword in keywords:
        if keyword.arg == "alias_generator" and not _is_none(keyword.value):
            facts.alias = facts.alias or "an `alias_generator`"
        elif keyword.arg in ("populate_by_name", "validate_by_name") and _is_true(keyword.value):
            facts.by_name = True
        elif keyword.arg == "extra":
            value = keyword.value
            text = value.value if isinstance(value, ast.Constant) else getattr(value, "attr", "")
            facts.forbid = facts.forbid or text == "forbid"


def _is_true(expr: ast.expr) -> bool:
    return isinstance(expr, ast.Constant) and expr.value is True


def _is_none(expr: ast.expr) -> bool:
    return isinstance(expr, ast.Constant) and expr.value is None
