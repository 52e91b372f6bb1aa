"""Jobs that use a singleton: an object kept one of per process (by a metaclass, a lazy getter)."""

from __future__ import annotations

from codemod.model.resolve import ClassAt, Func, Resolver
from codemod.model.summary import CALLED

# How deep the bases of a class are searched for the singleton metaclass.
_BASES_DEPTH = 4
# How many constructors of the classes a job builds are searched too.
_BUDGET = 200


def singleton_use(walk: list[Func], resolver: Resolver) -> str | None:
    """How a function of the job's walk gets a singleton ("`handle` (app/x.py:12) gets
    `EventBus()` (app/bus.py:14), one instance per process: its metaclass `Singleton`"), if
    one does, or the constructor of a class it builds does. Each process has its own: what the
    web process put in it (handlers registered at start-up, a queue its threads consume, a
    cache its requests fill) is not in a worker's, and what the job puts in it the web process
    never sees."""
    todo = list(walk)
    seen = {function.key for function in todo}
    program = resolver.program
    while todo:
        function = todo.pop(0)
        for ref in function.fn.refs:
            if not ref.flags & CALLED or ref.chain[0] in function.fn.locals:
                continue
            qualname = resolver.qualify_chain(function.summary, ref.chain)
            found = resolver.target(resolver.canonical(qualname)) if qualname else None
            if isinstance(found, Func):
                kept = _lazy_instance(found, resolver)
                if kept is not None:
                    held, name = kept
                    where = f"{program.rel(found.module)}:{found.fn.line}"
                    return (
                        f"`{function.display}` ({program.rel(function.module)}:{ref.line}) gets "
                        f"`{found.name}()` ({where}), which makes one `{held.cls.path[-1]}` per "
                        f"process and keeps it in {name}: a worker's is another, without what "
                        "the web process put in it"
                    )
                continue
            cls = found if isinstance(found, ClassAt) else None
            if cls is None:
                continue
            metaclass = _singleton_metaclass(cls, resolver)
            if metaclass is not None:
                name = ".".join(ref.chain)
                where = f"{program.rel(cls.summary.module)}:{cls.cls.line}"
                return (
                    f"`{function.display}` ({program.rel(function.module)}:{ref.line}) gets "
                    f"`{name}()` ({where}), one instance per process (its metaclass "
                    f"`{metaclass}`): a worker's is another, without what the web process put in it"
                )
            init = resolver.member(cls, "__init__")  # what building it runs (its bases' too)
            if init is not None and init.key not in seen and len(seen) < _BUDGET:
                seen.add(init.key)
                todo.append(init)
    return None


def _singleton_metaclass(cls: ClassAt, resolver: Resolver, depth: int = 0) -> str | None:
    """The metaclass named like a singleton's (`Singleton`, `SingletonMeta`, ...) of the class
    or of one of its bases in the program."""
    for key, value in cls.cls.keywords:
        if key == "metaclass" and "singleton" in value.lower():
            return value.partition(":")[2]
    if depth >= _BASES_DEPTH:
        return None
    for base in resolver.bases(cls):
        found = _singleton_metaclass(base, resolver, depth + 1)
        if found is not None:
            return found
    return None


def _lazy_instance(getter: Func, resolver: Resolver) -> tuple[ClassAt, str] | None:
    """(the class, where it is kept) when a function is a lazy getter of an instance of a class
    of the program whose methods change it: `global _cache; if _cache is None: _cache =
    Cache(); return _cache`, or a getter without parameters cached by `functools` (`@lru_cache
    def get_cache() -> Cache: return Cache()`): a singleton made on first use."""
    fn = getter.fn
    cached = next(
        (d.target for d in fn.decorators if d.target is not None and d.target[-1] in _CACHES),
        None,
    )
    if cached is not None and not fn.params:
        for chain in (*fn.made, *((fn.returns,) if fn.returns else ())):
            cls = resolver.instance_class(getter.summary, chain)
            if cls is not None and cls.cls.changing_methods:
                return cls, f"the cache of `@{'.'.join(cached)}`"
    if len(fn.returned) != 1 or len(fn.returned[0]) != 1:
        return None
    name = fn.returned[0][0]
    local = fn.locals.get(name)
    if name not in fn.globals or local is None or local.cls is None:
        return None
    cls = resolver.instance_class(getter.summary, local.cls)
    if cls is None or not cls.cls.changing_methods:
        return None
    return cls, f"the module-level `{name}`"


_CACHES = frozenset({"lru_cache", "cache"})
