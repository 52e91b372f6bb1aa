"""One function's def (or a module's top level) -> its summary (`summary.Function`)."""

from __future__ import annotations

import ast
from typing import overload

from codemod.model.nodes import (
    _DEFS_AND_LAMBDAS,
    Segment,
    annotation_class,
    body_nodes,
    class_chain,
    module_nodes,
    walk,
)
from codemod.model.paths import Paths, disk_uses
from codemod.model.scan import Scan
from codemod.model.signature import (
    PROPERTIES,
    annotation_names,
    decorators_of,
    params_of,
    wraps_implementation,
)
from codemod.model.summary import MAIN_BLOCK, Function, Local
from codemod.model.syntax import FunctionNode, is_main_guard, last_name, scope_bindings

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
        made=tuple(scan.made),
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
