"""The job's side of start-up state: whether a job, or what it calls, reads what only the web
app's start-up sets."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from codemod.analysis.state import Scope, Setter, StartupState
from codemod.model.callgraph import callees
from codemod.model.resolve import ClassAt, Func, Resolver
from codemod.model.sources import Sources, has_word
from codemod.model.summary import CALLED, STORE, Chain
from codemod.model.syntax import CALL_ROOT, ITEM_ROOT, OTHER_ROOT

# How far a job is followed (calls deep), and how many functions its check looks at in all.
JOB_DEPTH = 6
JOB_BUDGET = 400
# A name that too many modules define is too generic to follow by name alone.
MAX_BY_NAME_FILES = 40


@dataclass(frozen=True)
class StartupRead:
    """What a job reads of the start-up state, and who sets it."""

    text: str  # "`app.DATABASE`", "`plugins.get` (in `Model.instance`, path)"
    setter: Setter
    # The function that reads it was found by its name alone (the object it is called on has
    # no class the program tells): how, for `-v`.
    by_name: str | None = None


def needs_startup(
    function: Func, resolver: Resolver, state: StartupState, lookups: Lookups
) -> StartupRead | None:
    """What the job reads of the start-up state, when the job, or a function of the program it
    calls (breadth first, at most JOB_DEPTH calls deep and JOB_BUDGET functions), reads some;
    None when it reads none."""
    if not state:
        return None
    if function.key in lookups.answers:
        return lookups.answers[function.key]
    answer = None
    seen = {function.key}
    layer = [function]
    visited = 0
    for _ in range(JOB_DEPTH + 1):
        following: list[Func] = []
        for current in layer[: max(0, JOB_BUDGET - visited)]:
            visited += 1
            reads, called = lookups.direct(current, resolver)
            if reads:
                key, text = reads[0]
                if current is not function:
                    rel = resolver.program.rel(current.module)
                    text = f"{text}` (in `{current.display}`, {rel})"
                else:
                    text += "`"
                answer = StartupRead(text, state.keys[key][1], lookups.by_name.get(current.key))
                break
            for found in called:
                if found.key not in seen:
                    seen.add(found.key)
                    following.append(found)
        if answer is not None or not following:
            break
        layer = following
    lookups.answers[function.key] = answer
    return answer


class Lookups:
    """What a run has learnt of the program's functions for the needs-startup check: each
    function's own reads of the state and its callees, answers by job, and functions, methods
    and properties by name among the modules that spell a state variable (no other module can
    read it), for calls on objects whose class nothing tells."""

    def __init__(self, state: StartupState, resolver: Resolver, sources: Sources) -> None:
        self.state = state
        self.resolver = resolver
        self.sources = sources
        self._found: dict[tuple[str, bool], list[Func]] = {}
        self._defines: dict[str, list[str]] | None = None
        self._direct: dict[str, tuple[list[tuple[str, str]], list[Func]]] = {}
        self.answers: dict[str, StartupRead | None] = {}
        # class key -> the module-level instances of it some start-up state is an attribute of
        self._holders: dict[str, set[str]] | None = None
        # functions followed by their name alone: key -> how (for the message and `-v`)
        self.by_name: dict[str, str] = {}

    def direct(
        self, function: Func, resolver: Resolver
    ) -> tuple[list[tuple[str, str]], list[Func]]:
        """A function's own reads of the state (but for what it rebinds itself: a lazy
        initialiser) and the functions it calls, by call or by name."""
        found = self._direct.get(function.key)
        if found is None:
            scope = Scope(function.summary, function, resolver)
            own = set(scope.rebound())
            reads = [(k, t) for k, t in scope.reads(self.state) if k not in own]
            reads += self._instance_reads(function)
            found = reads, list(self._callees(function))
            self._direct[function.key] = found
        return found

    def _instance_reads(self, function: Func) -> list[tuple[str, str]]:
        """A method's reads of `self.x` where `self` may be a module-level instance whose
        attributes the start-up sets (`holder.db`, read through `holder.database`, a property
        whose body returns `self.db`): (state key, how it reads) for each."""
        owner = function.fn.owner
        params = function.fn.params
        if owner is None or not params or len(owner) != 1:
            return []
        this = params[0].name
        cls = f"{function.module}.{owner[0]}"
        out: list[tuple[str, str]] = []
        for variable, name in self._instances(cls):
            for ref in function.fn.refs:
                if len(ref.chain) < 2 or ref.chain[0] != this:
                    continue
                key = self.state.match(".".join((variable, *ref.chain[1:])))
                if key is not None:
                    out.append((key, ".".join((name, *ref.chain[1:]))))
        return out

    def _instances(self, cls: str) -> list[tuple[str, str]]:
        """The module-level instances of `cls` (or of a subclass) whose attributes some piece
        of the start-up state is: (qualified name, the name)."""
        if self._holders is None:
            self._holders = {}
            for key in self.state.keys:
                parts = key.split(".")
                for cut in range(len(parts) - 1, 0, -1):
                    variable = ".".join(parts[:cut])
                    classes = self._instance_classes(variable)
                    if classes:
                        for found in classes:
                            self._holders.setdefault(found, set()).add(variable)
                        break
        return [
            (variable, variable.rpartition(".")[2])
            for holder, variables in self._holders.items()
            if holder == cls or self.resolver.derives_from(holder, frozenset({cls}))
            for variable in sorted(variables)
        ]

    def _instance_classes(self, qualname: str) -> list[str]:
        """The program classes a module-level variable is an instance of (declared and built)."""
        resolved = self.resolver.resolve(qualname)
        if resolved is None or resolved[1].kind != "assign" or resolved[1].value is None:
            return []
        value = resolved[1].value
        out = []
        for chain in (value.declared, value.cls):
            found = self.resolver.class_named(resolved[0], chain) if chain else None
            if isinstance(found, ClassAt):
                out.append(found.key)
        return out

    def _callees(self, function: Func) -> Iterator[Func]:
        resolver = self.resolver
        summary = function.summary
        # A decorator of the program runs with the job: its wrapper (dispatch's
        # `background_task` opens a session and counts metrics through the plugin registry).
        for decorator in function.fn.decorators:
            found = resolver.callee(decorator.target, None, summary)
            if found is not None:
                yield found
                size = len(found.path)
                for inner in resolver.functions(found.summary):
                    if len(inner.path) > size and inner.path[:size] == found.path:
                        yield inner
        yield from callees(function, resolver, properties=True)
        for ref in function.fn.refs:
            chain = ref.chain
            if ref.flags & CALLED and len(chain) > 1:
                receiver = resolver.chain_class(chain[:-1], function, summary)
                if isinstance(receiver, ClassAt):
                    # what the method may be at run time: its overrides in the subclasses
                    yield from self._overrides(receiver, chain)
                elif resolver.callee(chain, function, summary) is None and self._unknown(
                    chain[:-1], function
                ):
                    yield from self._by_name(chain, properties=False)
            last = len(chain) - 1 if ref.flags & STORE else len(chain)
            for cut in range(1, last):
                if self._unknown(chain[:cut], function):
                    yield from self._by_name(chain[: cut + 1], properties=True)

    def _unknown(self, base: Chain, function: Func) -> bool:
        """Whether `base` is an object whose class nothing in the program tells (a parameter
        without an annotation, what some call returned, an attribute no class declares): only
        then are its methods and properties looked for by name, as the last resort. A
        module-level name resolves (or is a library's); `self`, a parameter or a local
        annotated with a class, or an attribute a class declares, has that class: a method it
        lacks is its library base's."""
        root = base[0]
        if root in (CALL_ROOT, ITEM_ROOT):
            return True
        if root == OTHER_ROOT:
            return len(base) > 1
        if self.resolver.chain_class(base, function, function.summary) is not None:
            return False
        if len(base) > 1:
            return True
        local = function.fn.locals.get(root)
        return local is not None and local.kind in ("param", "assign")

    def _overrides(self, cls: ClassAt, chain: Chain) -> Iterator[Func]:
        """The methods named `chain[-1]` of the program's classes that derive from `cls` (among
        the modules that spell a state variable, where a read can be)."""
        roots = frozenset({cls.key})
        for found in self.functions(chain[-1], properties=False):
            owner = found.fn.owner
            if owner is None or len(owner) != 1 or found.fn.path[:-1] != owner:
                continue
            qualname = f"{found.module}.{owner[0]}"
            if qualname != cls.key and self.resolver.derives_from(qualname, roots):
                self.by_name.setdefault(found.key, f"`{'.'.join(chain)}` (an override)")
                yield found

    def _by_name(self, chain: Chain, properties: bool) -> Iterator[Func]:
        for found in self.functions(chain[-1], properties):
            self.by_name.setdefault(found.key, f"`{'.'.join(chain)}`")
            yield found

    def functions(self, name: str, properties: bool) -> list[Func]:
        if name.startswith("__") and name.endswith("__"):
            return []
        found = self._found.get((name, properties))
        if found is not None:
            return found
        modules = self._index().get(name, [])
        out: list[Func] = []
        if len(modules) <= MAX_BY_NAME_FILES:
            for module in modules:
                summary = self.resolver.program.module(module)
                if summary is None:
                    continue
                for function in self.resolver.functions(summary):
                    if function.name != name:
                        continue
                    if properties and not function.fn.is_property:
                        continue
                    out.append(function)
        self._found[(name, properties)] = out
        return out

    def _index(self) -> dict[str, list[str]]:
        """name -> the modules that define a function of that name (among those that spell a
        state variable)."""
        if self._defines is None:
            self._defines = {}
            words = self.state.words()
            for _, rel, data in self.sources.items():
                if not _spells(data, words):
                    continue
                from codemod.model.files import module_name

                module = module_name(rel)
                for name in {m.group(1) for m in _DEF.finditer(data)}:
                    self._defines.setdefault(name.decode(), []).append(module)
        return self._defines


_DEF = re.compile(rb"def[ \t]+(\w+)[ \t]*\(")


def _spells(data: bytes, words: list[str]) -> bool:
    """Whether the bytes spell one of the words as a whole word."""
    return any(has_word(data, word.encode()) for word in words)
