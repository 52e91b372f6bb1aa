"""Whether a job never finishes: a loop nothing leaves, or a decorator that repeats it for ever."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from codemod.model.calls import Function, Resolver, body_nodes, last_name
from codemod.model.syntax import FunctionNode

# Decorators that re-run a function for ever (fastapi-utils, fastapi-utilities), by name.
REPEATERS = frozenset({"repeat_every", "repeat_at"})


def never_ends(function: Function, resolver: Resolver) -> str | None:
    """Why the job never finishes (the function itself, or a repository function it calls or
    awaits directly), or None."""
    why = _own(function, resolver)
    if why is not None:
        return why
    for node in body_nodes(function.node):
        if isinstance(node, ast.Call):
            called = resolver.callee(node.func, function, function.info)
            if called is not None and called.key != function.key:
                why = _own(called, resolver)
                if why is not None:
                    return f"it calls `{called.display}`, which {why.removeprefix('it ')}"
    return None


def _own(function: Function, resolver: Resolver) -> str | None:
    for decorator in function.node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = last_name(target)
        if name in REPEATERS:
            return f"it is decorated by `@{name}`, which repeats it for ever"
        found = resolver.callee(target, None, function.info)
        if found is not None and name and _repeats(found.node):
            return f"it is decorated by `@{name}`, whose wrapper runs it in a loop for ever"
    loop = endless_loop(function.node)
    if loop is not None:
        test = ast.unparse(loop.test)
        return (
            f"it holds a `while {test}:` loop (line {loop.lineno}) that no break or return leaves"
        )
    return None


def endless_loop(node: FunctionNode) -> ast.While | None:
    """The first `while True:` / `while 1:` loop of the function's own body that no `break` of
    its own and no `return` leaves."""
    for sub in body_nodes(node):
        if isinstance(sub, ast.While) and _always_true(sub.test) and not _left(sub):
            return sub
    return None


def _repeats(decorator: FunctionNode) -> bool:
    """A decorator whose wrapper loops for ever: an endless loop, or a loop that sleeps and
    that no break or return leaves, anywhere in it (nested wrappers included)."""
    return any(
        isinstance(sub, ast.While)
        and not _left(sub)
        and (_always_true(sub.test) or any(_sleeps(n) for n in ast.walk(sub)))
        for sub in ast.walk(decorator)
    )


def _sleeps(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and last_name(node.func) == "sleep"


def _always_true(test: ast.expr) -> bool:
    return isinstance(test, ast.Constant) and bool(test.value) and test.value is not Ellipsis


def _left(loop: ast.While) -> bool:
    """Whether a `break` of this loop or a `return` is in its body."""
    return any(isinstance(n, ast.Break | ast.Return) for n in _own_nodes(loop))


def _own_nodes(loop: ast.While) -> Iterator[ast.AST]:
    """The loop body's nodes, without nested defs, and without nested loops' own breaks."""
    stack: list[tuple[ast.AST, bool]] = [(s, False) for s in (*loop.body, *loop.orelse)]
    while stack:
        current, nested = stack.pop()
        if isinstance(current, FunctionNode | ast.ClassDef | ast.Lambda):
            continue
        if isinstance(current, ast.Break) and nested:
            continue
        yield current
        inner = nested or isinstance(current, ast.For | ast.AsyncFor | ast.While)
        stack.extend((child, inner) for child in ast.iter_child_nodes(current))
