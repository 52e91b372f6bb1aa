"""What a name, an attribute or a call refers to in the program: imports in every form (relative,
re-exports, star imports), classes and their repository bases, methods of `self`/`cls`, of
module-level instances and of parameters annotated with a repository class."""

from __future__ import annotations

from dataclasses import dataclass

from codemod.model.program import Program
from codemod.model.summary import Binding, Chain, Class, Function, ModuleSummary
from codemod.model.syntax import BUILTIN_NAMES, CALL_ROOT, ITEM_ROOT, OTHER_ROOT

# How far a name is followed through imports, re-exports and star imports: hops, lookups for
# one name (star imports branch), and parts of a name (`from . import x` can make names grow).
MAX_HOPS = 12
MAX_LOOKUPS = 400
MAX_PARTS = 16
NO_NAME_ROOTS = frozenset({CALL_ROOT, ITEM_ROOT, OTHER_ROOT})


@dataclass(frozen=True, eq=False)  # compared by `key`
class Func:
    """A function of the program: module-level, a method, or nested in either."""

    summary: ModuleSummary
    fn: Function

    @property
    def module(self) -> str:
        return self.summary.module

    @property
    def path(self) -> tuple[str, ...]:
        return self.fn.path

    @property
    def key(self) -> str:
        return ".".join((self.summary.module, *self.fn.path))

    @property
    def display(self) -> str:
        return ".".join(self.fn.path)

    @property
    def name(self) -> str:
        return self.fn.path[-1]


@dataclass(frozen=True, eq=False)
class ClassAt:
    """A class of the program."""

    summary: ModuleSummary
    cls: Class

    @property
    def key(self) -> str:
        return ".".join((self.summary.module, *self.cls.path))


class Resolver:
    """Resolves names to the program's functions and classes."""

    def __init__(self, program: Program, wanted: frozenset[str] | None = None) -> None:
        self.program = program
        # When given, only these modules (and those loaded already) are looked into.
        self.wanted = wanted
        self._funcs: dict[str, dict[tuple[str, ...], Func]] = {}
        self._budget = MAX_LOOKUPS
        self._bindings: dict[str, tuple[ModuleSummary, str, Binding] | None] = {}

    # --- functions of a module -------------------------------------------------------------

    def func(self, summary: ModuleSummary, path: tuple[str, ...]) -> Func | None:
        known = self._funcs.setdefault(summary.module, {})
        found = known.get(path)
        if found is None or found.summary is not summary:
            fn = self.program.function(summary, path)
            if fn is None:
                return None
            found = known[path] = Func(summary, fn)
        return found

    def functions(self, summary: ModuleSummary) -> list[Func]:
        """Every function of a module (not its top level), in source order."""
        out = []
        for path in summary.functions:
            if path:
                found = self.func(summary, path)
                if found is not None:
                    out.append(found)
        return out

    def top_level(self, summary: ModuleSummary) -> Func | None:
        """The module's top level, as a function of path ()."""
        return self.func(summary, ())

    # --- qualified names -------------------------------------------------------------------

    def qualify(self, summary: ModuleSummary, name: str) -> str | None:
        """The qualified name that a module-level name refers to."""
        binding = summary.bindings.get(name)
        if binding is None:
            return f"builtins.{name}" if name in BUILTIN_NAMES else None
        if binding.kind == "import":
            return binding.target
        return f"{summary.module}.{name}"

    def qualify_chain(self, summary: ModuleSummary, chain: Chain | None) -> str | None:
        """The qualified name a module-level name or dotted attribute chain refers to."""
        if not chain or chain[0] in NO_NAME_ROOTS:
            return None
        base = self.qualify(summary, chain[0])
        return ".".join((base, *chain[1:])) if base else None

    def target(self, qualname: str, hops: int = 0) -> Func | ClassAt | None:
        """The function or class that a qualified name ends at, or None (not in the program, or
        not a function or class)."""
        found = self._binding(qualname, hops)
        if found is None:
            return None
        summary, rest, binding = found
        first, _, tail = rest.partition(".")
        if binding.kind == "def":
            return self.func(summary, (first,)) if not tail else None
        if binding.kind == "class":
            cls = summary.classes.get((first,))
            if cls is None:
                return None
            if not tail:
                return ClassAt(summary, cls)
            return self._member(ClassAt(summary, cls), tail, hops)
        if binding.kind == "assign" and tail and "." not in tail and binding.value is not None:
            # `service = Service()` at module level: `service.method` is Service's method
            instance = self.instance_class(summary, binding.value.cls)
            return self.member(instance, tail, hops) if instance else None
        return None

    def _member(self, cls: ClassAt, tail: str, hops: int) -> Func | ClassAt | None:
        name, _, rest = tail.partition(".")
        path = cls.cls.methods.get(name)
        if path is not None:  # the last definition wins, as in the class's namespace
            return self.func(cls.summary, path) if not rest else None
        for base in self.bases(cls, hops):
            found = self._member(base, tail, hops + 1)
            if found is not None:
                return found
        return None

    def member(self, cls: ClassAt, name: str, hops: int = 0) -> Func | None:
        """The method (or property) of a class or of one of its repository bases."""
        found = self._member(cls, name, hops)
        return found if isinstance(found, Func) else None

    def bases(self, cls: ClassAt, hops: int = 0) -> list[ClassAt]:
        """The repository classes a class derives from directly."""
        out: list[ClassAt] = []
        if hops > MAX_HOPS:
            return out
        for base in cls.cls.bases:
            qualname = self.qualify_chain(cls.summary, base)
            found = self.class_of(qualname, hops + 1) if qualname else None
            if found is not None:
                out.append(found)
        return out

    def class_of(self, qualname: str, hops: int = 0) -> ClassAt | None:
        found = self._binding(qualname, hops)
        if found is None:
            return None
        summary, rest, binding = found
        if binding.kind == "class" and "." not in rest:
            cls = summary.classes.get((rest,))
            return ClassAt(summary, cls) if cls is not None else None
        return None

    def derives_from(self, qualname: str, roots: frozenset[str], hops: int = 0) -> bool:
        """Whether a class is one of `roots` (qualified names) or derives from one."""
        if qualname in roots:
            return True
        found = self.class_of(qualname, hops)
        if found is None or hops > MAX_HOPS:
            return False
        for base in found.cls.bases:
            name = self.qualify_chain(found.summary, base)
            if name and self.derives_from(self.canonical(name), roots, hops + 1):
                return True
        return False

    def canonical(self, qualname: str) -> str:
        """A name re-exported by a repository module, as it is defined (or as given)."""
        found = self._binding(qualname, 0)
        if found is None:
            return qualname
        summary, rest, binding = found
        return binding.target if binding.kind == "import" else f"{summary.module}.{rest}"

    def instance_class(self, summary: ModuleSummary, cls: Chain | None) -> ClassAt | None:
        """The repository class named by `cls` where `summary` spells it (the class of
        `x = Class(...)`, `x: Class = ...`, a parameter `x: Class`)."""
        qualname = self.qualify_chain(summary, cls)
        return self.class_of(qualname) if qualname else None

    def resolve(self, qualname: str) -> tuple[ModuleSummary, Binding] | None:
        """The module-level binding that a qualified name ends at (a def, a class, an
        assignment), following re-exports; an import that leads out of the program is the
        binding itself."""
        found = self._binding(qualname, 0)
        if found is None or "." in found[1]:
            return None
        return found[0], found[2]

    def _binding(self, qualname: str, hops: int) -> tuple[ModuleSummary, str, Binding] | None:
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

    def _find_binding(self, qualname: str, hops: int) -> tuple[ModuleSummary, str, Binding] | None:
        found = self.split(qualname)
        if found is None:
            return None
        summary, rest = found
        first, _, tail = rest.partition(".")
        binding = summary.bindings.get(first)
        if binding is None:
            for star in summary.star_imports:
                deeper = self._binding(f"{star}.{rest}", hops + 1)
                if deeper is not None:
                    return deeper
            return None
        if binding.kind == "import":
            target = binding.target + (f".{tail}" if tail else "")
            if target == qualname:
                return None
            return self._binding(target, hops + 1) or (summary, rest, binding)
        return summary, rest, binding

    def split(self, qualname: str) -> tuple[ModuleSummary, str] | None:
        """The longest module prefix of a qualified name, and the rest."""
        parts = qualname.split(".")
        program = self.program
        for cut in range(len(parts) - 1, 0, -1):
            name = ".".join(parts[:cut])
            if self.wanted is None or name in self.wanted or program.loaded(name):
                summary = program.module(name)
                if summary is not None:
                    return summary, ".".join(parts[cut:])
            elif program.exists(name):
                return None  # defined in a module that is not wanted, not in its package
        return None

    # --- names inside a function -----------------------------------------------------------

    def callee(
        self, chain: Chain | None, function: Func | None, summary: ModuleSummary
    ) -> Func | None:
        """The function a name or attribute chain names where `function` (None: the module's
        top level) uses it: `f`, `module.f`, `Class.method`, `instance.method` of a module-level
        or local `instance = Class()`, `self.method` / `cls.method`, `param.method` of a
        parameter annotated with a repository class, a nested function."""
        if not chain or chain[0] in NO_NAME_ROOTS:
            return None
        if len(chain) == 1:
            return self._name(chain[0], function, summary)
        if len(chain) == 2 and function is not None:
            local = function.fn.locals.get(chain[0])
            if local is not None:
                return self._local_member(local.kind, chain, local.cls, function, summary)
        qualname = self.qualify_chain(summary, chain[:-1])
        if qualname is None:
            return None
        found = self.target(f"{qualname}.{chain[-1]}")
        return found if isinstance(found, Func) else None

    def _local_member(
        self,
        kind: str,
        chain: Chain,
        cls: Chain | None,
        function: Func,
        summary: ModuleSummary,
    ) -> Func | None:
        if kind == "param" and chain[0] in ("self", "cls"):
            owner = self.enclosing_class(function)
            if owner is not None:
                return self.member(owner, chain[1])
        if kind in ("param", "assign") and cls is not None:
            instance = self.instance_class(summary, cls)
            return self.member(instance, chain[1]) if instance else None
        if kind == "import":  # `import x` inside the function
            local = function.fn.locals[chain[0]]
            found = self.target(f"{local.target}.{chain[1]}")
            return found if isinstance(found, Func) else None
        return None

    def _name(self, name: str, function: Func | None, summary: ModuleSummary) -> Func | None:
        scope = function
        while scope is not None:
            local = scope.fn.locals.get(name)
            if local is not None:
                if local.kind == "def":
                    return self.func(summary, (*scope.path, name))
                if local.kind != "import":
                    return None
                found = self.target(local.target)
                return found if isinstance(found, Func) else None
            scope = self.outer(scope)
        qualname = self.qualify(summary, name)
        if qualname is None or qualname.startswith("builtins."):
            return None
        found = self.target(qualname)
        return found if isinstance(found, Func) else None

    def outer(self, function: Func) -> Func | None:
        """The function a nested function is defined in (None for a method or top-level def)."""
        if function.fn.owner is not None or len(function.path) < 2:
            return None
        return self.func(function.summary, function.path[:-1])

    def enclosing_class(self, function: Func) -> ClassAt | None:
        scope: Func | None = function
        while scope is not None:
            owner = scope.fn.owner
            if owner is not None:
                cls = scope.summary.classes.get(owner)
                return ClassAt(scope.summary, cls) if cls is not None else None
            scope = self.outer(scope)
        return None
