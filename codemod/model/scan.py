"""One pass over a scope's nodes (`Scan`): the names, calls, assignments, loops, returns in it."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from codemod.model.loops import (
    _advances,
    _always_true,
    _catches_exhaustion,
    _left,
    _sleeps,
    _until_stopped,
)
from codemod.model.nodes import (
    APP_HOOKS,
    FIELDS_SET,
    FILL_METHODS,
    FULL_CALLS,
    MUTATORS,
    STARTERS,
    Segment,
    value_class,
)
from codemod.model.paths import DISK_NAMES, PATH_FIELD
from codemod.model.summary import (
    ATTR_BY_CALL,
    CALLED,
    CHANGED_ATTR,
    CHANGED_NAME,
    MAXIMAL,
    NAME_BY_CALL,
    PASSED,
    STARTED,
    STORE,
    Arg,
    Assigned,
    Call,
    Chain,
    Handed,
    Ref,
)
from codemod.model.syntax import (
    CALL_ROOT,
    ITEM_ROOT,
    OTHER_ROOT,
    chain_of,
    last_name,
    name_chain,
    root_name,
)


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
        self.made: list[Chain] = []  # what `return C(...)` calls
        self._changed: dict[int, bool] = {}
        # the spans (start, end as (line, column)) of the arguments of calls that start
        # background work: a node in one is started, not run
        self._started: list[tuple[tuple[int, int], tuple[int, int]]] = []
        self._roles: dict[int, int] = {}
        self._inner: set[int] = set()
        # the lines of `try` bodies whose handlers catch an iterator's end (StopIteration)
        self._exhausting: list[tuple[int, int]] = []
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
            elif kind is ast.Try or kind is ast.TryStar:
                if _catches_exhaustion(node):  # type: ignore[arg-type]
                    body = node.body  # type: ignore[attr-defined]
                    self._exhausting.append((body[0].lineno, body[-1].end_lineno or 0))
            elif kind is ast.Return or kind is ast.Yield or kind is ast.YieldFrom:
                value = node.value  # type: ignore[attr-defined]
                if kind is ast.Return and isinstance(value, ast.Name) and value.id == self.this:
                    self.registers = True
                chain = name_chain(value) if value is not None else None
                if chain is not None and chain not in self.returned:
                    self.returned.append(chain)
                if kind is ast.Return and value is not None:
                    self.returns_value = True
                    made = name_chain(value.func) if isinstance(value, ast.Call) else None
                    if made is not None and made not in self.made:
                        self.made.append(made)

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
        if _advances(node) and any(a <= node.lineno <= b for a, b in self._exhausting):
            return  # `while True: await anext(pages)` in a try that catches its end
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


def _fills(func: ast.Attribute, this: str) -> bool:
    """`this.items.append(...)`: a filling method of an attribute of `this`."""
    return (
        func.attr in FILL_METHODS
        and isinstance(func.value, ast.Attribute)
        and isinstance(func.value.value, ast.Name)
        and func.value.value.id == this
    )


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
