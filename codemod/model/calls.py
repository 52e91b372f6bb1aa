"""Which repository function a call (or a function reference) names, resolved by name alone."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from codemod.model.index import ModuleInfo, RepoIndex
from codemod.model.syntax import (
    Binding,
    FunctionNode,
    parse_expression,
    resolve_relative,
    scope_bindings,
    scope_statements,
    spans_line,
)

# How far a name is followed through imports, re-exports and star imports: hops, lookups for
# one name (star imports branch), and parts of a name (`from . import x` can make names grow).
MAX_HOPS = 12
MAX_LOOKUPS = 400
MAX_PARTS = 16


@dataclass(frozen=True, eq=False)  # compared by `key`, never by fields (a module's whole text)
class Function:
    """A function of the repository: module-level, a method, or nested in either."""

    info: ModuleInfo
    path: tuple[str, ...]  # ("Class", "method") or ("outer", "inner")
    node: FunctionNode
    owner: ast.ClassDef | None  # the class a method belongs to

    @property
    def key(self) -> str:
        return ".".join((self.info.module, *self.path))

    @property
    def display(self) -> str:
        return ".".join(self.path)


def module_functions(info: ModuleInfo) -> dict[tuple[str, ...], Function]:
    """Every function of a module by its path: `f`, `C.m`, `f.inner`, `C.m.inner`.

    An explicit stack, not a recursive closure: a closure that calls itself is a reference
    cycle, which `gc.freeze()` (after each parse) would keep alive, and the whole tree with it."""
    out: dict[tuple[str, ...], Function] = {}
    stack: list[tuple[list[ast.stmt], tuple[str, ...], ast.ClassDef | None]] = [
        (info.tree.body, (), None)
    ]
    while stack:
        body, path, owner = stack.pop()
        for stmt in scope_statements(body):
            if isinstance(stmt, FunctionNode):
                here = (*path, stmt.name)
                out[here] = Function(info, here, stmt, owner)
                stack.append((stmt.body, here, None))
            elif isinstance(stmt, ast.ClassDef):
                stack.append((stmt.body, (*path, stmt.name), stmt))
    return out


class Resolver:
    """Resolves names to repository functions and classes, through the lazy index."""

    def __init__(self, index: RepoIndex, wanted: frozenset[str] | None = None) -> None:
        self.index = index
        # When given, only these modules (and those parsed already) are looked into.
        self.wanted = wanted
        self._functions: dict[str, dict[tuple[str, ...], Function]] = {}
        self._locals: dict[int, dict[str, Binding]] = {}
        self._budget = MAX_LOOKUPS
        self._bindings: dict[str, tuple[ModuleInfo, str, Binding] | None] = {}

    def functions(self, info: ModuleInfo) -> dict[tuple[str, ...], Function]:
        found = self._functions.get(info.module)
        if found is None or (found and next(iter(found.values())).info is not info):
            found = self._functions[info.module] = module_functions(info)
        return found

    # --- qualified names ----------------------------------------------------------------------

    def target(self, qualname: str, hops: int = 0) -> Function | ast.ClassDef | None:
        """The function or class that a qualified name ends at, or None (not in the repository,
        or not a function or class)."""
        found = self._binding(qualname, hops)
        if found is None:
            return None
        info, rest, binding = found
        first, _, tail = rest.partition(".")
        node = binding.node
        if binding.kind == "def" and isinstance(node, FunctionNode):
            return Function(info, (first,), node, None) if not tail else None
        if binding.kind == "class" and isinstance(node, ast.ClassDef):
            if not tail:
                return node
            return self._member(info, node, tail, hops)
        if binding.kind == "assign" and tail and "." not in tail:
            # `service = Service()` at module level: `service.method` is Service's method
            cls = self.instance_class(info, node)
            return self._member_of_class(cls, tail, hops) if cls else None
        return None

    def _member(
        self, info: ModuleInfo, cls: ast.ClassDef, tail: str, hops: int
    ) -> Function | ast.ClassDef | None:
        name, _, rest = tail.partition(".")
        # the last definition wins (after `@overload` stubs, as in the class's namespace)
        methods = [s for s in scope_statements(cls.body) if isinstance(s, FunctionNode)]
        method = next((m for m in reversed(methods) if m.name == name), None)
        if method is not None:  # classes found are top-level: the method's path is (class, name)
            return Function(info, (cls.name, name), method, cls) if not rest else None
        for base in self.bases(info, cls, hops):
            found = self._member(base[0], base[1], tail, hops + 1)
            if found is not None:
                return found
        return None

    def _member_of_class(
        self, cls: tuple[ModuleInfo, ast.ClassDef], name: str, hops: int
    ) -> Function | None:
        found = self._member(cls[0], cls[1], name, hops)
        return found if isinstance(found, Function) else None

    def bases(
        self, info: ModuleInfo, cls: ast.ClassDef, hops: int = 0
    ) -> list[tuple[ModuleInfo, ast.ClassDef]]:
        """The repository classes a class derives from directly."""
        out: list[tuple[ModuleInfo, ast.ClassDef]] = []
        if hops > MAX_HOPS:
            return out
        for base in cls.bases:
            qualname = info.qualify_expr(base)
            found = self.class_of(qualname, hops + 1) if qualname else None
            if found is not None:
                out.append(found)
        return out

    def class_of(self, qualname: str, hops: int = 0) -> tuple[ModuleInfo, ast.ClassDef] | None:
        found = self._binding(qualname, hops)
        if found is None:
            return None
        info, rest, binding = found
        if binding.kind == "class" and "." not in rest and isinstance(binding.node, ast.ClassDef):
            return info, binding.node
        return None

    def derives_from(self, qualname: str, roots: frozenset[str], hops: int = 0) -> bool:
        """Whether a class is one of `roots` (qualified names) or derives from one."""
        if qualname in roots:
            return True
        found = self.class_of(qualname, hops)
        if found is None or hops > MAX_HOPS:
            return False
        info, cls = found
        for base in cls.bases:
            name = info.qualify_expr(base)
            if name and self.derives_from(self.canonical(name), roots, hops + 1):
                return True
        return False

    def canonical(self, qualname: str) -> str:
        """A name re-exported by a repository module, as it is defined (or as given)."""
        found = self._binding(qualname, 0)
        if found is None:
            return qualname
        info, rest, binding = found
        return binding.target if binding.kind == "import" else f"{info.module}.{rest}"

    def instance_class(
        self, info: ModuleInfo, node: ast.AST | None
    ) -> tuple[ModuleInfo, ast.ClassDef] | None:
        """The repository class of `x = Class(...)` or `x: Class = ...`."""
        qualname = class_named_by(info, node)
        return self.class_of(qualname) if qualname else None

    def _binding(self, qualname: str, hops: int) -> tuple[ModuleInfo, str, Binding] | None:
        """The module-level binding a qualified name starts at, following imports, re-exports
        and star imports: (module, the rest of the name, the binding). Cached: star imports
        branch, and a name looked up while it is being looked up (a cycle) is not found."""
        if qualname in self._bindings:
            return self._bindings[qualname]
        if hops == 0:
            self._budget = MAX_LOOKUPS
        self._budget -= 1
        if hops > MAX_HOPS or self._budget < 0 or qualname.count(".") > MAX_PARTS:
            return None  # not cached: a shorter path may find it later
        self._bindings[qualname] = None
        found = self._find_binding(qualname, hops)
        self._bindings[qualname] = found
        return found

    def _find_binding(self, qualname: str, hops: int) -> tuple[ModuleInfo, str, Binding] | None:
        found = self._split(qualname)
        if found is None:
            return None
        info, rest = found
        first, _, tail = rest.partition(".")
        binding = info.bindings.get(first)
        if binding is None:
            for star in star_imports(info):
                deeper = self._binding(f"{star}.{rest}", hops + 1)
                if deeper is not None:
                    return deeper
            return None
        if binding.kind == "import":
            target = binding.target + (f".{tail}" if tail else "")
            if target == qualname:
                return None
            return self._binding(target, hops + 1) or (info, rest, binding)
        return info, rest, binding

    def _split(self, qualname: str) -> tuple[ModuleInfo, str] | None:
        if self.wanted is None:
            return self.index.split(qualname)
        parts = qualname.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            name = ".".join(parts[:cut])
            if name in self.wanted or self.index.loaded(name):
                info = self.index.module(name)
                if info is not None:
                    return info, ".".join(parts[cut:])
            elif self.index.exists(name):
                return None  # defined in a module that is not wanted, not in its package
        return None

    # --- expressions inside a function --------------------------------------------------------

    def local_bindings(self, function: Function) -> dict[str, Binding]:
        found = self._locals.get(id(function.node))
        if found is None:
            node = function.node
            found = scope_bindings(node.body, function.info.module, function.info.is_package)
            args = node.args
            for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
                if arg is not None:
                    found.setdefault(arg.arg, Binding("param", arg.arg, node.lineno, arg))
            self._locals[id(node)] = found
        return found

    def callee(
        self, expr: ast.expr, function: Function | None, info: ModuleInfo
    ) -> Function | None:
        """The repository function an expression names where `function` (None: module level)
        uses it: `f`, `module.f`, `Class.method`, `instance.method` of a module-level or local
        `instance = Class()`, `self.method` / `cls.method`, a nested function."""
        if isinstance(expr, ast.Name):
            return self._name(expr.id, function, info)
        if not isinstance(expr, ast.Attribute):
            return None
        base = expr.value
        if isinstance(base, ast.Name) and function is not None:
            owner = self._enclosing_class(function)
            local = self.local_bindings(function).get(base.id)
            if local is not None:
                if local.kind == "param" and base.id in ("self", "cls") and owner is not None:
                    return self._member_of_class((info, owner), expr.attr, 0)
                if local.kind == "assign" and isinstance(local.node, ast.Assign | ast.AnnAssign):
                    cls = self.instance_class(info, local.node)
                    return self._member_of_class(cls, expr.attr, 0) if cls else None
                return None
        qualname = info.qualify_expr(base)
        if qualname is None:
            return None
        found = self.target(f"{qualname}.{expr.attr}")
        return found if isinstance(found, Function) else None

    def _name(self, name: str, function: Function | None, info: ModuleInfo) -> Function | None:
        scope = function
        while scope is not None:
            local = self.local_bindings(scope).get(name)
            if local is not None:
                if local.kind == "def" and isinstance(local.node, FunctionNode):
                    return Function(info, (*scope.path, name), local.node, None)
                if local.kind != "import":
                    return None
                found = self.target(local.target)
                return found if isinstance(found, Function) else None
            scope = self.outer(scope)
        qualname = info.qualify(name)
        if qualname is None or qualname.startswith("builtins."):
            return None
        found = self.target(qualname)
        return found if isinstance(found, Function) else None

    def outer(self, function: Function) -> Function | None:
        """The function a nested function is defined in (None for a method or top-level def)."""
        if function.owner is not None or len(function.path) < 2:
            return None
        return self.functions(function.info).get(function.path[:-1])

    def _enclosing_class(self, function: Function) -> ast.ClassDef | None:
        scope: Function | None = function
        while scope is not None:
            if scope.owner is not None:
                return scope.owner
            scope = self.outer(scope)
        return None


def class_named_by(info: ModuleInfo, node: ast.AST | None) -> str | None:
    """The qualified name of the class that defines a name: the constructor of `x = C(...)`,
    the annotation of `x: C = ...` or of a parameter `x: C` (a string annotation too)."""
    if isinstance(node, ast.arg):
        expr = node.annotation
    elif isinstance(node, ast.Assign | ast.AnnAssign):
        value = node.value
        expr = value.func if isinstance(value, ast.Call) else getattr(node, "annotation", None)
    else:
        return None
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        expr = parse_expression(expr.value)
    return info.qualify_expr(expr) if isinstance(expr, ast.Name | ast.Attribute) else None


def last_name(expr: ast.expr) -> str:
    """The last name an expression spells: `f` for `f`, `m` for `a.b.m`; "" for anything else."""
    if isinstance(expr, ast.Attribute):
        return expr.attr
    return expr.id if isinstance(expr, ast.Name) else ""


def star_imports(info: ModuleInfo) -> list[str]:
    """The modules a module star-imports at its top level (`from .x import *`)."""
    return [
        resolve_relative(info.module, info.is_package, stmt.level, stmt.module)
        for stmt in info.tree.body
        if isinstance(stmt, ast.ImportFrom) and any(a.name == "*" for a in stmt.names)
    ]


def body_nodes(node: FunctionNode, lines: list[int] | None = None) -> Iterator[ast.AST]:
    """The nodes of a function's body, not those of nested defs and classes (they are functions
    of their own) nor of its decorators; with `lines` (sorted), only the nodes that span one."""
    stack: list[ast.AST] = list(reversed(node.body))
    while stack:
        current = stack.pop()
        if lines is not None and not spans_line(current, lines):
            continue
        yield current
        if isinstance(current, FunctionNode | ast.ClassDef):
            continue
        stack.extend(reversed(list(ast.iter_child_nodes(current))))
