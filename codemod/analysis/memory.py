"""Jobs that share the web process's memory: module-level state that the web side uses too."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from codemod.analysis.singletons import singleton_use
from codemod.analysis.sockets import socket_push
from codemod.analysis.webside import JobCheck
from codemod.model.nodes import MUTATORS
from codemod.model.resolve import ClassAt, Func, Resolver
from codemod.model.summary import (
    ATTR_BY_CALL,
    CHANGED_ATTR,
    CHANGED_NAME,
    NAME_BY_CALL,
    STORE,
    ModuleSummary,
    Value,
)
from codemod.model.syntax import CALL_ROOT, ITEM_ROOT, OTHER_ROOT

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
    summary: ModuleSummary
    line: int
    kind: str  # "container", "instance", "class", "global", "contextvar"
    methods: frozenset[str] = frozenset()  # an instance's methods that change it


@dataclass
class _Use:
    function: Func
    line: int
    changes: bool
    by_call: bool = False  # only through a method of the object (`x.update(...)`)

    def changes_object(self, obj: _Object, qualname: str) -> bool:
        """Whether this use changes the object: a method call on an instance or a class of
        the program counts only for a method that changes it."""
        if obj.kind in ("instance", "class") and self.by_call:
            return qualname.rpartition(".")[2] in obj.methods
        return self.changes or qualname.rpartition(".")[2] in obj.methods


_NO_NAME = frozenset({CALL_ROOT, ITEM_ROOT, OTHER_ROOT})


class SharedMemory(JobCheck):
    """The in-memory state a job shares with the web side, per run (jobs are asked once)."""

    def setup(self) -> None:
        self._objects: dict[str, _Object | None] = {}

    def _shared(self, job: Func) -> str | None:
        walk = self.walk(job)
        singleton = singleton_use(walk, self.resolver) or socket_push(
            walk, self.resolver, self.sources
        )
        if singleton is not None:
            return singleton
        keys = {f.key for f in walk}
        used: dict[str, tuple[_Object, _Use]] = {}
        for function in walk:
            for qualname, use in self._uses(function, memos=frozenset(keys)):
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
        program = self.resolver.program
        for obj, job_use in used.values():
            web = self._web_use(obj, keys, job_use.changes)
            if web is None:
                continue
            where = f"{program.rel(obj.summary.module)}:{obj.line}"
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

    def handed(self, provider: Func, starter: str | None) -> str | None:
        """Why a dependency's provider hands the job an object of the web process's memory: it
        returns or yields a module-level object that is state and that the web side uses too,
        by its name or through the same dependency (the job may change what it is handed: a
        progress board it updates, a status endpoint reads). `starter`: the key of the
        function that starts the job (its own use of the dependency is the job's)."""
        program = self.resolver.program
        for chain in provider.fn.returned:
            qualname = self.resolver.qualify_local(chain, provider, provider.summary)
            obj = self._object(qualname) if qualname else None
            if obj is None:
                continue
            skip = {provider.key} | ({starter} if starter else set())
            web = self._web_use(obj, skip, True) or self._dependent(provider, skip)
            if web is None:
                continue
            where = f"{program.rel(obj.summary.module)}:{obj.line}"
            if web == "":
                return (
                    f"it hands the job the module-level `{obj.name}` ({where}), whose name more "
                    f"than {MAX_FILES} modules spell: its other users were not checked"
                )
            return (
                f"it hands the job the module-level `{obj.name}` ({where}), which {web} in the "
                "web process"
            )
        return None

    def _dependent(self, provider: Func, skip: set[str]) -> str | None:
        """How a function the web process runs gets the same dependency ("`status`
        (path:line) gets it too through `Depends(get_progress)`"), if one does."""
        from codemod.analysis.dependencies import dependency_of, provider_spec

        wanted = f"{provider.module}:{provider.name}"
        resolver = self.resolver
        for rel in self.sources.spelling_word(provider.name):
            summary = resolver.program.at(self.sources.path(rel), rel)
            if summary is None or summary.error is not None:
                continue
            for function in resolver.functions(summary):
                if function.key in skip:
                    continue
                for param in function.fn.params:
                    found = dependency_of(param.depends, param.annotation, summary, resolver)
                    if found is None or provider_spec(found, resolver) != wanted:
                        continue
                    if self.web.runs(function):
                        line = function.fn.line
                        return (
                            f"`{function.display}` ({rel}:{line}) gets too, through "
                            f"`Depends({found.provider})`,"
                        )
        return None

    # --- uses of module-level names -------------------------------------------------------

    def _uses(
        self, function: Func, name: str | None = None, memos: frozenset[str] = frozenset()
    ) -> Iterator[tuple[str, _Use]]:
        """(qualified name, use) of each module-level name the function uses (only those
        spelled `name` when it is given): the name, and an attribute of it. A memo the function
        fills (rebinds after reading it first: `if C._cache: return C._cache ... C._cache =
        ...`) changes nothing when the function is one of `memos`: the job runs it itself, and
        each process fills its own with the same value (filled by a function the web process
        alone runs, it is state the job shares: a semaphore the web side creates and acquires,
        the job releases)."""
        summary = function.summary
        local = function.fn.locals
        declared = function.fn.globals
        resolver = self.resolver
        read = {ref.chain[:2] for ref in function.fn.refs if not ref.flags & STORE}
        for ref in function.fn.refs:
            chain, flags = ref.chain, ref.flags
            root = chain[0]
            if root in _NO_NAME or (name is not None and root != name and name not in chain):
                continue
            memo = (
                function.key in memos and bool(flags & STORE) and len(chain) <= 2 and chain in read
            )
            if len(chain) > 1 and root not in local:
                base = resolver.qualify(summary, root)
                if base is not None and not base.startswith("builtins."):
                    changes = bool(flags & CHANGED_ATTR) and not memo
                    yield (
                        f"{base}.{chain[1]}",
                        _Use(function, ref.line, changes, changes and bool(flags & ATTR_BY_CALL)),
                    )
            if root in local and root not in declared:
                continue
            rebinds = bool(flags & STORE) and len(chain) == 1
            if rebinds and root not in declared:
                continue
            qualname = resolver.qualify(summary, root)
            if qualname is None or qualname.startswith("builtins."):
                continue
            changes = (rebinds or bool(flags & CHANGED_NAME)) and not memo
            yield (
                qualname,
                _Use(function, ref.line, changes, changes and bool(flags & NAME_BY_CALL)),
            )

    def _object(self, qualname: str) -> _Object | None:
        if qualname not in self._objects:
            self._objects[qualname] = self._find_object(qualname)
        return self._objects[qualname]

    def _find_object(self, qualname: str) -> _Object | None:
        resolver = self.resolver
        found = resolver.resolve(qualname)
        if found is None:
            return None
        summary, binding = found
        if summary.module == "" or "." in binding.target:
            return None
        name = binding.target
        qualified = f"{summary.module}.{name}"
        if binding.kind == "class":
            # its class-level attributes, changed by functions (`ApiBG.running = True`)
            return _Object(qualified, name, summary, binding.line, "class")
        if binding.kind != "assign":
            return None
        if name in summary.global_names:
            return _Object(qualified, name, summary, binding.line, "global")
        value = binding.value
        if value is None or value.none:
            return None
        if value.container:
            return _Object(qualified, name, summary, binding.line, "container")
        if value.call is None:
            return None
        constructor = resolver.qualify_chain(summary, value.call)
        if constructor == "contextvars.ContextVar":
            return _Object(qualified, name, summary, binding.line, "contextvar")
        if constructor in CONTAINERS:
            return _Object(qualified, name, summary, binding.line, "container")
        cls = _instance_class(resolver, summary, value)
        if cls is None:
            return None
        # an instance of a class of the program: state when one side sets its attributes
        # (`state.paused = True` in a handler) or calls a method that changes it
        methods = cls.cls.changing_methods
        return _Object(qualified, name, summary, binding.line, "instance", methods)

    # --- the web side ---------------------------------------------------------------------

    def _web_use(self, obj: _Object, walk: set[str], job_changes: bool) -> str | None:
        """How a function outside the job's walk uses the object ("`job_status` (path:line)
        reads it"), when the object is state: one side changes it; "" when too many modules
        spell its name to tell; None when nothing outside the walk uses it so."""
        rels = self.sources.spelling_word(obj.name)
        if not job_changes:  # then the web side must change it: only files that may do so
            test = ChangeTest(obj.name, MUTATORS | obj.methods, obj.kind in ("instance", "class"))
            rels = [rel for rel in rels if test.may_change(self.sources.data(rel))]
        if len(rels) > MAX_FILES:
            return ""
        program = self.resolver.program
        for rel in rels:
            summary = program.at(self.sources.path(rel), rel)
            if summary is None or summary.error is not None:
                continue
            for function in self.resolver.functions(summary):
                if function.key in walk:
                    continue
                at_startup = function.key in self.startup
                for qualname, use in self._uses(function, obj.name):
                    if qualname != obj.qualname and not (
                        obj.kind in ("instance", "class")
                        and qualname.startswith(obj.qualname + ".")
                    ):
                        continue
                    use.changes = use.changes_object(obj, qualname)
                    if use.changes and (at_startup or function.fn.registers):
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
                    return f"`{function.display}` ({rel}:{use.line}) {verb} too"
        return None


def _instance_class(resolver: Resolver, summary: ModuleSummary, value: Value) -> ClassAt | None:
    """The class of the program a module-level value is an instance of: by its constructor
    (`x = C(...)`), by a method of a class that makes one (`x = C.get_instance()`, a factory
    classmethod: OpenHands' conversation manager), or by the annotation of its name."""
    if value.cls is not None:
        found = resolver.instance_class(summary, value.cls)
        if found is not None:
            return found
    if value.call is not None and len(value.call) > 1:
        owner = resolver.instance_class(summary, value.call[:-1])
        if owner is not None and resolver.member(owner, value.call[-1]) is not None:
            return owner
    return resolver.instance_class(summary, value.declared) if value.declared else None


class ChangeTest:
    """A byte test that a file may change an object: `NAME[...] = `, `NAME.a += `,
    `NAME.x.append(`, `del NAME[`, `global NAME`, a changing method of an instance, `.set(`
    of a context variable. A test that passes says nothing; one that fails rules the file out.

    Each form holds the name as a whole word, so only the lines that spell it are searched: from
    each occurrence of the name, and on its line (a pattern that opens with `\\b` and an
    alternation has no literal to skip ahead by, and is slow over a whole file)."""

    def __init__(self, name: str, methods: frozenset[str], attributes: bool = False) -> None:
        self.needle = name.encode()
        # `attributes`: an instance or a class, which only a change of its attributes or items
        # (or a method) changes: a bare `NAME = ...` elsewhere is another variable
        self.attributes = attributes
        word = re.escape(self.needle)
        calls = b"|".join(re.escape(m.encode()) for m in sorted(methods))
        path = rb"(?:\s*\.\s*\w+|\s*\[[^\]\n]*\])*"
        self.at_name = re.compile(
            rb"\b"
            + word
            + path
            + rb"\s*(?:(?://|<<|>>|\*\*|[-+*/%|&^@])?=(?!=)|\.\s*(?:"
            + calls
            + rb")\s*\()"
        )
        self.on_line = re.compile(
            rb"\bdel\b[^\n]*\b" + word + rb"\b|\bglobal\b[^\n]*\b" + word + rb"\b"
        )

    def may_change(self, data: bytes) -> bool:
        at = data.find(self.needle)
        while at >= 0:
            found = self.at_name.match(data, at)
            if found and not (self.attributes and _bare(found.group(0), len(self.needle))):
                return True
            start = data.rfind(b"\n", 0, at) + 1
            end = data.find(b"\n", at)
            if self.on_line.search(data, start, len(data) if end < 0 else end):
                return True
            at = data.find(self.needle, at + 1)
        return False


def _bare(text: bytes, size: int) -> bool:
    """Whether a match is the name rebound as a whole (`NAME = ...`, `NAME += 1`)."""
    return not text[size:].lstrip().startswith((b".", b"["))
