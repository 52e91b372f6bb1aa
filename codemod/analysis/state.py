"""Start-up state: what the web app's start-up sets at module level, and the jobs that read it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from codemod.model.callgraph import callees
from codemod.model.nodes import FILL_METHODS
from codemod.model.resolve import Func, Resolver
from codemod.model.summary import CALLED, MAIN_BLOCK, MAXIMAL, STORE, Chain, ModuleSummary

# How far start-up code is followed (calls deep).
STARTUP_DEPTH = 8
# Methods that set an object up for the app (Flask's extensions: `db.init_app(app)`).
INIT_METHODS = frozenset({"init_app"})


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

    function: Func | None  # None: module-level code
    summary: ModuleSummary
    entry: Func | None  # the runnable callable right below the root, or the root
    root: str
    depth: int = 0
    imported: bool = False  # module-level code run by importing the module


def collect_state(
    roots: Iterable[tuple[Func, str]],
    module_roots: Iterable[tuple[ModuleSummary, str]],
    resolver: Resolver,
    worker_startup: Iterable[str] = (),
    created: tuple[list[tuple[Func, str]], list[tuple[ModuleSummary, str]]] = ([], []),
    hooks: frozenset[str] = frozenset(),
) -> StartupState:
    """The state set by start-up `roots` (function, description) and by the module-level code of
    `module_roots` (the app's main modules), less what the `worker-startup` callables set too,
    and what the worker's creation of the Flask app sets (`created`: its factory and its
    module; `hooks`: the functions it only registers, run in requests or before the first one,
    which a worker never serves)."""
    found: dict[str, tuple[str, Setter]] = {}
    code: set[str] = set()
    for key, word, walk, line in _state_sets(roots, module_roots, resolver, code):
        if key not in found and not any(key.startswith(k + ".") for k in found):
            found[key] = (word, _setter(walk, line, resolver))
    if found:
        covered = _covered(worker_startup, resolver, code)
        functions, modules = created
        if functions or modules:
            sets = _state_sets(functions, modules, resolver, code, skip=hooks, imported=True)
            covered |= {key for key, _, _, _ in sets}
        found = {
            k: v
            for k, v in found.items()
            if not any(k == c or k.startswith(c + ".") for c in covered)
        }
    return StartupState(found, frozenset(code))


def _setter(walk: _Walk, line: int, resolver: Resolver) -> Setter:
    program = resolver.program
    entry = walk.entry
    if entry is None:
        if walk.function is None:
            rel = program.rel(walk.summary.module)
            return Setter(f"the module level of {rel} (line {line})", None)
        return Setter(walk.root, None)
    runnable = len(entry.path) == 1 and not required(entry)
    name = f"{entry.module}:{entry.path[0]}" if runnable else None
    if entry is walk.function and walk.depth == 0:
        return Setter(walk.root, name)
    rel = program.rel(entry.module)
    return Setter(f"`{entry.display}()` ({rel}), called from {walk.root}", name)


def required(function: Func) -> list[str]:
    """The parameters without a default: a start-up callable that a worker runs takes none."""
    return [
        p.name
        for p in function.fn.params
        if p.default is None and p.kind in ("posonly", "normal", "kwonly")
    ]


def _covered(worker_startup: Iterable[str], resolver: Resolver, code: set[str]) -> set[str]:
    roots: list[tuple[Func, str]] = []
    for spec in worker_startup:
        module, _, name = spec.partition(":")
        found = resolver.target(f"{module}.{name}")
        if isinstance(found, Func):
            roots.append((found, "worker-startup"))
    return {key for key, _, _, _ in _state_sets(roots, (), resolver, code)}


def _state_sets(
    roots: Iterable[tuple[Func, str]],
    module_roots: Iterable[tuple[ModuleSummary, str]],
    resolver: Resolver,
    code: set[str],
    skip: frozenset[str] = frozenset(),
    imported: bool = False,
) -> Iterator[tuple[str, str, _Walk, int]]:
    """(key, variable name, the walk it was set in, the line) for each piece of state set; the
    keys of the functions walked go into `code`; the functions of `skip` are not walked."""
    seen: set[str] = set(skip)
    layer: list[_Walk] = []
    for function, why in roots:
        if function.key not in seen:
            seen.add(function.key)
            code.add(function.key)
            runnable = not required(function) and len(function.path) == 1
            layer.append(_Walk(function, function.summary, function if runnable else None, why))
    for summary, why in module_roots:
        layer.append(_Walk(None, summary, None, why, imported=imported))
    for _ in range(STARTUP_DEPTH + 1):
        following: list[_Walk] = []
        for walk in layer:
            scope = Scope(walk.summary, walk.function, resolver, walk.imported)
            for key, word, line in scope.sets():
                yield key, word, walk, line
            for called in scope.callees():
                if called.key in seen:
                    continue
                seen.add(called.key)
                code.add(called.key)
                # The callable right below the root names the start-up a worker would run: a
                # lifespan or a startup handler may do more (start servers, schedulers).
                entry = called if walk.depth == 0 else walk.entry
                following.append(_Walk(called, called.summary, entry, walk.root, walk.depth + 1))
        if not following:
            break
        layer = following


class Scope:
    """One function (or a module's top level) of the program, read for what it sets and reads
    at module level."""

    def __init__(
        self,
        summary: ModuleSummary,
        function: Func | None,
        resolver: Resolver,
        imported: bool = False,
    ) -> None:
        self.summary = summary
        self.function = function
        self.resolver = resolver
        self.body = function or resolver.top_level(summary)
        # the module's top level as importing it runs it: not its `if __name__ == "__main__":`
        # blocks (a worker that creates the Flask app imports the app's module, never runs it)
        self.imported = imported and function is None

    @property
    def globals(self) -> frozenset[str]:
        return self.function.fn.globals if self.function is not None else frozenset()

    # --- names ------------------------------------------------------------------------------

    def dotted(self, chain: Chain) -> tuple[str, str] | None:
        """(qualified dotted name, the module-level variable's name) of `a.b.c` whose `a` is a
        module-level name of the program (or a module), as this scope sees it."""
        name = chain[0]
        base: str | None
        if self.function is not None and name not in self.globals:
            local = self.function.fn.locals.get(name)
            if local is not None:
                if local.kind != "import":
                    return None
                base = local.target
            else:
                base = self._outer(name)
        else:
            base = self.resolver.qualify(self.summary, name)
        if base is None or base.startswith("builtins."):
            return None
        base = self.resolver.canonical(base)
        return ".".join((base, *chain[1:])), base.rpartition(".")[2]

    def _outer(self, name: str) -> str | None:
        scope = self.resolver.outer(self.function) if self.function else None
        while scope is not None:
            local = scope.fn.locals.get(name)
            if local is not None:
                return local.target if local.kind == "import" else None
            scope = self.resolver.outer(scope)
        return self.resolver.qualify(self.summary, name)

    def state_key(self, chain: Chain, whole: bool) -> tuple[str, str] | None:
        """The key of module-level state that assigning to (or filling) `chain` sets: the
        chain's own dotted name, or the object's as a whole; None for anything else."""
        found = self.dotted(chain)
        if found is None:
            return None
        dotted = found[0]
        program = self.resolver.program
        if program.exists(dotted):
            return None  # a module: its names are state, not the module
        parts = dotted.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            module = ".".join(parts[:cut])
            if not program.exists(module):
                continue
            summary = program.module(module)
            if summary is None:
                return None
            binding = summary.bindings.get(parts[cut])
            if binding is not None and binding.kind in ("def", "class", "import"):
                return None  # a function's or a class's attribute, or an import: no state
            variable = ".".join(parts[: cut + 1])
            return (variable if whole else dotted), parts[cut]
        return None

    # --- what it sets -----------------------------------------------------------------------

    def rebound(self) -> Iterator[str]:
        """The module-level names this function rebinds (`global x; x = ...`)."""
        names = self.globals
        if not names or self.body is None:
            return
        for ref in self.body.fn.refs:
            if ref.flags & STORE and len(ref.chain) == 1 and ref.chain[0] in names:
                yield f"{self.summary.module}.{ref.chain[0]}"

    def sets(self) -> list[tuple[str, str, int]]:
        """(key, variable name, line) of each piece of module-level state set here, in the
        order of the lines."""
        return sorted(self._sets(), key=lambda found: found[2])

    def _sets(self) -> Iterator[tuple[str, str, int]]:
        if self.body is None:
            return
        fn = self.body.fn
        module_level = self.function is None
        for assigned in fn.assigned:
            if self.imported and assigned.main:
                continue
            if assigned.kind == "name":
                name = assigned.chain[0]
                if (not module_level and name in self.globals) or (module_level and assigned.main):
                    # a global a function rebinds, or a name bound under `if __name__ ==
                    # "__main__":`, which a worker importing the module never runs
                    yield f"{self.summary.module}.{name}", name, assigned.line
                continue
            key = self.state_key(assigned.chain, whole=assigned.kind == "item")
            if key is not None:
                yield (*key, assigned.line)
        for call in fn.calls:
            if call.func[-1] in ("setattr", "__setattr__") and call.args:
                if call.func[-1] == "__setattr__" and call.func[:-1] != ("object",):
                    continue
                target = call.args[0].chain
                key = self.state_key(target, whole=True) if target else None
                if key is not None:
                    yield (*key, call.line)
        for ref in fn.refs:
            if ref.flags & CALLED and ref.chain[-1] not in ("setattr", "__setattr__"):
                key = self._call_sets(ref.chain)
                if key is not None:
                    yield (*key, ref.line)

    def _call_sets(self, func: Chain) -> tuple[str, str] | None:
        # `register = plugins.register` at module level: calling `register` (or
        # `module.register`) fills `plugins`
        qualname = self.dotted(func) if func[0] not in ("()", "[]", "?") else None
        found = self.resolver.split(qualname[0]) if qualname else None
        if found is not None:
            summary, rest = found
            binding = summary.bindings.get(rest)
            value = binding.value if binding is not None else None
            if binding is not None and binding.kind == "assign" and value and value.attribute:
                return self._method_sets(value.attribute, Scope(summary, None, self.resolver))
        return self._method_sets(func, self) if len(func) > 1 else None

    def _method_sets(self, func: Chain, scope: Scope) -> tuple[str, str] | None:
        """A method call on a module-level object that changes it: a container's or registry's
        filling method, or a method of the program's class that sets attributes of `self`."""
        if func[0] in ("()", "[]", "?"):
            return None
        key = scope.state_key(func[:-1], whole=True)
        if key is None:
            return None
        if func[-1] in FILL_METHODS or func[-1] in INIT_METHODS:
            return key
        method = self.resolver.callee(func, scope.function, scope.summary)
        if method is not None and method.fn.owner is not None and method.fn.mutates_self:
            return key
        return None

    # --- what it calls ----------------------------------------------------------------------

    def callees(self) -> Iterator[Func]:
        if self.body is None:
            return
        main = self.resolver.func(self.summary, MAIN_BLOCK) if self.imported else None
        if main is None:
            yield from callees(self.body, self.resolver)
            return
        # what only the `__main__` blocks call (their refs, at the lines where they are first)
        only_main = {(ref.chain, ref.line) for ref in main.fn.refs}
        refs = tuple(r for r in self.body.fn.refs if (r.chain, r.line) not in only_main)
        body = Func(self.summary, self.body.fn._replace(refs=refs))
        yield from callees(body, self.resolver)

    # --- what it reads ----------------------------------------------------------------------

    def reads(self, state: StartupState) -> Iterator[tuple[str, str]]:
        """(state key, the text that reads it) of each read of start-up state, in order."""
        if self.body is None:
            return
        for ref in self.body.fn.refs:
            if not ref.flags & MAXIMAL:
                continue
            found = self.dotted(ref.chain)
            if found is None:
                continue
            key = state.match(found[0])
            if key is not None:
                yield key, _spelling(ref.chain, found[0], key)


def _spelling(chain: Chain, dotted: str, key: str) -> str:
    """The part of `a.b.c.d` that names the state, and one attribute more when there is one
    (`app.DATABASE` of `app.DATABASE.runs.get()`, the state being `app`)."""
    extra = dotted.count(".") - key.count(".") - 1
    keep = len(chain) - max(0, extra) if extra > 0 else len(chain)
    return ".".join(chain[: max(1, keep)])
