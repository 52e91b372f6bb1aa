"""Which Pydantic model parameters of a job must arrive with the request's `model_fields_set`."""

from __future__ import annotations

import ast
from dataclasses import replace

from codemod.model.calls import Function, Resolver, body_nodes, last_name
from codemod.models import Signature

# Which fields of a model were set: what a model rebuilt from its JSON form does not keep (it
# counts every field as set).
FIELDS_SET = frozenset({"model_fields_set", "__fields_set__", "__pydantic_fields_set__"})
DEPTH = 3  # how many calls deep a model handed on is followed
WIDTH = 50  # how many (function, parameter) pairs one layer follows
# Calls that take a model and cannot tell its set fields from its defaults: handing it to them
# is no escape. Anything else outside the repository (a library's update helper, a method of an
# object some service returned) may read them.
HARMLESS = frozenset(
    {
        "print",
        "len",
        "str",
        "repr",
        "isinstance",
        "id",
        "type",
        "debug",
        "info",
        "warning",
        "warn",
        "error",
        "exception",
        "critical",
        "log",
    }
)


def mark_fields_set(signature: Signature, resolver: Resolver) -> Signature:
    """The signature with `fields_set` marked on each model parameter whose set fields the job
    may read: the call site then sends them beside the model's JSON form, and the wrapper puts
    them back."""
    if not any(p.model for p in signature.params):
        return signature
    function = resolver.target(signature.dotted)
    if not isinstance(function, Function):
        return signature
    params = tuple(
        replace(p, fields_set=True)
        if p.model and reads_fields_set(function, p.name, resolver)
        else p
        for p in signature.params
    )
    return replace(signature, params=params)


def reads_fields_set(function: Function, name: str, resolver: Resolver) -> str:
    """How the job may tell the set fields of its model parameter `name` from defaults: it reads
    `name.model_fields_set`, calls `name.model_dump(exclude_unset=True)` or any call with
    `exclude_unset=True` that it hands `name` to, or hands `name` to code the analysis cannot
    see into; followed into the repository functions it hands `name` on to, a few calls deep.
    "" when it evidently does not."""
    seen = {(function.key, name)}
    layer = [(function, name)]
    for _ in range(DEPTH):
        following: list[tuple[Function, str]] = []
        for current, param in layer:
            for node in body_nodes(current.node):
                if (
                    isinstance(node, ast.Attribute)
                    and node.attr in FIELDS_SET
                    and root_name(node.value) == param
                ):
                    return f"`{current.display}` reads `{ast.unparse(node)}`"
                if not isinstance(node, ast.Call):
                    continue
                why = _call_reads(node, param, current, resolver, following, seen)
                if why:
                    return why
        layer = following[:WIDTH]
    # Deeper than followed: the model may still be read there.
    return f"`{layer[0][0].display}` hands it on further" if layer else ""


def _call_reads(
    call: ast.Call,
    param: str,
    function: Function,
    resolver: Resolver,
    following: list[tuple[Function, str]],
    seen: set[tuple[str, str]],
) -> str:
    func = call.func
    text = ast.unparse(func)
    unset = any(_sets_exclude_unset(k) for k in call.keywords)
    if isinstance(func, ast.Attribute) and root_name(func.value) == param:
        return f"`{function.display}` calls `{text}(exclude_unset=...)`" if unset else ""
    handed = _handed(call, param)
    if not handed:
        return ""
    if unset:
        return f"`{function.display}` calls `{text}({param}, exclude_unset=...)`"
    called = resolver.callee(func, function, function.info)
    if called is None:
        if last_name(func) in HARMLESS:
            return ""
        return f"`{function.display}` hands it to `{text}`"
    for arrives_as in _arrives_as(call, param, called):
        if (called.key, arrives_as) not in seen:
            seen.add((called.key, arrives_as))
            following.append((called, arrives_as))
    return ""


def _handed(call: ast.Call, name: str) -> bool:
    """Whether a call is given `name` itself as an argument (`*name`, `**name` included)."""
    values = [a.value if isinstance(a, ast.Starred) else a for a in call.args]
    values += [k.value for k in call.keywords]
    return any(isinstance(v, ast.Name) and v.id == name for v in values)


def _arrives_as(call: ast.Call, name: str, called: Function) -> list[str]:
    """The parameters of `called` that a call hands `name` to."""
    args = called.node.args
    positional = [*args.posonlyargs, *args.args]
    if called.owner is not None and positional:
        positional = positional[1:]  # self
    out: list[str] = []
    for i, arg in enumerate(call.args):
        if isinstance(arg, ast.Name) and arg.id == name:
            if i < len(positional):
                out.append(positional[i].arg)
            elif args.vararg is not None:
                out.append(args.vararg.arg)
    for keyword in call.keywords:
        if isinstance(keyword.value, ast.Name) and keyword.value.id == name and keyword.arg:
            known = {a.arg for a in (*positional, *args.kwonlyargs)}
            if keyword.arg in known:
                out.append(keyword.arg)
            elif args.kwarg is not None:
                out.append(args.kwarg.arg)
    return out


def root_name(expr: ast.expr) -> str | None:
    while isinstance(expr, ast.Attribute | ast.Subscript):
        expr = expr.value
    return expr.id if isinstance(expr, ast.Name) else None


def _sets_exclude_unset(keyword: ast.keyword) -> bool:
    value = keyword.value
    return keyword.arg == "exclude_unset" and not (
        isinstance(value, ast.Constant) and value.value is False
    )
