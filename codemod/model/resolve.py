"""What a name, an attribute or a call refers to in the program: imports in every form (relative,
re-exports, star imports), classes and their repository bases, methods of `self`/`cls`, of
module-level instances and of parameters annotated with a repository class."""

from __future__ import annotations

from dataclasses import dataclass

from codemod.model.program import Program
from codemod.model.summary import Binding, Chain, Class, Function, ModuleSummary, Value
from codemod.model.syntax import BUILTIN_NAMES, CALL_ROOT, ITEM_ROOT, OTHER_ROOT

# How far a name is followed through imports, re-exports and star imports: hops, lookups for
# one name (star imports branch), and parts of a name (`from . import x` can make names grow).
MAX_HOPS = 12
MAX_LOOKUPS = 400
MAX_PARTS = 16
NO_NAME_ROOTS = frozenset({CALL_ROOT, ITEM_ROOT, OTHER_ROOT})
# What a class from outside the program is, where an annotation or a constructor names one.
LIBRARY = "<library>"
# Annotations that say nothing of the object's class.
UNKNOWN_TYPES = frozenset(
    {"typing.Any", "typing_extensions.Any", "builtins.object", "typing.Optional", "typing.Union"}
)


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

    def qualify_local(
        self, chain: Chain | None, function: Func | None, summary: ModuleSummary
    ) -> str | None:
        """The qualified name a chain refers to where `function` spells it: through an import
        inside the function, else the module's names (None for any other local)."""
        if not chain or chain[0] in NO_NAME_ROOTS:
            return None
        local = function.fn.locals.get(chain[0]) if function is not None else None
        if local is not None:
            return ".".join((local.target, *chain[1:])) if local.kind == "import" else None
        return self.qualify_chain(summary, chain)

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
        if binding.kind == "assign" and tail and binding.value is not None:
            # `service = Service()` at module level: `service.method` is Service's method (and
            # `service.repo.method` the method of the class of its attribute `repo`)
            *through, name = tail.split(".")
            for chain in _classes(binding.value):
                holder = self.through(self.class_named(summary, chain), through)
                method = self.member(holder, name, hops) if isinstance(holder, ClassAt) else None
                if method is not None:
                    return method
        return None

    def _member(self, cls: ClassAt, tail: str, hops: int) -> Func | ClassAt | None:
        name, _, rest = tail.partition(".")
        path = cls.cls.methods.get(name)
        if path is not None:  # the last definition wins, as in the class's namespace
            return self.func(cls.summary, path) if not rest else None
        if rest:  # `Class.attribute.method`: through the class of the attribute
            holder = self.attribute_class(cls, name, hops)
            return self._member(holder, rest, hops + 1) if isinstance(holder, ClassAt) else None
        for base in self.bases(cls, hops):
            found = self._member(base, tail, hops + 1)
            if found is not None:
                return found
        return None

    def attribute_class(self, cls: ClassAt, name: str, hops: int = 0) -> ClassAt | str | None:
        """The class of an attribute of a class's instances, as the class declares it
        (`x: C` in its body, `self.x = C(...)` in a method), or one of its program bases:
        the class, LIBRARY for a class from outside the program, None when nothing says."""
        if hops > MAX_HOPS:
            return None
        chain = cls.cls.attributes.get(name)
        if chain is not None:
            return self.class_named(cls.summary, chain)
        for base in self.bases(cls, hops):
            found = self.attribute_class(base, name, hops + 1)
            if found is not None:
                return found
        return None

    def class_named(
        self, summary: ModuleSummary, chain: Chain | None, depth: int = 0
    ) -> ClassAt | str | None:
        """The class a chain (an annotation, a constructor) names where `summary` spells it:
        the program's class, LIBRARY for one from outside it, None when it names nothing known
        (an unbound name, `Any`, `object`)."""
        qualname = self.qualify_chain(summary, chain)
        if qualname is None or qualname in UNKNOWN_TYPES:
            return None
        found = self.class_of(qualname)
        if found is not None:
            return found
        resolved = self._binding(qualname, 0)
        if resolved is None or resolved[2].kind == "import":
            return LIBRARY
        where, rest, binding = resolved
        if binding.kind != "def" or "." in rest or depth >= 4:
            return None  # an assignment, an attribute of something: no class that tells
        made = self.func(where, (rest,))  # a function (`x = make()`): the class it returns
        if made is None or made.fn.returns is None:
            return None
        return self.class_named(made.summary, made.fn.returns, depth + 1)

    def through(self, cls: ClassAt | str | None, names: list[str] | Chain) -> ClassAt | str | None:
        """The class reached from `cls` through its attributes `names` (`repo`, `session`): an
        attribute of a library's object is a library's too."""
        for name in names:
            if not isinstance(cls, ClassAt):
                return cls
            cls = self.attribute_class(cls, name)
        return cls

    def chain_class(
        self, chain: Chain, function: Func | None, summary: ModuleSummary
    ) -> ClassAt | str | None:
        """The class of the object a name or attribute chain evaluates to, where `function`
        (None: the module's top level) reads it: the program's class, LIBRARY for a class from
        outside it, None when nothing says (a parameter without an annotation, what some call
        returned, an attribute no class declares)."""
        if not chain or chain[0] in NO_NAME_ROOTS:
            return None
        local = function.fn.locals.get(chain[0]) if function is not None else None
        if function is not None and local is not None:
            root: ClassAt | str | None = None
            if local.kind == "param" and chain[0] in ("self", "cls"):
                root = self.enclosing_class(function)
            if root is None and local.kind in ("param", "assign") and local.cls is not None:
                root = self.class_named(summary, local.cls)
            return self.through(root, chain[1:])
        qualname = self.qualify_chain(summary, chain)
        found = self._binding(qualname, 0) if qualname else None
        if found is None:
            return None
        where, rest, binding = found
        _, _, tail = rest.partition(".")
        names = tail.split(".") if tail else []
        if binding.kind == "class":
            cls = where.classes.get((rest.partition(".")[0],))
            start: ClassAt | str | None = ClassAt(where, cls) if cls is not None else None
        elif binding.kind == "assign" and binding.value is not None:
            start = None
            for chain in _classes(binding.value):
                reached = self.through(self.class_named(where, chain), names)
                if isinstance(reached, ClassAt):
                    return reached
                start = start or reached
            return start
        elif binding.kind == "import":
            return LIBRARY  # something of a library's
        else:
            return None
        return self.through(start, names)

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

    def assigned(self, qualname: str, hops: int = 8) -> tuple[ModuleSummary, Value] | None:
        """What the module-level name `qualname` is assigned, followed through imports and
        re-exports: (the module that assigns it, the value); None for anything else."""
        for _ in range(hops):
            found = self.split(qualname)
            if found is None:
                return None
            summary, rest = found
            binding = summary.bindings.get(rest)
            if binding is None:
                return None
            if binding.kind != "import":
                value = binding.value
                return (summary, value) if binding.kind == "assign" and value else None
            qualname = binding.target
        return None

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
        if function is not None:
            local = function.fn.locals.get(chain[0])
            if local is not None:
                return self._local_member(chain, function, summary)
        qualname = self.qualify_chain(summary, chain[:-1])
        if qualname is None:
            return None
        found = self.target(f"{qualname}.{chain[-1]}")
        return found if isinstance(found, Func) else None

    def _local_member(self, chain: Chain, function: Func, summary: ModuleSummary) -> Func | None:
        local = function.fn.locals[chain[0]]
        if local.kind == "import":  # `import x` inside the function
            found = self.target(".".join((local.target, *chain[1:])))
            return found if isinstance(found, Func) else None
        holder = self.chain_class(chain[:-1], function, summary)
        return self.member(holder, chain[-1]) if isinstance(holder, ClassAt) else None

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


def _classes(value: Value) -> list[Chain]:
    """The classes a module-level name may have: the one its annotation declares (what type
    checkers see), then the one it is built with (what runs: a proxy under a declared type)."""
    return [c for c in dict.fromkeys((value.declared, value.cls)) if c is not None]
