"""Find background call sites in a module, matched by qualified name through every import form."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass

from codemod.model.index import ModuleInfo
from codemod.model.syntax import (
    BUILTIN_NAMES,
    Binding,
    FunctionNode,
    parse_expression,
    scope_bindings,
    spans_line,
    walk_lines,
    word_lines,
)
from codemod.models import ADD_TASK, BACKGROUND_TASK, GUARDED_DELAY, RUN_IN_EXECUTOR, SUBMIT, THREAD

LOOP = "<loop>"
LOOP_GETTERS = frozenset(
    {
        "asyncio.get_event_loop",
        "asyncio.get_running_loop",
        "asyncio.events.get_event_loop",
        "asyncio.events.get_running_loop",
    }
)
BACKGROUND_CALLS = {
    "asyncio.create_task": "asyncio.create_task",
    "asyncio.tasks.create_task": "asyncio.create_task",
    "asyncio.ensure_future": "asyncio.ensure_future",
    "asyncio.tasks.ensure_future": "asyncio.ensure_future",
    f"{LOOP}.create_task": "loop.create_task",
    f"{LOOP}.run_in_executor": RUN_IN_EXECUTOR,
    "threading.Thread": THREAD,
    "starlette.background.BackgroundTask": BACKGROUND_TASK,
}
# The executors whose `submit` starts background work, and the types that annotate one.
EXECUTOR_CLASSES = frozenset(
    {
        "concurrent.futures.ThreadPoolExecutor",
        "concurrent.futures.thread.ThreadPoolExecutor",
        "concurrent.futures.ProcessPoolExecutor",
        "concurrent.futures.process.ProcessPoolExecutor",
    }
)
EXECUTOR_TYPES = EXECUTOR_CLASSES | {
    "concurrent.futures.Executor",
    "concurrent.futures._base.Executor",
}
BACKGROUND_TASKS = frozenset(
    {
        "fastapi.BackgroundTasks",
        "fastapi.background.BackgroundTasks",
        "starlette.background.BackgroundTasks",
    }
)
_OPTIONAL = frozenset({"typing.Optional", "typing.Union", "typing.Annotated"})
# A cheap byte test: a module that mentions none of these has no background call site.
MARKERS = (
    b"create_task",
    b"ensure_future",
    b"add_task",
    b"Thread",
    b"run_in_executor",
    b".submit",
    b"BackgroundTask",
)


def may_have_sites(data: bytes) -> bool:
    """False only for a module that can hold no call site: none of MARKERS, and no `.delay`."""
    return (
        any(marker in data for marker in MARKERS) or b".delay" in data or b"guarded_delay" in data
    )


@dataclass
class Scope:
    """One function scope (or the module), with the names it binds."""

    node: FunctionNode | ast.Module
    bindings: dict[str, Binding]


@dataclass
class Candidate:
    """A background call as found, with the context that classification needs."""

    call: ast.Call
    kind: str
    parents: tuple[ast.AST, ...]  # from the module down to the call's parent
    scopes: tuple[Scope, ...]  # innermost first; the module scope last

    @property
    def statement(self) -> ast.stmt:
        return next(p for p in reversed(self.parents) if isinstance(p, ast.stmt))

    @property
    def function(self) -> FunctionNode | None:
        node = self.scopes[0].node
        return None if isinstance(node, ast.Module) else node


def function_scope(node: FunctionNode, info: ModuleInfo) -> Scope:
    bindings = scope_bindings(node.body, info.module, info.is_package)
    args = node.args
    for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
        if arg is not None:
            bindings.setdefault(arg.arg, Binding("param", arg.arg, node.lineno, node))
    return Scope(node, bindings)


def lookup(name: str, scopes: tuple[Scope, ...]) -> tuple[Scope, Binding] | None:
    for scope in scopes:
        if name in scope.bindings:
            return scope, scope.bindings[name]
    return None


def qualify(
    expr: ast.expr, scopes: tuple[Scope, ...], info: ModuleInfo, seen: frozenset[int] = frozenset()
) -> str | None:
    """The qualified name an expression refers to, or LOOP for an event loop; None if unknown."""
    if isinstance(expr, ast.Name):
        found = lookup(expr.id, scopes)
        if found is None:
            return f"builtins.{expr.id}" if expr.id in BUILTIN_NAMES else None
        scope, binding = found
        if binding.kind == "import":
            return binding.target
        if binding.kind == "assign" and isinstance(binding.node, ast.Assign | ast.AnnAssign):
            value = binding.node.value
            if id(value) in seen:  # `line = line.strip()`: a name defined by itself
                return None
            seen |= {id(value)}
            if (
                isinstance(value, ast.Call)
                and qualify(value.func, scopes, info, seen) in LOOP_GETTERS
            ):
                return LOOP
            return None
        if binding.kind in ("def", "class") and isinstance(scope.node, ast.Module):
            return f"{info.module}.{expr.id}"
        return None
    if isinstance(expr, ast.Attribute):
        base = qualify(expr.value, scopes, info, seen)
        return f"{base}.{expr.attr}" if base else None
    if isinstance(expr, ast.Call) and qualify(expr.func, scopes, info, seen) in LOOP_GETTERS:
        return LOOP
    return None


def background_kind(call: ast.Call, scopes: tuple[Scope, ...], info: ModuleInfo) -> str | None:
    """What starts background work here (`asyncio.create_task`, ...), or None."""
    func = call.func
    if (
        isinstance(func, ast.Attribute)
        and func.attr == "add_task"
        and _is_background_tasks(func.value, scopes, info)
    ):
        return ADD_TASK
    if (
        isinstance(func, ast.Attribute)
        and func.attr == "submit"
        and executor_of(func.value, scopes, info) is not None
    ):
        return SUBMIT
    return BACKGROUND_CALLS.get(qualify(func, scopes, info) or "")


def executor_of(expr: ast.expr, scopes: tuple[Scope, ...], info: ModuleInfo) -> str | None:
    """ "pool" for a `concurrent.futures` executor that outlives the call (a name or an attribute
    that the module assigns one, a parameter annotated with one), "with" for one that a `with`
    block shuts down (waiting for its jobs) at its end, "import" for a name another module
    defines (whether it is an executor is the program's to tell); None: no executor."""
    if isinstance(expr, ast.Name):
        found = lookup(expr.id, scopes)
        if found is None:
            return None
        scope, binding = found
        node = binding.node
        if binding.kind == "import":
            return "import"
        if binding.kind == "param" and isinstance(scope.node, FunctionNode):
            args = scope.node.args
            for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs):
                if arg.arg == expr.id and arg.annotation is not None:
                    return (
                        "pool" if qualify(arg.annotation, scopes, info) in EXECUTOR_TYPES else None
                    )
            return None
        if isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                var = item.optional_vars
                if isinstance(var, ast.Name) and var.id == expr.id:
                    return "with" if _constructs(item.context_expr, scopes, info) else None
            return None
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            if _constructs(node.value, scopes, info):
                return "pool"
            return _annotates(node, scopes, info)
        return None
    if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name):
        found = lookup(expr.value.id, scopes)
        if found is not None and found[1].kind == "import":
            return "import"  # `executors.pool`
        # `self._executor`: assigned an executor where the module sets that attribute (in
        # `__init__`, or as a class attribute).
        module_scope = scopes[-1:]
        for node, _ in walk_lines(info.tree, word_lines(info.source, [expr.attr])):
            if not isinstance(node, ast.Assign | ast.AnnAssign) or node.value is None:
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(
                (isinstance(t, ast.Attribute) and t.attr == expr.attr)
                or (isinstance(t, ast.Name) and t.id == expr.attr)
                for t in targets
            ) and (
                _constructs(node.value, module_scope, info) or _annotates(node, module_scope, info)
            ):
                return "pool"
    return None


def _constructs(value: ast.expr, scopes: tuple[Scope, ...], info: ModuleInfo) -> bool:
    return isinstance(value, ast.Call) and qualify(value.func, scopes, info) in EXECUTOR_CLASSES


def _annotates(
    node: ast.Assign | ast.AnnAssign, scopes: tuple[Scope, ...], info: ModuleInfo
) -> str | None:
    if isinstance(node, ast.AnnAssign) and qualify(node.annotation, scopes, info) in EXECUTOR_TYPES:
        return "pool"
    return None


def _is_background_tasks(expr: ast.expr, scopes: tuple[Scope, ...], info: ModuleInfo) -> bool:
    """A name bound to a FastAPI/Starlette `BackgroundTasks`: a parameter annotated with it (or
    `Optional`, `| None`, `Annotated` of it) or defaulting to `BackgroundTasks()`, or a local
    assigned one. Never by the method name alone."""
    if not isinstance(expr, ast.Name):
        return False
    found = lookup(expr.id, scopes)
    if found is None:
        return False
    scope, binding = found
    if binding.kind == "param" and isinstance(scope.node, FunctionNode):
        args = scope.node.args
        positional = [*args.posonlyargs, *args.args]
        defaults = dict(zip(reversed(positional), reversed(args.defaults), strict=False))
        defaults.update((a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d)
        for arg in (*positional, *args.kwonlyargs):
            if arg.arg == expr.id:
                default = defaults.get(arg)
                return _names_background_tasks(arg.annotation, scopes, info) or (
                    isinstance(default, ast.Call)
                    and qualify(default.func, scopes, info) in BACKGROUND_TASKS
                )
        return False
    node = binding.node
    if binding.kind == "assign" and isinstance(node, ast.Assign | ast.AnnAssign):
        value = node.value
        if isinstance(value, ast.Call) and qualify(value.func, scopes, info) in BACKGROUND_TASKS:
            return True
        return isinstance(node, ast.AnnAssign) and _names_background_tasks(
            node.annotation, scopes, info
        )
    return False


def _names_background_tasks(
    annotation: ast.expr | None, scopes: tuple[Scope, ...], info: ModuleInfo
) -> bool:
    if annotation is None:
        return False
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        annotation = parse_expression(annotation.value)
        if annotation is None:
            return False
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        return _names_background_tasks(annotation.left, scopes, info) or _names_background_tasks(
            annotation.right, scopes, info
        )
    if (
        isinstance(annotation, ast.Subscript)
        and qualify(annotation.value, scopes, info) in _OPTIONAL
    ):
        inner = annotation.slice
        first = inner.elts if isinstance(inner, ast.Tuple) else [inner]
        if qualify(annotation.value, scopes, info) == "typing.Annotated":
            first = first[:1]
        return any(_names_background_tasks(e, scopes, info) for e in first)
    return qualify(annotation, scopes, info) in BACKGROUND_TASKS


def find_sites(
    info: ModuleInfo, queued_too: bool = True
) -> tuple[list[Candidate], list[tuple[ast.Attribute, Candidate, str | None]]]:
    """In one walk: every call of a background-task starter, in source order; and, when
    `queued_too`, each `X.delay` of a qualified `X` that no asyncio fallback follows, or the
    runner's `guarded_delay(X, ...)` (the call sites that `--no-fallback` migrated), with the
    runner it goes through. Whether `X` is a task of the tasks package is the caller's
    question: the module alone does not tell."""
    candidates: list[Candidate] = []
    queued: list[tuple[ast.Attribute, Candidate, str | None]] = []
    lines, names = markers(info.source)
    for node, parents, scopes in walk_scoped(info, lines):
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name | ast.Attribute) and _spelled(node.func) in names:
                kind = background_kind(node, scopes, info)
                if kind is not None:
                    candidates.append(Candidate(node, kind, parents, scopes))
            elif queued_too and node.args:
                found = _guarded_delay(node, parents, scopes, info)
                if found is not None:
                    queued.append(found)
        elif queued_too and isinstance(node, ast.Attribute) and node.attr == "delay":
            if any(_has_fallback(p, scopes, info) for p in parents):
                continue
            qualname = qualify(node.value, scopes, info)
            if qualname and qualname != LOOP:
                call = ast.Call(node, [], [])
                queued.append((node, Candidate(call, qualname, parents, scopes), None))
    return candidates, queued


# The last name a background starter is called by (`asyncio.create_task`, `loop.create_task`,
# `tasks.add_task`; `from asyncio import create_task as spawn` makes `spawn` one).
_NAMES = frozenset(
    {
        "create_task",
        "ensure_future",
        "add_task",
        "Thread",
        "run_in_executor",
        "submit",
        "BackgroundTask",
    }
)
# What `from asyncio import X as Y` (threading, starlette.background) can be.
_ALIASED = frozenset({"create_task", "ensure_future", "Thread", "BackgroundTask"})
_AS = re.compile(r"\s+as\s+(\w+)")


def _guarded_delay(
    node: ast.Call,
    parents: tuple[ast.AST, ...],
    scopes: tuple[Scope, ...],
    info: ModuleInfo,
) -> tuple[ast.Attribute, Candidate, str | None] | None:
    """`guarded_delay(task, ...)` (or handed to `to_thread`) with no fallback around it: the
    same as `task.delay(...)`, the arguments checked at run time (`unverified-args = "guard"`)."""
    found = guarded_task(node, scopes, info)
    if found is None:
        return None
    runner, task = found
    if any(_has_fallback(p, scopes, info) for p in parents):
        return None
    qualname = qualify(task, scopes, info)
    if not qualname or qualname == LOOP:
        return None
    attribute = ast.copy_location(ast.Attribute(task, "delay", ast.Load()), node)
    return attribute, Candidate(ast.Call(attribute, [], []), qualname, parents, scopes), runner


RUNNER_GUARD = f".async_runner.{GUARDED_DELAY}"


def guarded_task(
    node: ast.AST, scopes: tuple[Scope, ...], info: ModuleInfo
) -> tuple[str, ast.expr] | None:
    """The runner's check of unverified arguments and its task: `guarded_delay(task, ...)`, or
    `guarded_delay` handed on with it (`to_thread(guarded_delay, task, ...)`, `partial(...)`):
    (the runner's `guarded_delay`, qualified, the task)."""
    if not (isinstance(node, ast.Call) and node.args):
        return None
    spelled = [e for e in (node.func, node.args[0]) if isinstance(e, ast.Name | ast.Attribute)]
    if not any(_spelled(e) == GUARDED_DELAY for e in spelled):
        return None  # most calls: no name to qualify
    runner = qualify(node.func, scopes, info) or ""
    if runner.endswith(RUNNER_GUARD):
        return runner, node.args[0]
    runner = qualify(node.args[0], scopes, info) or ""
    if len(node.args) > 1 and runner.endswith(RUNNER_GUARD):
        return runner, node.args[1]
    return None


def _spelled(func: ast.Name | ast.Attribute) -> str:
    return func.attr if isinstance(func, ast.Attribute) else func.id


def _has_fallback(node: ast.AST, scopes: tuple[Scope, ...], info: ModuleInfo) -> bool:
    if not isinstance(node, ast.Try):
        return False
    return any(
        isinstance(sub, ast.Call) and background_kind(sub, scopes, info) is not None
        for handler in node.handlers
        for sub in ast.walk(handler)
    )


def markers(source: str) -> tuple[list[int], frozenset[str]]:
    """The lines of `source` that spell a word a call site's names may contain, and the names a
    background starter may be called by here (with the aliases of `create_task as spawn`)."""
    names = set(_NAMES)
    for word in _ALIASED:
        at = source.find(word)
        while at >= 0:
            if found := _AS.match(source, at + len(word)):
                names.add(found.group(1))
            at = source.find(word, at + len(word))
    return word_lines(source, sorted({*names, "delay"})), frozenset(names)


def walk_scoped(
    info: ModuleInfo, lines: list[int] | None = None
) -> Iterator[tuple[ast.AST, tuple[ast.AST, ...], tuple[Scope, ...]]]:
    """Every node of the module that a call site can be in, with its parents and the scopes that
    see it. A statement or expression whose lines spell no marker word is not entered: the walk
    costs in proportion to the code around the call sites, not to the module."""
    lines = markers(info.source)[0] if lines is None else lines
    if not lines:
        return iter(())
    return _walk(info.tree, (), (Scope(info.tree, info.bindings),), info, lines)


def _walk(
    node: ast.AST,
    parents: tuple[ast.AST, ...],
    scopes: tuple[Scope, ...],
    info: ModuleInfo,
    lines: list[int],
) -> Iterator[tuple[ast.AST, tuple[ast.AST, ...], tuple[Scope, ...]]]:
    # An explicit stack: deeply nested expressions must not exhaust the recursion limit.
    stack: list[tuple[ast.AST, tuple[ast.AST, ...], tuple[Scope, ...]]] = [(node, parents, scopes)]
    while stack:
        current, chain, inner = stack.pop()
        yield current, chain, inner
        if isinstance(current, FunctionNode):
            inner = (function_scope(current, info), *inner)
        children = [c for c in ast.iter_child_nodes(current) if spans_line(c, lines)]
        below = (*chain, current)  # one tuple per node, shared by its children
        for child in reversed(children):
            stack.append((child, below, inner))


def parent_map(root: ast.AST, lines: list[int] | None = None) -> dict[int, ast.AST]:
    """Each node's parent, by the node's id; with `lines`, of the nodes that span one of them."""
    if lines is not None:
        return {id(node): parent for node, parent in walk_lines(root, lines) if parent}
    return {id(child): node for node in ast.walk(root) for child in ast.iter_child_nodes(node)}
