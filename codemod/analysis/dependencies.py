"""FastAPI dependencies among a handler's parameters: what provides them, and what type they are."""

from __future__ import annotations

import ast
from dataclasses import dataclass

from codemod.analysis.aliases import MAX_ALIAS_DEPTH, alias_of
from codemod.model.index import ModuleInfo, RepoIndex, defaults_of
from codemod.model.syntax import FunctionNode

DEPENDS = frozenset({"Depends", "Security"})
ANNOTATED = frozenset({"typing.Annotated", "typing_extensions.Annotated"})


@dataclass(frozen=True)
class Dependency:
    """`p: T = Depends(provider)`, `p: Annotated[T, Depends(provider)]` or an alias of that."""

    provider: str  # as spelled: "get_db"
    value_type: ast.expr | None  # T, where `info` spells it
    info: ModuleInfo


def dependency_of(
    function: FunctionNode, arg: ast.arg, info: ModuleInfo, index: RepoIndex | None
) -> Dependency | None:
    """The dependency a handler's parameter is, if it is one."""
    default = param_default(function, arg)
    if is_depends(default):
        assert isinstance(default, ast.Call)
        return Dependency(_provider(default), arg.annotation, info)
    annotation, where = arg.annotation, info
    for _ in range(MAX_ALIAS_DEPTH):
        if isinstance(annotation, ast.Subscript):
            if where.qualify_expr(annotation.value) not in ANNOTATED:
                return None
            items = annotation.slice
            parts = list(items.elts) if isinstance(items, ast.Tuple) else [items]
            found = next((p for p in parts[1:] if is_depends(p)), None)
            if not isinstance(found, ast.Call):
                return None
            return Dependency(_provider(found), parts[0], where)
        qualname = where.qualify_expr(annotation) if annotation is not None else None
        aliased = alias_of(qualname, index) if qualname and index is not None else None
        if not isinstance(aliased, tuple):
            return None
        annotation, where = aliased
    return None


def _provider(call: ast.Call) -> str:
    given = (
        call.args[0]
        if call.args
        else next((k.value for k in call.keywords if k.arg == "dependency"), None)
    )
    return ast.unparse(given) if given is not None else ""


def param_default(function: FunctionNode, arg: ast.arg) -> ast.expr | None:
    return next((default for a, default in defaults_of(function) if a is arg), None)


def is_depends(expr: ast.expr | None) -> bool:
    if not isinstance(expr, ast.Call):
        return False
    func = expr.func
    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
    return name in DEPENDS


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


def provider_spec(dependency: Dependency, index: RepoIndex) -> str | None:
    """The provider as `module:function`, if it is a module-level function of the repository."""
    expr = dependency.info.qualify_expr(ast.parse(dependency.provider, mode="eval").body)
    resolved = index.resolve(expr) if expr else None
    if resolved is None:
        return None
    info, binding = resolved
    if binding.kind != "def" or not isinstance(binding.node, FunctionNode):
        return None
    return f"{info.module}:{binding.node.name}"


def needs_the_request(provider: str, index: RepoIndex) -> str | None:
    """Why a provider (`module:function` of the repository) cannot be called by a worker: a
    parameter without a default, one that is itself a dependency, or the request; None when it
    can (every parameter optional, none of those)."""
    module, _, name = provider.partition(":")
    info = index.module(module)
    binding = info.bindings.get(name) if info else None
    node = binding.node if binding else None
    if info is None or not isinstance(node, FunctionNode):
        return "it is not a module-level function of the repository"
    for arg, default in defaults_of(node):
        annotation = info.qualify_expr(arg.annotation) if arg.annotation is not None else None
        if annotation in REQUEST_TYPES or (arg.annotation is None and arg.arg == "request"):
            return f"its parameter `{arg.arg}` is the request"
        if is_depends(default) or dependency_of(node, arg, info, index) is not None:
            return f"its parameter `{arg.arg}` is a dependency of its own"
        if default is None:
            return f"its parameter `{arg.arg}` has no default"
    return None
