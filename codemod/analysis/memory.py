"""Jobs that share the web process's memory: module-level state that the web side uses too."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass

from codemod.analysis.webside import JobCheck
from codemod.model.calls import Function, body_nodes, class_named_by
from codemod.model.files import module_name, relpath
from codemod.model.index import ModuleInfo
from codemod.model.syntax import FunctionNode, scope_statements, spans_line, word_lines

# A name spelled in more modules than this is not searched: the job is refused (precision first).
MAX_FILES = 150

# Module-level values that are in-memory state when something changes them after import.
CONTAINERS = frozenset(
    {
        "builtins.dict",
        "builtins.list",
        "builtins.set",
        "builtins.bytearray",
        "collections.defaultdict",
        "collections.OrderedDict",
        "collections.deque",
        "collections.Counter",
        "collections.ChainMap",
        "asyncio.Queue",
        "asyncio.PriorityQueue",
        "asyncio.LifoQueue",
        "asyncio.Event",
        "asyncio.queues.Queue",
        "queue.Queue",
        "queue.SimpleQueue",
        "queue.PriorityQueue",
        "queue.LifoQueue",
        "threading.Event",
        "weakref.WeakValueDictionary",
        "weakref.WeakKeyDictionary",
        "weakref.WeakSet",
        "cachetools.Cache",
        "cachetools.TTLCache",
        "cachetools.LRUCache",
        "cachetools.LFUCache",
        "cachetools.TLRUCache",
    }
)
CONTAINER_NODES = (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)
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
HINT = (
    "a worker has a copy of its own of that state, which the web process never sees: keep the "
    "job here with `# noqa: CCM002`, or first move the state where both reach it (Redis, the "
    "database)"
)


@dataclass(frozen=True)
class _Object:
    """A module-level object that may be in-memory state."""

    qualname: str
    name: str
    info: ModuleInfo
    line: int
    kind: str  # "container", "instance", "class", "global", "contextvar"
    methods: frozenset[str] = frozenset()  # an instance's methods that change it


@dataclass
class _Use:
    function: Function
    line: int
    changes: bool
    by_call: bool = False  # only through a method of the object (`x.update(...)`)

    def changes_object(self, obj: _Object, qualname: str) -> bool:
        """Whether this use changes the object: a method call on an instance or a class of
        the repository counts only for a method that changes it."""
        if obj.kind in ("instance", "class") and self.by_call:
            return qualname.rpartition(".")[2] in obj.methods
        return self.changes or qualname.rpartition(".")[2] in obj.methods


class SharedMemory(JobCheck):
    """The in-memory state a job shares with the web side, per process (jobs are asked once)."""

    def setup(self) -> None:
        self._objects: dict[str, _Object | None] = {}
        self._globals: dict[str, frozenset[str]] = {}

    def _shared(self, job: Function) -> str | None:
        walk = self.walk(job)
        keys = {f.key for f in walk}
        used: dict[str, tuple[_Object, _Use]] = {}
        for function in walk:
            for qualname, use in self._uses(function, None):
                obj = self._object(qualname)
                if obj is None:
                    owner = self._object(qualname.rpartition(".")[0]) if "." in qualname else None
                    if owner is None or owner.kind not in ("instance", "class"):
                        continue
                    obj = owner
                use.changes = use.changes_object(obj, qualname)
                known = used.get(qualname)
                if known is None or (use.changes and not known[1].changes):
                    used[qualname] = (obj, use)
        for obj, job_use in used.values():
            web = self._web_use(obj, keys, job_use.changes)
            if web is None:
                continue
            root = self.resolver.index.root
            where = f"{relpath(obj.info.path, root)}:{obj.line}"
            verb = "changes" if job_use.changes else "reads"
            if web == "":
                return (
                    f"`{job_use.function.display}` {verb} the module-level `{obj.name}` "
                    f"({where}), whose name more than {MAX_FILES} modules spell: its other "
                    "users were not checked"
                )
            return (
                f"`{job_use.function.display}` {verb} the module-level `{obj.name}` ({where}), "
                f"which {web} in the web process"
            )
        return None

    # --- uses of module-level names -------------------------------------------------------

    def _uses(self, function: Function, lines: list[int] | None) -> Iterator[tuple[str, _Use]]:
        """(qualified name, use) of each module-level name the function uses (on `lines`)."""
        info = function.info
        local = self.resolver.local_bindings(function)
        declared = (
            {
                n
                for node in body_nodes(function.node)
                if isinstance(node, ast.Global)
                for n in node.names
            }
            if "global " in info.source
            else set()
        )
        changed: dict[int, bool] = {}  # node -> changed only by a method call on it
        for node in body_nodes(function.node, lines):
            for target, by_call in _changed(node):
                changed[id(target)] = changed.get(id(target), True) and by_call
        for node in body_nodes(function.node, lines):
            if isinstance(node, ast.Name):
                if node.id in local and node.id not in declared:
                    continue
                qualname = info.qualify(node.id)
                rebinds = isinstance(node.ctx, ast.Store | ast.Del)
                if rebinds and node.id not in declared:
                    continue
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                if node.value.id in local:
                    continue
                base = info.qualify(node.value.id)
                if base is None:
                    continue
                qualname = f"{base}.{node.attr}"
                rebinds = False
            else:
                continue
            if qualname is None or qualname.startswith("builtins."):
                continue
            line = getattr(node, "lineno", function.node.lineno)
            changes = rebinds or id(node) in changed
            yield qualname, _Use(function, line, changes, changes and changed.get(id(node), False))

    def _object(self, qualname: str) -> _Object | None:
        if qualname not in self._objects:
            self._objects[qualname] = self._find_object(qualname)
        return self._objects[qualname]

    def _find_object(self, qualname: str) -> _Object | None:
        found = self.resolver.index.resolve(qualname)
        if found is None:
            return None
        info, binding = found
        if info.module == "" or "." in binding.target:
            return None
        name = binding.target
        if binding.kind == "class" and isinstance(binding.node, ast.ClassDef):
            # its class-level attributes, changed by functions (`ApiBG.running = True`)
            return _Object(f"{info.module}.{name}", name, info, binding.line, "class")
        if binding.kind != "assign":
            return None
        if info.module not in self._globals:
            self._globals[info.module] = _globals(info)
        if name in self._globals[info.module]:
            return _Object(f"{info.module}.{name}", name, info, binding.line, "global")
        node = binding.node
        value = getattr(node, "value", None)
        if not isinstance(node, ast.Assign | ast.AnnAssign) or value is None:
            return None
        if isinstance(value, CONTAINER_NODES):
            return _Object(f"{info.module}.{name}", name, info, binding.line, "container")
        if not isinstance(value, ast.Call):
            return None
        constructor = info.qualify_expr(value.func)
        if constructor == "contextvars.ContextVar":
            return _Object(f"{info.module}.{name}", name, info, binding.line, "contextvar")
        if constructor in CONTAINERS:
            return _Object(f"{info.module}.{name}", name, info, binding.line, "container")
        cls = self.resolver.instance_class(info, node) if class_named_by(info, node) else None
        if cls is None:
            return None
        methods = _changing_methods(cls[1])
        if not methods:
            return None
        return _Object(f"{info.module}.{name}", name, info, binding.line, "instance", methods)

    # --- the web side ---------------------------------------------------------------------

    def _web_use(self, obj: _Object, walk: set[str], job_changes: bool) -> str | None:
        """How a function outside the job's walk uses the object ("`job_status` (path:line)
        reads it"), when the object is state: one side changes it; "" when too many modules
        spell its name to tell; None when nothing outside the walk uses it so."""
        rels = self._spelling(obj.name)
        if not job_changes:  # then the web side must change it: only files that may do so
            pattern = _change_pattern(obj)
            rels = [rel for rel in rels if pattern.search(self._spelling.data(rel))]
        if len(rels) > MAX_FILES:
            return ""
        root = self.resolver.index.root
        for rel in rels:
            info = self.resolver.index.module(module_name(rel))
            if info is None:
                continue
            lines = word_lines(info.source, [obj.name])
            for function in self.resolver.functions(info).values():
                if function.key in walk or not spans_line(function.node, lines):
                    continue
                at_startup = function.key in self.startup
                for qualname, use in self._uses(function, lines):
                    if qualname != obj.qualname and not (
                        obj.kind in ("instance", "class")
                        and qualname.startswith(obj.qualname + ".")
                    ):
                        continue
                    use.changes = use.changes_object(obj, qualname)
                    if use.changes and (at_startup or _registers(function)):
                        # set up before any request: start-up state (or a decorator that
                        # fills a registry at import), which a worker gets its own way
                        continue
                    if obj.kind == "contextvar":
                        # set per request (a middleware, a dependency): a worker's is unset
                        if not use.changes:
                            continue
                    elif not (job_changes or use.changes) or not self.web.runs(function):
                        continue
                    verb = "changes" if use.changes else "reads"
                    rel_path = relpath(function.info.path, root)
                    return f"`{function.display}` ({rel_path}:{use.line}) {verb} too"
        return None


def _change_pattern(obj: _Object) -> re.Pattern[bytes]:
    """A byte test that a file may change the object: `NAME[...] = `, `NAME.a += `,
    `NAME.x.append(`, `del NAME[`, `global NAME`, a changing method of an instance, `.set(`
    of a context variable. A test that passes says nothing; one that fails rules the file out."""
    name = re.escape(obj.name.encode())
    methods = sorted(MUTATORS | obj.methods)
    calls = b"|".join(re.escape(m.encode()) for m in methods)
    path = rb"(?:\s*\.\s*\w+|\s*\[[^\]\n]*\])*"
    return re.compile(
        rb"\b"
        + name
        + path
        + rb"\s*(?:(?://|<<|>>|\*\*|[-+*/%|&^@])?=(?!=)|\.\s*(?:"
        + calls
        + rb")\s*\()|\bdel\b[^\n]*\b"
        + name
        + rb"\b|\bglobal\b[^\n]*\b"
        + name
        + rb"\b"
    )


def _changed(node: ast.AST) -> Iterator[tuple[ast.expr, bool]]:
    """The root names that a statement or call changes in place: `x[k] = v`, `x.a = v`,
    `del x[k]`, `x[k] += 1`, `x.append(v)`, `x[k].update(...)`; each with whether it is a
    method of the root itself that is called (`x.update(...)`: for an object of a class of the
    repository, a method that may change nothing)."""
    targets: list[ast.expr] = []
    by_call = False
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, ast.AugAssign | ast.AnnAssign):
        targets = [node.target]
    elif isinstance(node, ast.Delete):
        targets = node.targets
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
            for root in _changed_root(element):
                yield root, by_call


def _changed_root(target: ast.expr) -> Iterator[ast.expr]:
    """The name at the root of a changed expression, and the attribute right above it (so
    that `module.NAME[k] = v` changes `module.NAME`)."""
    if isinstance(target, ast.Name):
        return
    above: ast.expr | None = None
    expr = target
    while isinstance(expr, ast.Attribute | ast.Subscript):
        above, expr = expr, expr.value
    if isinstance(expr, ast.Name):
        yield expr
        if isinstance(above, ast.Attribute):
            yield above


def _globals(info: ModuleInfo) -> frozenset[str]:
    """The names the module's functions declare `global` (and so may rebind)."""
    if "global " not in info.source:
        return frozenset()
    return frozenset(
        name for node in ast.walk(info.tree) if isinstance(node, ast.Global) for name in node.names
    )


def _changing_methods(cls: ast.ClassDef) -> frozenset[str]:
    """The methods (but for `__init__` and kin) that change the instance's containers in place,
    or add to its counters: `self.items.append(x)`, `self.cache[k] = v`, `self.count += 1`.
    Rebinding an attribute (`self.client = make()`, a lazy initialiser) does not count."""
    out: set[str] = set()
    for stmt in scope_statements(cls.body):
        if not isinstance(stmt, FunctionNode) or stmt.name in (
            "__init__",
            "__post_init__",
            "__new__",
            "__init_subclass__",
        ):
            continue
        if any(_changes_self(node) for node in ast.walk(stmt)):
            out.add(stmt.name)
    return frozenset(out)


def _changes_self(node: ast.AST) -> bool:
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


def _registers(function: Function) -> bool:
    """A registering decorator (`def register(fn): REGISTRY[...] = fn; return fn`): it fills
    its registry when modules are imported, in a worker too."""
    args = function.node.args.posonlyargs + function.node.args.args
    if not args:
        return False
    first = args[0].arg
    return any(
        isinstance(node, ast.Return) and isinstance(node.value, ast.Name) and node.value.id == first
        for node in body_nodes(function.node)
    )
