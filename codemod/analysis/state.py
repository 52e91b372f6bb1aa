"""Start-up state: what the web app's start-up sets at module level, and the jobs that read it."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from codemod.model.calls import Function, Resolver, body_nodes, last_name, module_functions
from codemod.model.files import relpath
from codemod.model.index import ModuleInfo, RepoIndex, defaults_of
from codemod.model.syntax import FunctionNode

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
# How far start-up code and a job are followed (calls deep), and how many functions a job's
# check looks at in all.
STARTUP_DEPTH = 8
JOB_DEPTH = 6
JOB_BUDGET = 400
# A name that too many modules define is too generic to follow by name alone.
MAX_BY_NAME_FILES = 40


@dataclass(frozen=True)
class Setter:
    """Where a piece of start-up state is set: the start-up callable a worker would run to set
    it (`entry`, "module:function" when it is a module-level function), and the description."""

    what: str  # "`start_forge_app()` (skyvern/forge/forge_app_initializer.py), from lifespan ..."
    entry: str | None


@dataclass(frozen=True)
class StartupState:
    """Module-level state that the app's start-up sets and a worker does not: by dotted key
    (`pkg.mod.obj`: the whole object; `pkg.mod.obj.attr`: one attribute; `pkg.mod.NAME`: a
    module-level name), with the variable name a reader must spell, and who sets it."""

    keys: dict[str, tuple[str, Setter]] = field(default_factory=dict)
    # The functions the start-up runs (and those `worker-startup` runs), by key: what they
    # change is start-up state, not state shared with requests.
    code: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.keys)

    def words(self) -> list[str]:
        """The variable names a reader of the state must spell."""
        return sorted({word for word, _ in self.keys.values()})

    def match(self, dotted: str) -> str | None:
        """The state key an expression's dotted name reads, if any."""
        for key in self.keys:
            if dotted == key or dotted.startswith(key + ".") or key.startswith(dotted + "."):
                return key
        return None


@dataclass
class _Walk:
    """One start-up root's reach, breadth first, with the callable right below the root."""

    function: Function | None  # None: module-level code
    info: ModuleInfo
    entry: Function | None  # the runnable callable right below the root, or the root
    root: str
    depth: int = 0


def collect_state(
    roots: Iterable[tuple[Function, str]],
    module_roots: Iterable[tuple[ModuleInfo, str]],
    resolver: Resolver,
    worker_startup: Iterable[str] = (),
) -> StartupState:
    """The state set by start-up `roots` (function, description) and by the module-level code of
    `module_roots` (the app's main modules), less what the `worker-startup` callables set too."""
    found: dict[str, tuple[str, Setter]] = {}
    code: set[str] = set()
    for key, word, walk, where in _state_sets(roots, module_roots, resolver, code):
        if key not in found and not any(key.startswith(k + ".") for k in found):
            found[key] = (word, _setter(walk, where, resolver.index.root))
    if found:
        covered = _covered(worker_startup, resolver, code)
        found = {
            k: v
            for k, v in found.items()
            if not any(k == c or k.startswith(c + ".") for c in covered)
        }
    return StartupState(found, frozenset(code))


def _spells(data: bytes, words: list[str]) -> bool:
    """Whether the bytes spell one of the words as a whole word (a fast find first)."""
    return any(
        word.encode() in data and re.search(rb"\b" + re.escape(word.encode()) + rb"\b", data)
        for word in words
    )


def _setter(walk: _Walk, where: ast.AST, root: Path) -> Setter:
    entry = walk.entry
    if entry is None:
        if walk.function is None:
            line = getattr(where, "lineno", 0)
            return Setter(
                f"the module level of {relpath(walk.info.path, root)} (line {line})", None
            )
        return Setter(walk.root, None)
    runnable = len(entry.path) == 1 and not _required(entry.node)
    name = f"{entry.info.module}:{entry.path[0]}" if runnable else None
    if entry is walk.function and walk.depth == 0:
        return Setter(walk.root, name)
    return Setter(
        f"`{entry.display}()` ({relpath(entry.info.path, root)}), called from {walk.root}", name
    )


def _required(node: FunctionNode) -> list[str]:
    """The parameters without a default: a start-up callable that a worker runs takes none."""
    return [arg.arg for arg, default in defaults_of(node) if default is None]


def _covered(worker_startup: Iterable[str], resolver: Resolver, code: set[str]) -> set[str]:
    roots: list[tuple[Function, str]] = []
    for spec in worker_startup:
        module, _, name = spec.partition(":")
        found = resolver.target(f"{module}.{name}")
        if isinstance(found, Function):
            roots.append((found, "worker-startup"))
    return {key for key, _, _, _ in _state_sets(roots, (), resolver, code)}


def _state_sets(
    roots: Iterable[tuple[Function, str]],
    module_roots: Iterable[tuple[ModuleInfo, str]],
    resolver: Resolver,
    code: set[str],
) -> Iterator[tuple[str, str, _Walk, ast.AST]]:
    """(key, variable name, the walk it was set in, the node) for each piece of state set;
    the keys of the functions walked go into `code`."""
    seen: set[str] = set()
    layer: list[_Walk] = []
    for function, why in roots:
        if function.key not in seen:
            seen.add(function.key)
            code.add(function.key)
            runnable = not _required(function.node) and len(function.path) == 1
            layer.append(_Walk(function, function.info, function if runnable else None, why))
    for info, why in module_roots:
        layer.append(_Walk(None, info, None, why))
    for _ in range(STARTUP_DEPTH + 1):
        following: list[_Walk] = []
        for walk in layer:
            scope = _Scope(walk.info, walk.function, resolver)
            for key, word, node in scope.sets():
                yield key, word, walk, node
            for called in scope.callees():
                if called.key in seen:
                    continue
                seen.add(called.key)
                code.add(called.key)
                # The callable right below the root names the start-up a worker would run: a
                # lifespan or a startup handler may do more (start servers, schedulers).
                entry = called if walk.depth == 0 else walk.entry
                following.append(_Walk(called, called.info, entry, walk.root, walk.depth + 1))
        if not following:
            break
        layer = following


def _is_main_guard(stmt: ast.stmt) -> bool:
    test = stmt.test if isinstance(stmt, ast.If) else None
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.comparators) == 1
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == "__main__"
    )


class _Scope:
    """One function (or a module's top level) of the repository, read for what it sets and reads
    at module level."""

    def __init__(self, info: ModuleInfo, function: Function | None, resolver: Resolver) -> None:
        self.info = info
        self.function = function
        self.resolver = resolver
        self._globals: set[str] | None = None
        self._main: set[int] | None = None

    def nodes(self) -> Iterator[ast.AST]:
        if self.function is not None:
            yield from body_nodes(self.function.node)
            return
        stack: list[ast.AST] = [
            s
            for s in reversed(self.info.tree.body)
            if not isinstance(s, FunctionNode | ast.ClassDef | ast.Import | ast.ImportFrom)
        ]
        while stack:
            current = stack.pop()
            yield current
            if not isinstance(current, FunctionNode | ast.ClassDef | ast.Lambda):
                stack.extend(reversed(list(ast.iter_child_nodes(current))))

    def main_block(self) -> set[int]:
        """The nodes under the module's `if __name__ == "__main__":` blocks."""
        if self._main is None:
            self._main = {
                id(node)
                for stmt in self.info.tree.body
                if _is_main_guard(stmt)
                for node in ast.walk(stmt)
            }
        return self._main

    def globals(self) -> set[str]:
        if self._globals is None:
            self._globals = {
                name for node in self.nodes() if isinstance(node, ast.Global) for name in node.names
            }
        return self._globals

    # --- names ------------------------------------------------------------------------------

    def dotted(self, expr: ast.expr) -> tuple[str, str] | None:
        """(qualified dotted name, the module-level variable's name) of `a.b.c` whose `a` is a
        module-level name of the repository (or a module), as this scope sees it."""
        attrs: list[str] = []
        while isinstance(expr, ast.Attribute):
            attrs.append(expr.attr)
            expr = expr.value
        if not isinstance(expr, ast.Name):
            return None
        name = expr.id
        base: str | None
        if self.function is not None and name not in self.globals():
            local = self.resolver.local_bindings(self.function).get(name)
            if local is not None:
                if local.kind != "import":
                    return None
                base = local.target
            else:
                base = self._outer(name)
        else:
            base = self.info.qualify(name)
        if base is None or base.startswith("builtins."):
            return None
        base = self.resolver.canonical(base)
        dotted = ".".join([base, *reversed(attrs)])
        return dotted, base.rpartition(".")[2]

    def _outer(self, name: str) -> str | None:
        scope = self.resolver.outer(self.function) if self.function else None
        while scope is not None:
            local = self.resolver.local_bindings(scope).get(name)
            if local is not None:
                return local.target if local.kind == "import" else None
            scope = self.resolver.outer(scope)
        return self.info.qualify(name)

    def state_key(self, expr: ast.expr, whole: bool) -> tuple[str, str] | None:
        """The key of module-level state that assigning to (or filling) `expr` sets: the
        expression's own dotted name, or the object's as a whole; None for anything else."""
        found = self.dotted(expr)
        if found is None:
            return None
        dotted = found[0]
        index = self.resolver.index
        if index.exists(dotted):
            return None  # a module: its names are state, not the module
        parts = dotted.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            module = ".".join(parts[:cut])
            if not index.exists(module):
                continue
            info = index.module(module)
            if info is None:
                return None
            binding = info.bindings.get(parts[cut])
            if binding is not None and binding.kind in ("def", "class"):
                return None  # a function's or a class's attribute: no start-up state
            if binding is not None and binding.kind == "import":
                return None
            variable = ".".join(parts[: cut + 1])
            return (variable if whole else dotted), parts[cut]
        return None

    # --- what it sets -----------------------------------------------------------------------

    def rebound(self) -> Iterator[str]:
        """The module-level names this function rebinds (`global x; x = ...`)."""
        names = self.globals()
        if not names or self.function is None:
            return
        for node in self.nodes():
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id in names:
                yield f"{self.info.module}.{node.id}"

    def sets(self) -> Iterator[tuple[str, str, ast.AST]]:
        module_level = self.function is None
        for node in self.nodes():
            if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign | ast.Delete):
                targets = (
                    node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
                )
                for target in targets:
                    yield from self._target(target, module_level, node)
            elif isinstance(node, ast.Call):
                found = self._call_sets(node)
                if found is not None:
                    yield (*found, node)

    def _target(
        self, target: ast.expr, module_level: bool, node: ast.AST
    ) -> Iterator[tuple[str, str, ast.AST]]:
        if isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                yield from self._target(element, module_level, node)
            return
        if isinstance(target, ast.Starred):
            yield from self._target(target.value, module_level, node)
            return
        if isinstance(target, ast.Name):
            if (not module_level and target.id in self.globals()) or (
                module_level and id(node) in self.main_block()
            ):
                # a global a function rebinds, or a name bound under `if __name__ ==
                # "__main__":`, which a worker importing the module never runs
                yield f"{self.info.module}.{target.id}", target.id, node
            return
        if isinstance(target, ast.Attribute):
            key = self.state_key(target, whole=False)
        elif isinstance(target, ast.Subscript):
            key = self.state_key(target.value, whole=True)
        else:
            key = None
        if key is not None:
            yield (*key, node)

    def _call_sets(self, call: ast.Call) -> tuple[str, str] | None:
        func = call.func
        name = last_name(func)
        if name in ("setattr", "__setattr__") and call.args:
            target = call.args[0]
            on_object = isinstance(func, ast.Attribute) and (
                isinstance(func.value, ast.Name) and func.value.id == "object"
            )
            if name == "__setattr__" and not on_object:
                return None
            return self.state_key(target, whole=True)
        # `register = plugins.register` at module level: calling `register` (or `module.register`)
        # fills `plugins`
        qualname = self.dotted(func) if isinstance(func, ast.Name | ast.Attribute) else None
        found = self.resolver.index.split(qualname[0]) if qualname else None
        if found is not None:
            info, rest = found
            binding = info.bindings.get(rest)
            if (
                binding is not None
                and binding.kind == "assign"
                and isinstance(binding.node, ast.Assign)
                and isinstance(binding.node.value, ast.Attribute)
            ):
                return self._method_sets(binding.node.value, _Scope(info, None, self.resolver))
        return self._method_sets(func, self) if isinstance(func, ast.Attribute) else None

    def _method_sets(self, func: ast.Attribute, scope: _Scope) -> tuple[str, str] | None:
        """A method call on a module-level object that changes it: a container's or registry's
        filling method, or a method of the repository's class that sets attributes of `self`."""
        key = scope.state_key(func.value, whole=True)
        if key is None:
            return None
        if func.attr in FILL_METHODS:
            return key
        method = self.resolver.callee(func, scope.function, scope.info)
        if method is not None and method.owner is not None and _mutates_self(method):
            return key
        return None

    # --- what it calls ----------------------------------------------------------------------

    def callees(self) -> Iterator[Function]:
        for node in self.nodes():
            if not isinstance(node, ast.Call):
                continue
            for expr in (node.func, *node.args, *(k.value for k in node.keywords)):
                if expr is not node.func and not isinstance(expr, ast.Name | ast.Attribute):
                    continue
                found = self.resolver.callee(expr, self.function, self.info)
                if found is not None:
                    yield found


def _mutates_self(method: Function) -> bool:
    args = method.node.args
    params = [*args.posonlyargs, *args.args]
    if not params:
        return False
    this = params[0].arg
    for node in body_nodes(method.node):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            targets = [node.target]
        for target in targets:
            base = target.value if isinstance(target, ast.Attribute | ast.Subscript) else None
            while isinstance(base, ast.Attribute | ast.Subscript):
                base = base.value
            if isinstance(base, ast.Name) and base.id == this:
                return True
        if (
            isinstance(node, ast.Call)
            and last_name(node.func) in ("setattr", "__setattr__")
            and node.args
            and isinstance(node.args[0], ast.Name)
            and node.args[0].id == this
        ):
            return True
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in FILL_METHODS
            and isinstance(node.func.value, ast.Attribute)
            and isinstance(node.func.value.value, ast.Name)
            and node.func.value.value.id == this
        ):
            return True
    return False


# --- the job's side ---------------------------------------------------------------------------


def needs_startup(
    function: Function, resolver: Resolver, state: StartupState, lookups: Lookups
) -> tuple[str, Setter] | None:
    """(what the job reads: "`app.DATABASE`", "`plugins.get` (in `Model.instance`, path)";
    who sets it) when the job, or a repository function it calls
    (breadth first, at most JOB_DEPTH calls deep and JOB_BUDGET functions), reads start-up
    state; None when it reads none."""
    if not state:
        return None
    if function.key in lookups.answers:
        return lookups.answers[function.key]
    answer = None
    seen = {function.key}
    layer = [function]
    visited = 0
    for _ in range(JOB_DEPTH + 1):
        following: list[Function] = []
        for current in layer[: max(0, JOB_BUDGET - visited)]:
            visited += 1
            reads, callees = lookups.direct(current, resolver)
            if reads:
                key, text = reads[0]
                if current is not function:
                    rel = relpath(current.info.path, resolver.index.root)
                    text = f"{text}` (in `{current.display}`, {rel})"
                else:
                    text += "`"
                answer = text, state.keys[key][1]
                break
            for called in callees:
                if called.key not in seen:
                    seen.add(called.key)
                    following.append(called)
        if answer is not None or not following:
            break
        layer = following
    lookups.answers[function.key] = answer
    return answer


def _reads(scope: _Scope, state: StartupState) -> Iterator[tuple[str, str]]:
    inner: set[int] = set()
    for node in scope.nodes():
        if id(node) in inner:
            continue
        if isinstance(node, ast.Attribute):
            sub: ast.expr = node
            while isinstance(sub, ast.Attribute):
                inner.add(id(sub.value))
                sub = sub.value
        if not isinstance(node, ast.Attribute | ast.Name):
            continue
        if isinstance(getattr(node, "ctx", None), ast.Store | ast.Del) and isinstance(
            node, ast.Name
        ):
            continue
        found = scope.dotted(node)
        if found is None:
            continue
        key = state.match(found[0])
        if key is not None:
            yield key, _spelling(node, found[0], key)


def _spelling(node: ast.expr, dotted: str, key: str) -> str:
    """The source text of the part of `a.b.c.d` that names the state, and one attribute more
    when there is one (`app.DATABASE` of `app.DATABASE.runs.get()`, the state being `app`)."""
    extra = dotted.count(".") - key.count(".") - 1
    sub = node
    while extra > 0 and isinstance(sub, ast.Attribute):
        sub = sub.value
        extra -= 1
    return ast.unparse(sub)


def _job_callees(scope: _Scope, by_name: Lookups) -> Iterator[Function]:
    function = scope.function
    assert function is not None
    # A decorator of the repository runs with the job: its wrapper (dispatch's `background_task`
    # opens a session and counts metrics through the plugin registry).
    for decorator in function.node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        found = scope.resolver.callee(target, None, scope.info)
        if found is not None:
            yield found
            size = len(found.path)
            for path, inner in scope.resolver.functions(found.info).items():
                if len(path) > size and path[:size] == found.path:
                    yield inner
    for node in scope.nodes():
        if isinstance(node, ast.Call):
            for expr in (node.func, *node.args, *(k.value for k in node.keywords)):
                if expr is not node.func and not isinstance(expr, ast.Name | ast.Attribute):
                    continue
                found = scope.resolver.callee(expr, function, scope.info)
                if found is not None:
                    yield found
                elif (
                    expr is node.func
                    and isinstance(expr, ast.Attribute)
                    and _unresolved_object(expr, scope)
                ):
                    yield from by_name.functions(expr.attr, properties=False)
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.ctx, ast.Load)
            and _unresolved_object(node, scope)
        ):
            yield from by_name.functions(node.attr, properties=True)


def _unresolved_object(expr: ast.Attribute, scope: _Scope) -> bool:
    """`x.attr` where `x` is no module, class or function of the repository's or a library's
    that the name resolves to: an object some call returned, a parameter, an attribute."""
    value = expr.value
    if isinstance(value, ast.Name):
        function = scope.function
        local = scope.resolver.local_bindings(function).get(value.id) if function else None
        if local is not None:
            return local.kind in ("param", "assign")
        return False  # a module-level name: resolved (or a library's) by `callee` already
    return isinstance(value, ast.Attribute | ast.Call | ast.Subscript)


class Lookups:
    """What a process has learnt of the repository's functions for the needs-startup check:
    each function's own reads of the state and its callees, answers by job, and functions,
    methods and properties by name among the modules that spell a state variable (no other
    module can read it; the index of names is built by one scan of each such module's bytes)."""

    def __init__(
        self, state: StartupState, index: RepoIndex, files: tuple[tuple[str, str], ...]
    ) -> None:
        self.state = state
        self.index = index
        # The files of the run (root-relative path, module): those that spell a state
        # variable's name are the only ones whose functions can read it, looked into when a
        # call is followed by name alone (found when a job is first checked: most runs have
        # no job that gets that far).
        self.files = files
        self._found: dict[tuple[str, bool], list[Function]] = {}
        self._defines: dict[str, list[str]] | None = None
        self._functions: dict[str, list[Function]] = {}
        self._direct: dict[str, tuple[list[tuple[str, str]], list[Function]]] = {}
        self.answers: dict[str, tuple[str, Setter] | None] = {}

    @classmethod
    def of(
        cls, state: StartupState, index: RepoIndex, files: tuple[tuple[str, str], ...]
    ) -> Lookups:
        """The one of this process for this state (each file's analysis asks again)."""
        global _LAST
        if (
            _LAST is None
            or _LAST.index is not index
            or _LAST.state.keys != state.keys
            or _LAST.files != files
        ):
            _LAST = cls(state, index, files)
        return _LAST

    def direct(
        self, function: Function, resolver: Resolver
    ) -> tuple[list[tuple[str, str]], list[Function]]:
        """A function's own reads of the state (but for what it rebinds itself: a lazy
        initialiser) and the functions it calls, by call or by name."""
        found = self._direct.get(function.key)
        if found is None:
            scope = _Scope(function.info, function, resolver)
            own = set(scope.rebound())
            reads = [(k, t) for k, t in _reads(scope, self.state) if k not in own]
            found = reads, list(_job_callees(scope, self))
            self._direct[function.key] = found
        return found

    def functions(self, name: str, properties: bool) -> list[Function]:
        if name.startswith("__") and name.endswith("__"):
            return []
        found = self._found.get((name, properties))
        if found is not None:
            return found
        modules = self._index().get(name, [])
        out: list[Function] = []
        if len(modules) <= MAX_BY_NAME_FILES:
            for module in modules:
                for function in self._module_functions(module):
                    if function.path[-1] != name:
                        continue
                    if properties and not _is_property(function.node):
                        continue
                    out.append(function)
        self._found[(name, properties)] = out
        return out

    def _module_functions(self, module: str) -> list[Function]:
        found = self._functions.get(module)
        if found is None:
            info = self.index.module(module)
            found = list(module_functions(info).values()) if info is not None else []
            self._functions[module] = found
        return found

    def _index(self) -> dict[str, list[str]]:
        """name -> the modules that define a function of that name."""
        if self._defines is None:
            self._defines = {}
            words = self.state.words()
            for rel, module in self.files:
                try:
                    data = (self.index.root / rel).read_bytes()
                except OSError:
                    continue
                if not _spells(data, words):
                    continue
                for name in {m.group(1) for m in _DEF.finditer(data)}:
                    self._defines.setdefault(name.decode(), []).append(module)
        return self._defines


_LAST: Lookups | None = None
_DEF = re.compile(rb"def[ \t]+(\w+)[ \t]*\(")


def _is_property(node: FunctionNode) -> bool:
    return any(last_name(d) in PROPERTIES for d in node.decorator_list)
