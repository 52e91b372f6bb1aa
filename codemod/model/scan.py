"""One function's body (or a module's top level) -> its summary (`summary.Function`)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from typing import overload

from codemod.model.paths import DISK_NAMES, PATH_FIELD, Paths, disk_uses
from codemod.model.summary import (
    ATTR_BY_CALL,
    CALLED,
    CHANGED_ATTR,
    CHANGED_NAME,
    MAIN_BLOCK,
    MAXIMAL,
    NAME_BY_CALL,
    PASSED,
    STARTED,
    STORE,
    Arg,
    Assigned,
    Call,
    Chain,
    Decorator,
    Function,
    Handed,
    Local,
    Param,
    Ref,
)
from codemod.model.syntax import (
    CALL_ROOT,
    ITEM_ROOT,
    OTHER_ROOT,
    FunctionNode,
    chain_of,
    is_main_guard,
    last_name,
    name_chain,
    parse_expression,
    root_name,
    scope_bindings,
)

# Calls that start their argument as background work rather than run it.
STARTERS = frozenset(
    {
        "create_task",
        "ensure_future",
        "add_task",
        "run_in_executor",
        "to_thread",
        "submit",
        "start_soon",
        "spawn",
        "run_coroutine_threadsafe",
        "Thread",
        "Process",
        "delay",
        "apply_async",
    }
)
# Methods that change a container in place.
MUTATORS = frozenset(
    {
        "append",
        "appendleft",
        "extend",
        "extendleft",
        "insert",
        "remove",
        "pop",
        "popleft",
        "popitem",
        "clear",
        "update",
        "setdefault",
        "add",
        "discard",
        "put",
        "put_nowait",
        "get_nowait",
        "set",
        "sort",
        "reverse",
        "rotate",
        "difference_update",
        "intersection_update",
        "symmetric_difference_update",
        "__setitem__",
        "__delitem__",
    }
)
# Methods that fill a container (or register into a registry) in place.
FILL_METHODS = frozenset(
    {
        "append",
        "extend",
        "insert",
        "add",
        "update",
        "setdefault",
        "register",
        "__setitem__",
        "appendleft",
        "put",
    }
)
PROPERTIES = frozenset({"property", "cached_property", "hybrid_property", "reify", "getter"})
# The last names of the calls summarised in full (see summary.Call).
FULL_CALLS = frozenset(
    {
        "add_api_route",
        "add_route",
        "add_websocket_route",
        "add_api_websocket_route",
        "add_event_handler",
        "setattr",
        "__setattr__",
        "FastAPI",
        "Starlette",
        # Flask: views and hooks registered by call, and the app's constructor
        "add_url_rule",
        "before_first_request",
        "before_app_first_request",
        "before_request",
        "after_request",
        "teardown_request",
        "before_app_request",
        "after_app_request",
        "teardown_app_request",
        "Flask",
        "APIFlask",
    }
)
APP_HOOKS = frozenset({"lifespan", "on_startup", "on_shutdown"})
DEPENDS = frozenset({"Depends", "Security"})
# Which fields of a model were set.
FIELDS_SET = frozenset({"model_fields_set", "__fields_set__", "__pydantic_fields_set__"})
# Decorators that turn a generated wrapper's body into a task (see wraps_implementation).
_GENERATED_KEYWORDS = frozenset({"name", "ignore_result", "autoretry_for"})


def walk(roots: list[ast.AST], stop: tuple[type, ...]) -> list[ast.AST]:
    """The nodes under `roots` (roots included), in source order (depth first), not entering the
    nodes of the `stop` types (they are listed themselves), and without the context and
    operator singletons (`Load`, `Add`, ...). ast.iter_child_nodes inlined: this walk is most
    of the summaries' cost."""
    out: list[ast.AST] = []
    stack: list[ast.AST] = list(reversed(roots))
    node_type = ast.AST
    fields_of = _CHILD_FIELDS
    while stack:
        current = stack.pop()
        out.append(current)
        if isinstance(current, stop):
            continue
        kind = type(current)
        fields = fields_of.get(kind)
        if fields is None:
            fields = fields_of[kind] = tuple(f for f in kind._fields if f not in _NO_CHILDREN)
        if not fields:
            continue
        children: list[ast.AST] = []
        for field in fields:
            value = getattr(current, field, None)
            if isinstance(value, list):
                children.extend(item for item in value if isinstance(item, node_type))
            elif isinstance(value, node_type):
                children.append(value)
        if children:
            children.reverse()
            stack.extend(children)
    return out


# Fields that hold no node worth a visit: contexts and operators are singletons, and these
# fields of some node types hold strings or numbers (a constant's value).
_NO_CHILDREN = frozenset({"ctx", "op", "ops", "type_comment", "id", "attr", "arg", "kind"})
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {ast.Constant: (), ast.Name: ()}


_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_DEFS_AND_LAMBDAS = (*_DEFS, ast.Lambda)


def body_nodes(node: FunctionNode) -> list[ast.AST]:
    """The nodes of a function's body, not those of nested defs and classes (they are functions
    of their own) nor of its decorators."""
    return walk(list(node.body), _DEFS)


def module_nodes(tree: ast.Module) -> list[ast.AST]:
    """The nodes of a module's top level: not those of its defs and classes, nor of lambdas."""
    return walk([s for s in tree.body if not isinstance(s, _DEFS)], _DEFS_AND_LAMBDAS)


def class_chain(node: ast.AST | None) -> Chain | None:
    """The class that defines a name: the constructor of `x = C(...)`, the annotation of
    `x: C = ...` or of a parameter `x: C` (a string annotation too)."""
    if isinstance(node, ast.arg):
        expr = node.annotation
    elif isinstance(node, ast.Assign | ast.AnnAssign):
        value = node.value.value if isinstance(node.value, ast.Await) else node.value
        expr = value.func if isinstance(value, ast.Call) else getattr(node, "annotation", None)
    else:
        return None
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        expr = parse_expression(expr.value)
    return name_chain(expr) if isinstance(expr, ast.Name | ast.Attribute) else None


def annotation_class(expr: ast.expr | None) -> Chain | None:
    """The one class an annotation names: `C`, `mod.C`, `"C"`, `C | None`, `Optional[C]`."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        expr = parse_expression(expr.value)
    if isinstance(expr, ast.Name | ast.Attribute):
        return name_chain(expr)
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.BitOr):
        sides = [e for e in (expr.left, expr.right) if not _is_none(e)]
        return annotation_class(sides[0]) if len(sides) == 1 else None
    if isinstance(expr, ast.Subscript) and last_name(expr.value) == "Optional":
        return annotation_class(expr.slice)
    return None


def _is_none(expr: ast.expr) -> bool:
    return isinstance(expr, ast.Constant) and expr.value is None


def value_class(node: ast.Assign | ast.AnnAssign) -> Chain | None:
    """The class of what an assignment binds: its annotation's, else its constructor's."""
    if isinstance(node, ast.AnnAssign):
        found = annotation_class(node.annotation)
        if found is not None:
            return found
    value = node.value.value if isinstance(node.value, ast.Await) else node.value
    return name_chain(value.func) if isinstance(value, ast.Call) else None


def _changed(node: ast.AST) -> Iterator[tuple[ast.expr, bool]]:
    """The root names (and the attributes right above them) that a statement or call changes in
    place: `x[k] = v`, `x.a = v`, `del x[k]`, `x[k] += 1`, `x.append(v)`; each with whether a
    method of the root itself is called (`x.update(...)`)."""
    targets: list[ast.expr] = []
    by_call = False
    if isinstance(node, ast.Assign | ast.Delete):
        targets = node.targets
    elif isinstance(node, ast.AugAssign | ast.AnnAssign):
        targets = [node.target]
    elif (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in MUTATORS
    ):
        targets = [node.func]
        by_call = isinstance(node.func.value, ast.Name)
    for target in targets:
        elements = target.elts if isinstance(target, ast.Tuple | ast.List) else [target]
        for element in elements:
            if isinstance(element, ast.Name):
                continue
            above: ast.expr | None = None
            expr = element
            while isinstance(expr, ast.Attribute | ast.Subscript):
                above, expr = expr, expr.value
            if isinstance(expr, ast.Name):
                yield expr, by_call
                if isinstance(above, ast.Attribute):
                    yield above, by_call


def _assigned(target: ast.expr, line: int, main: bool) -> Iterator[Assigned]:
    if isinstance(target, ast.Tuple | ast.List):
        for element in target.elts:
            yield from _assigned(element, line, main)
    elif isinstance(target, ast.Starred):
        yield from _assigned(target.value, line, main)
    elif isinstance(target, ast.Name):
        yield Assigned("name", (target.id,), line, main)
    elif isinstance(target, ast.Attribute):
        chain = name_chain(target)
        if chain is not None:
            yield Assigned("attr", chain, line, main)
    elif isinstance(target, ast.Subscript):
        chain = name_chain(target.value)
        if chain is not None:
            yield Assigned("item", chain, line, main)


def _arg(expr: ast.expr) -> Arg:
    starred = isinstance(expr, ast.Starred)
    if isinstance(expr, ast.Starred):
        expr = expr.value
    const = expr.value if isinstance(expr, ast.Constant) and isinstance(expr.value, str) else None
    elts = (
        tuple(name_chain(e) for e in expr.elts)
        if isinstance(expr, ast.List | ast.Tuple | ast.Set)
        else None
    )
    call = name_chain(expr.func) if isinstance(expr, ast.Call) else None
    return Arg(name_chain(expr), const, elts, call, starred)


def full_call(node: ast.Call) -> Call | None:
    """The call summarised in full, if it is one of FULL_CALLS or passes an app hook."""
    func = name_chain(node.func)
    if func is None:
        return None
    if func[-1] not in FULL_CALLS and not any(k.arg in APP_HOOKS for k in node.keywords):
        return None
    return Call(
        func,
        tuple(_arg(a) for a in node.args),
        tuple((k.arg, _arg(k.value)) for k in node.keywords),
        node.lineno,
    )


def decorators_of(node: FunctionNode) -> tuple[Decorator, ...]:
    out: list[Decorator] = []
    for decorator in node.decorator_list:
        is_call = isinstance(decorator, ast.Call)
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        first: str | None = None
        if isinstance(decorator, ast.Call):
            given = next((k.value for k in decorator.keywords if k.arg == "event_type"), None)
            if given is None and decorator.args and not isinstance(decorator.args[0], ast.Starred):
                given = decorator.args[0]
            if isinstance(given, ast.Constant) and isinstance(given.value, str):
                first = given.value
        out.append(Decorator(name_chain(target), is_call, first))
    return tuple(out)


def _defaults(node: FunctionNode) -> list[tuple[ast.arg, ast.expr | None, str]]:
    """Each parameter with its default and kind, in order."""
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults.extend(args.defaults)
    out = [
        (arg, defaults[i], "posonly" if i < len(args.posonlyargs) else "normal")
        for i, arg in enumerate(positional)
    ]
    if args.vararg:
        out.append((args.vararg, None, "vararg"))
    out += [(a, d, "kwonly") for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)]
    if args.kwarg:
        out.append((args.kwarg, None, "kwarg"))
    return out


def _provider(call: ast.Call) -> str:
    given = (
        call.args[0]
        if call.args
        else next((k.value for k in call.keywords if k.arg == "dependency"), None)
    )
    return ast.unparse(given) if given is not None else ""


def params_of(node: FunctionNode, segment: Segment) -> tuple[Param, ...]:
    out: list[Param] = []
    for arg, default, kind in _defaults(node):
        depends = None
        if isinstance(default, ast.Call) and last_name(default.func) in DEPENDS:
            depends = _provider(default)
        out.append(
            Param(
                arg.arg,
                kind,
                segment(arg.annotation) if arg.annotation is not None else None,
                segment(default) if default is not None else None,
                depends,
                class_chain(arg),
                name_chain(default.func) if isinstance(default, ast.Call) else None,
            )
        )
    return tuple(out)


def _root_names(expr: ast.expr) -> list[str]:
    """The names an annotation or a default spells, those of string annotations too."""
    if isinstance(expr, ast.Name):
        return [expr.id]
    names: list[str] = []
    for node in walk([expr], ()):
        if isinstance(node, ast.Name):
            names.append(node.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            inner = parse_expression(node.value)
            if inner is not None:
                names += _root_names(inner)
    return names


def annotation_names(node: FunctionNode) -> tuple[str, ...]:
    """The names the annotations and defaults of the parameters use (for the wrapper's imports)."""
    args = node.args
    named = (*args.posonlyargs, *args.args, *args.kwonlyargs)
    exprs = [a.annotation for a in named if a.annotation]
    exprs += [d for d in (*args.defaults, *args.kw_defaults) if d is not None]
    return tuple(dict.fromkeys(n for e in exprs for n in _root_names(e)))


def wraps_implementation(node: FunctionNode) -> str | None:
    """The implementation a task generated by this tool runs (explicit name=, ignore_result,
    autoretry_for; the implementation imported in its body); None for any other function."""
    generated = any(
        isinstance(d, ast.Call) and {k.arg for k in d.keywords} >= _GENERATED_KEYWORDS
        for d in node.decorator_list
    )
    if not generated:
        return None
    for sub in ast.walk(node):
        if isinstance(sub, ast.ImportFrom) and sub.module and sub.level == 0:
            return f"{sub.module}.{sub.names[0].name}"
    return None


class Segment:
    """Source text of nodes, by their positions (ast.get_source_segment on pre-split lines)."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def __call__(self, node: ast.AST) -> str:
        from codemod.model.syntax import source_segment

        return source_segment(self.lines, node) or ast.unparse(node)


class Scan:
    """One pass over a scope's nodes (in source order: a node comes before its children),
    gathering what summary.Function holds."""

    def __init__(
        self,
        nodes: list[ast.AST],
        params: list[str],
        starters: frozenset[str],
        segment: Segment,
        main: set[int] | None = None,
    ) -> None:
        # The parameters whose calls are followed for the set fields of models; the first one
        # is what `self` is in a method.
        self.params = set(params)
        self.this = params[0] if params else None
        self.segment = segment
        self.starters = starters
        self.main = main or set()
        self.refs: dict[tuple[Chain, int], int] = {}
        self.assigned: list[Assigned] = []
        self.calls: list[Call] = []
        self.handed: list[Handed] = []
        self.fields_set_reads: list[tuple[str, str]] = []
        self.globals: set[str] = set()
        self.starts_background = False
        self.disk_calls: list[ast.Call] = []
        self.records: list[tuple[str, str, int]] = []
        self.assigned_once: dict[str, ast.expr] = {}  # names bound once, to their value
        self.assign_counts: dict[str, int] = {}
        self.endless: tuple[int, str] | None = None
        self.repeats = False
        self.mutates_self = False
        self.changes_self = False
        self.registers = False
        self.self_attrs: dict[str, Chain] = {}  # `self.x = C(...)`, `self.x: C = ...`
        self.returned: list[Chain] = []  # the names it returns or yields
        self.returns_value = False
        self._changed: dict[int, bool] = {}
        # the spans (start, end as (line, column)) of the arguments of calls that start
        # background work: a node in one is started, not run
        self._started: list[tuple[tuple[int, int], tuple[int, int]]] = []
        self._roles: dict[int, int] = {}
        self._inner: set[int] = set()
        for node in nodes:
            kind = type(node)
            if kind is ast.Name or kind is ast.Attribute:
                if id(node) not in self._inner:
                    self._chain(node)  # type: ignore[arg-type]
            elif kind is ast.Call:
                self._call(node)  # type: ignore[arg-type]
            elif kind in _ASSIGNMENTS:
                self._assignment(node)  # type: ignore[arg-type]
            elif kind is ast.Global:
                self.globals.update(node.names)  # type: ignore[attr-defined]
            elif kind is ast.While:
                self._while(node)  # type: ignore[arg-type]
            elif kind is ast.Return or kind is ast.Yield or kind is ast.YieldFrom:
                value = node.value  # type: ignore[attr-defined]
                if kind is ast.Return and isinstance(value, ast.Name) and value.id == self.this:
                    self.registers = True
                chain = name_chain(value) if value is not None else None
                if chain is not None and chain not in self.returned:
                    self.returned.append(chain)
                if kind is ast.Return and value is not None:
                    self.returns_value = True

    # --- names and chains ------------------------------------------------------------------

    def _chain(self, node: ast.Attribute | ast.Name) -> None:
        flags = self._roles.get(id(node), 0)
        if self._started and self._in_started(node):
            flags |= STARTED
        if isinstance(node.ctx, ast.Store | ast.Del):
            flags |= STORE
        if isinstance(node, ast.Attribute) and node.attr in FIELDS_SET:
            root = root_name(node.value)
            if root is not None:
                self.fields_set_reads.append((root, self.segment(node)))
        attrs: list[str] = []
        expr: ast.expr = node
        below: ast.expr | None = None
        while isinstance(expr, ast.Attribute):
            attrs.append(expr.attr)
            self._inner.add(id(expr.value))
            below = expr
            expr = expr.value
        if isinstance(expr, ast.Name):
            attrs.append(expr.id)
            if not (isinstance(node, ast.Name) and flags & STORE):
                flags |= MAXIMAL
            changed = self._changed
            if id(expr) in changed:
                flags |= CHANGED_NAME | (NAME_BY_CALL if changed[id(expr)] else 0)
            if below is not None and id(below) in changed:
                flags |= CHANGED_ATTR | (ATTR_BY_CALL if changed[id(below)] else 0)
        else:
            attrs.append(
                CALL_ROOT
                if isinstance(expr, ast.Call)
                else ITEM_ROOT
                if isinstance(expr, ast.Subscript)
                else OTHER_ROOT
            )
        key = (tuple(reversed(attrs)), flags)
        if key not in self.refs:
            self.refs[key] = node.lineno

    def _in_started(self, node: ast.expr) -> bool:
        at = (node.lineno, node.col_offset)
        return any(start <= at < end for start, end in self._started)

    def _mark_changed(self, node: ast.AST) -> None:
        for target, by_call in _changed(node):
            self._changed[id(target)] = self._changed.get(id(target), True) and by_call

    # --- calls -----------------------------------------------------------------------------

    def _call(self, node: ast.Call) -> None:
        func = node.func
        name = last_name(func)
        if name in self.starters:
            self.starts_background = True
        roles = self._roles
        roles[id(func)] = roles.get(id(func), 0) | CALLED
        arguments = [*node.args, *(k.value for k in node.keywords)]
        for arg in arguments:
            if isinstance(arg, ast.Name | ast.Attribute):
                roles[id(arg)] = roles.get(id(arg), 0) | PASSED
        if name in STARTERS:
            for arg in arguments:
                self._started.append(
                    ((arg.lineno, arg.col_offset), (arg.end_lineno or 0, arg.end_col_offset or 0))
                )
        if isinstance(func, ast.Attribute):
            if func.attr in MUTATORS:
                self._mark_changed(node)
                self.changes_self = self.changes_self or changes_self(node)
            if self.this is not None and _fills(func, self.this):
                self.mutates_self = True
        if name in ("setattr", "__setattr__") and self.this is not None:
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Name) and first.id == self.this:
                self.mutates_self = True
        full = full_call(node)
        if full is not None:
            self.calls.append(full)
        for keyword in node.keywords:
            if keyword.arg and PATH_FIELD.search(keyword.arg):
                self.records.append((keyword.arg, f"{keyword.arg}=...", node.lineno))
        if name in DISK_NAMES:
            self.disk_calls.append(node)
        if self.params:
            self._handed(node)

    def _handed(self, node: ast.Call) -> None:
        func = node.func
        unset = any(
            k.arg == "exclude_unset"
            and not (isinstance(k.value, ast.Constant) and k.value.value is False)
            for k in node.keywords
        )
        func_chain = chain_of(func) if isinstance(func, ast.Name | ast.Attribute) else None
        # a method of a parameter itself: what it does with that parameter is this record alone
        on = root_name(func.value) if isinstance(func, ast.Attribute) else None
        if on in self.params:
            self.handed.append(Handed(on, func_chain, self.segment(func), None, unset, True))
        text: str | None = None
        for i, arg in enumerate(node.args):
            value = arg.value if isinstance(arg, ast.Starred) else arg
            if isinstance(value, ast.Name) and value.id in self.params and value.id != on:
                text = text or self.segment(func)
                at = None if isinstance(arg, ast.Starred) else i
                self.handed.append(Handed(value.id, func_chain, text, at, unset, False))
        for keyword in node.keywords:
            value = keyword.value
            if isinstance(value, ast.Name) and value.id in self.params and value.id != on:
                text = text or self.segment(func)
                self.handed.append(Handed(value.id, func_chain, text, keyword.arg, unset, False))

    # --- statements ------------------------------------------------------------------------

    def _assignment(self, node: ast.Assign | ast.AnnAssign | ast.AugAssign | ast.Delete) -> None:
        self._mark_changed(node)
        self.changes_self = self.changes_self or changes_self(node)
        targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
        main = id(node) in self.main
        for target in targets:
            self.assigned.extend(_assigned(target, node.lineno, main))
            if (
                isinstance(node, ast.Assign | ast.AnnAssign)
                and isinstance(target, ast.Attribute)
                and isinstance(target.value, ast.Name)
                and target.value.id == self.this
            ):
                cls = value_class(node)
                if cls is not None:
                    self.self_attrs.setdefault(target.attr, cls)
            if self.this is not None and not self.mutates_self:
                base = target.value if isinstance(target, ast.Attribute | ast.Subscript) else None
                while isinstance(base, ast.Attribute | ast.Subscript):
                    base = base.value
                if (
                    isinstance(base, ast.Name)
                    and base.id == self.this
                    and not isinstance(node, ast.Delete)
                ):
                    self.mutates_self = True
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Attribute) and PATH_FIELD.search(target.attr):
                    self.records.append((target.attr, f".{target.attr} = ...", node.lineno))
            if len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                name = node.targets[0].id
                self.assign_counts[name] = self.assign_counts.get(name, 0) + 1
                self.assigned_once[name] = node.value
        elif isinstance(node, ast.AnnAssign | ast.AugAssign) and isinstance(node.target, ast.Name):
            self.assign_counts[node.target.id] = 2  # annotated or augmented: not followed

    def _while(self, node: ast.While) -> None:
        if _left(node):
            return
        if _always_true(node.test):
            self.repeats = True
            if self.endless is None:
                self.endless = (node.lineno, ast.unparse(node.test))
        elif any(_sleeps(n) for n in ast.walk(node)):
            self.repeats = True
            if self.endless is None and _until_stopped(node.test):
                self.endless = (node.lineno, ast.unparse(node.test))

    def refs_tuple(self) -> tuple[Ref, ...]:
        return tuple(Ref(chain, flags, line) for (chain, flags), line in self.refs.items())

    def local_values(self) -> dict[str, ast.expr]:
        return {k: v for k, v in self.assigned_once.items() if self.assign_counts[k] == 1}


_ASSIGNMENTS = frozenset({ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Delete})
# The statements that bind names in their scope.
_BINDERS = (
    ast.Import,
    ast.ImportFrom,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Assign,
    ast.AnnAssign,
    ast.AugAssign,
    ast.For,
    ast.AsyncFor,
    ast.With,
    ast.AsyncWith,
)


def _fills(func: ast.Attribute, this: str) -> bool:
    """`this.items.append(...)`: a filling method of an attribute of `this`."""
    return (
        func.attr in FILL_METHODS
        and isinstance(func.value, ast.Attribute)
        and isinstance(func.value.value, ast.Name)
        and func.value.value.id == this
    )


def locals_of(
    node: FunctionNode, nodes: list[ast.AST], module: str, is_package: bool
) -> dict[str, Local]:
    """The names a function binds (the last binding winning, a parameter unless rebound), from
    the statements among its body's nodes (`nodes`, nested defs' bodies not in them)."""
    out: dict[str, Local] = {}
    for stmt in nodes:
        if isinstance(stmt, _BINDERS):
            for name, binding in scope_bindings([stmt], module, is_package, nested=False).items():
                cls = class_chain(binding.node) if binding.kind == "assign" else None
                out.pop(name, None)  # the last binding wins, in source order
                out[name] = Local(binding.kind, binding.target, binding.line, cls, None)
    args = node.args
    for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
        if arg is not None and arg.arg not in out:
            out[arg.arg] = Local("param", arg.arg, node.lineno, class_chain(arg), None)
    return out


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


def summarise_function(
    node: FunctionNode,
    path: tuple[str, ...],
    owner: tuple[str, ...] | None,
    module: str,
    is_package: bool,
    starters: frozenset[str],
    segment: Segment,
    qualify: Paths,
) -> Function:
    nodes = body_nodes(node)
    params = params_of(node, segment)
    method = owner is not None
    scan = Scan(nodes, [p.name for p in params], starters, segment)
    paths = qualify.scope(node, scan.local_values())
    first = min((d.lineno for d in node.decorator_list), default=node.lineno)
    return Function(
        path=path,
        owner=owner,
        line=node.lineno,
        end_line=node.end_lineno or node.lineno,
        first_line=min(first, node.lineno),
        is_async=isinstance(node, ast.AsyncFunctionDef),
        params=params,
        decorators=decorators_of(node),
        locals=locals_of(node, nodes, module, is_package),
        globals=frozenset(scan.globals),
        refs=scan.refs_tuple(),
        assigned=tuple(scan.assigned),
        calls=tuple(scan.calls),
        handed=tuple(scan.handed),
        fields_set_reads=tuple(scan.fields_set_reads),
        disk=tuple(disk_uses(scan.disk_calls, paths)),
        records=tuple(scan.records),
        path_locals=paths.local(),
        endless=scan.endless,
        repeats=scan.repeats,
        mutates_self=scan.mutates_self and method,
        changes_self=scan.changes_self,
        registers=scan.registers,
        is_property=any(
            last_name(d.func if isinstance(d, ast.Call) else d) in PROPERTIES
            for d in node.decorator_list
        ),
        starts_background=scan.starts_background,
        wraps=wraps_implementation(node),
        annotation_names=annotation_names(node),
        self_attrs=tuple(scan.self_attrs.items()) if method else (),
        returns=annotation_class(node.returns),
        returned=tuple(scan.returned),
        returns_value=scan.returns_value,
    )


@overload
def summarise_top_level(
    tree: ast.Module, starters: frozenset[str], segment: Segment, qualify: Paths
) -> Function: ...


@overload
def summarise_top_level(
    tree: ast.Module,
    starters: frozenset[str],
    segment: Segment,
    qualify: Paths,
    main_only: bool,
) -> Function | None: ...


def summarise_top_level(
    tree: ast.Module,
    starters: frozenset[str],
    segment: Segment,
    qualify: Paths,
    main_only: bool = False,
) -> Function | None:
    """The module's top level, as a function of path (); with `main_only`, its `if __name__ ==
    "__main__":` blocks alone, as a function of path MAIN_BLOCK (None: it has none)."""
    guards = [stmt for stmt in tree.body if is_main_guard(stmt)]
    if main_only and not guards:
        return None
    nodes = walk(list(guards), _DEFS_AND_LAMBDAS) if main_only else module_nodes(tree)
    main = {id(n) for stmt in guards for n in ast.walk(stmt)}
    scan = Scan(nodes, [], starters, segment, main)
    paths = qualify.scope(None, {})
    return Function(
        path=MAIN_BLOCK if main_only else (),
        owner=None,
        line=1,
        end_line=len(segment.lines),
        first_line=1,
        is_async=False,
        params=(),
        decorators=(),
        locals={},
        globals=frozenset(),
        refs=scan.refs_tuple(),
        assigned=tuple(scan.assigned),
        calls=tuple(scan.calls),
        handed=(),
        fields_set_reads=(),
        disk=tuple(disk_uses(scan.disk_calls, paths)),
        records=(),
        path_locals={},
        endless=None,
        repeats=False,
        mutates_self=False,
        changes_self=False,
        registers=False,
        is_property=False,
        starts_background=scan.starts_background,
        wraps=None,
        annotation_names=(),
        self_attrs=(),
        returns=None,
        returned=(),
    )


def _is_def(stmt: ast.stmt) -> bool:
    return isinstance(stmt, FunctionNode | ast.ClassDef)


def changes_self(node: ast.AST) -> bool:
    """`self.items.append(x)`, `self.cache[k] = v`, `self.count += 1` (rebinding an attribute,
    a lazy initialiser, does not count)."""
    targets: list[ast.expr]
    if isinstance(node, ast.AugAssign):
        targets = [node.target]
    elif isinstance(node, ast.Assign | ast.Delete):
        targets = [t for t in node.targets if isinstance(t, ast.Subscript)]
    elif (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in MUTATORS
    ):
        targets = [node.func.value]
    else:
        return False
    for target in targets:
        expr: ast.expr = target
        while isinstance(expr, ast.Attribute | ast.Subscript):
            expr = expr.value
        if isinstance(expr, ast.Name) and expr.id == "self" and expr is not target:
            return True
    return False
