"""Whether a `while` loop runs for ever: an endless loop, or a service loop until a stop flag."""

from __future__ import annotations

import ast
import re

from codemod.model.syntax import FunctionNode, last_name


def _sleeps(node: ast.AST) -> bool:
    """`time.sleep(...)`, `asyncio.sleep(...)`, or a wait with a timeout (`event.wait(6)`)."""
    if not isinstance(node, ast.Call):
        return False
    name = last_name(node.func)
    return name == "sleep" or (name == "wait" and bool(node.args or node.keywords))


# The words of a flag that a service loop runs until (`while not stop_event.is_set():`,
# `while self._running:`): set when the process stops, never by the job.
_STOP_WORDS = frozenset(
    {
        "stop",
        "stopped",
        "stopping",
        "shutdown",
        "exit",
        "exiting",
        "quit",
        "terminate",
        "terminated",
        "running",
        "alive",
        "closing",
        "closed",
        "cancelled",
    }
)


def _until_stopped(test: ast.expr) -> bool:
    """A loop that runs until a stop flag is set: `while not stop_event.is_set()`, `while
    self._running`, `while not SHUTDOWN` (with a sleep or a wait in it: a service loop)."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        test = test.operand
    if isinstance(test, ast.Call) and not test.args and isinstance(test.func, ast.Attribute):
        if test.func.attr not in ("is_set", "is_alive"):
            return False
        test = test.func.value
    if not isinstance(test, ast.Name | ast.Attribute):
        return False
    words = set(re.split(r"_+", last_name(test).lower()))
    return bool(words & _STOP_WORDS)


def _always_true(test: ast.expr) -> bool:
    return isinstance(test, ast.Constant) and bool(test.value) and test.value is not Ellipsis


def _left(loop: ast.While) -> bool:
    """Whether a `break` of this loop or a `return` is in its body."""
    stack: list[tuple[ast.AST, bool]] = [(s, False) for s in (*loop.body, *loop.orelse)]
    while stack:
        current, nested = stack.pop()
        if isinstance(current, FunctionNode | ast.ClassDef | ast.Lambda):
            continue
        if isinstance(current, ast.Break) and nested:
            continue
        if isinstance(current, ast.Break | ast.Return):
            return True
        deeper = nested or isinstance(current, ast.For | ast.AsyncFor | ast.While)
        stack.extend((child, deeper) for child in ast.iter_child_nodes(current))
    return False


_EXHAUSTED = frozenset({"StopIteration", "StopAsyncIteration"})
_DUNDERS = frozenset({"__next__", "__anext__"})


def _catches_exhaustion(node: ast.Try) -> bool:
    """Whether a `try` has a handler for an iterator's end (`except StopAsyncIteration:`)."""
    for handler in node.handlers:
        kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        if any(kind is not None and last_name(kind) in _EXHAUSTED for kind in kinds):
            return True
    return False


def _advances(loop: ast.While) -> bool:
    """Whether a loop advances an iterator by hand (`next(it)`, `await anext(it)`,
    `it.__anext__()`), in its own body: it ends when the iterator does, where its end is
    caught. `next(it, default)` never raises: no such exit."""
    stack: list[ast.AST] = [*loop.body]
    while stack:
        node = stack.pop()
        if isinstance(node, FunctionNode | ast.ClassDef | ast.Lambda):
            continue
        if isinstance(node, ast.Call) and not node.keywords:
            func = node.func
            if isinstance(func, ast.Name) and func.id in ("next", "anext") and len(node.args) == 1:
                return True
            if isinstance(func, ast.Attribute) and func.attr in _DUNDERS and not node.args:
                return True
        stack.extend(ast.iter_child_nodes(node))
    return False
