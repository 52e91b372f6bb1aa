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

from codemod.aliases import alias_of
from codemod.enums import enum_value_type
from codemod.index import ModuleInfo, RepoIndex, parse_expression
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
