"""A module's summary: what the analyses need to know of it, as plain data (cached, picklable).

Names are kept as spelled (`chain`: `("a", "b", "c")` for `a.b.c`): what they refer to depends on
other modules, and the resolver (`model/resolve.py`) answers that. A chain whose root is no
name starts with a marker: `("()", "x")` for `f().x`, `("[]", "x")` for `a[0].x`.
"""

from __future__ import annotations

import io
import pickle
from typing import NamedTuple

Chain = tuple[str, ...]

# --- what a reference does (a bit set) ------------------------------------------------------------
CALLED = 1  # the function of a call
PASSED = 2  # an argument of a call (a function handed on: `add_task(job)`, `to_thread(f)`)
STARTED = 4  # inside the arguments of a call that starts background work (`create_task(...)`)
MAXIMAL = 8  # a whole name-rooted chain, as state is read (`app.DATABASE.runs.get`)
STORE = 16  # a name stored or deleted
CHANGED_NAME = 32  # the root name is changed in place (`x[k] = v`, `x.append(v)`)
NAME_BY_CALL = 64  # ... only by a method called on it (`x.update(...)`)
CHANGED_ATTR = 128  # the attribute right above the root is changed (`m.NAME[k] = v`)
ATTR_BY_CALL = 256  # ... only by a method called on it


class Ref(NamedTuple):
    """One distinct way a function uses a name or an attribute chain, at its first line."""

    chain: Chain
    flags: int
    line: int


class Assigned(NamedTuple):
    """A target of an assignment, augmented assignment, annotated assignment or `del`."""

    kind: str  # "name", "attr" (the chain is the target), "item" (the chain is what is indexed)
    chain: Chain
    line: int
    main: bool  # at module level, under `if __name__ == "__main__":`


class Arg(NamedTuple):
    """An argument of a call, as far as the analyses look at it."""

    chain: Chain | None  # a name or a name-rooted attribute chain
    const: str | None  # a string literal
    elts: tuple[Chain | None, ...] | None  # the elements of a list, tuple or set literal
    call: Chain | None  # the function of an argument that is itself a call
    starred: bool


class Call(NamedTuple):
    """A call the analyses read in full: route and start-up registrations, `setattr`, app
    constructors (by the last name of its function, see model/nodes.FULL_CALLS)."""

    func: Chain
    args: tuple[Arg, ...]
    keywords: tuple[tuple[str | None, Arg], ...]
    line: int


class Handed(NamedTuple):
    """A call that a parameter of the function is handed to (for the set fields of models)."""

    param: str
    func: Chain | None  # the function called
    text: str  # as spelled
    at: int | str | None  # its position or keyword; None: passed as *param / **param
    unset: bool  # the call passes `exclude_unset=...` (not False)
    on_param: bool  # a method of the parameter itself (`param.model_dump(...)`)


class Param(NamedTuple):
    name: str
    kind: str  # "posonly", "normal", "vararg", "kwonly", "kwarg"
    annotation: str | None
    default: str | None
    depends: str | None  # the provider, as spelled, of a `Depends(...)` / `Security(...)` default
    annotation_chain: Chain | None  # a class named by the annotation (a string one too)
    default_call: Chain | None  # the function of a default that is a call (`BackgroundTasks()`)


class Local(NamedTuple):
    """A name a function binds: a parameter, an import, a nested def or class, an assignment."""

    kind: str  # "param", "import", "def", "class", "assign"
    target: str  # the qualified name for an import; the name otherwise
    line: int
    cls: Chain | None  # the class of `x = C(...)`, `x: C = ...` or of a parameter `x: C`
    value: Chain | None  # `x = a.b`: the chain assigned


class Decorator(NamedTuple):
    target: Chain | None  # the decorator, or the function of a decorator that is a call
    is_call: bool
    first: str | None  # its first argument, when a string literal (`@app.on_event("startup")`)


class PathExpr(NamedTuple):
    """Where a path expression starts, for the disk checks (see analysis/disk.py)."""

    kind: str  # lit, flit, const, jstr, fstr, join, env, parent, local, named, unknown
    text: str  # lit/flit: the literal; local: the name
    parts: tuple[str, ...]  # join/fstr: the folder added
    inner: PathExpr | None
    chain: Chain | None  # named: the name or attribute chain
    pathish: bool  # join: whether the call evidently makes a path


class DiskUse(NamedTuple):
    expr: PathExpr
    writes: bool
    receiver: bool  # the object a method is called on (`path.write_text(...)`)
    line: int


class Function(NamedTuple):
    """A function of the module: module-level, a method, or nested in either. The module's
    top level is summarised as a function with the path `()`."""

    path: tuple[str, ...]
    owner: tuple[str, ...] | None  # the class a method belongs to (its path)
    line: int
    end_line: int
    first_line: int  # its first decorator's line, or its own
    is_async: bool
    params: tuple[Param, ...]
    decorators: tuple[Decorator, ...]
    locals: dict[str, Local]
    globals: frozenset[str]
    refs: tuple[Ref, ...]
    assigned: tuple[Assigned, ...]
    calls: tuple[Call, ...]
    handed: tuple[Handed, ...]
    fields_set_reads: tuple[tuple[str, str], ...]  # (root name, text) of `x.model_fields_set`
    disk: tuple[DiskUse, ...]
    records: tuple[tuple[str, str, int], ...]  # path fields set: (field, text, line)
    path_locals: dict[str, PathExpr]  # names bound once, to their value
    endless: tuple[int, str] | None  # a `while True:` that nothing leaves: (line, test)
    repeats: bool  # a loop of its own body runs for ever (asked of a decorator and its wrappers)
    mutates_self: bool  # assigns to or fills an attribute of its first parameter
    changes_self: bool  # changes a container or counter of `self` in place (its own body)
    registers: bool  # returns its first parameter (a registering decorator)
    is_property: bool
    starts_background: bool  # calls a background starter (by the names the module has for them)
    wraps: str | None  # a task generated by this tool: the implementation it runs
    annotation_names: tuple[str, ...]  # the names its annotations and defaults use
    # a method's `self.x = C(...)` / `self.x: C = ...`: (attribute, the class's chain)
    self_attrs: tuple[tuple[str, Chain], ...]
    returns: Chain | None  # the class its return annotation names (`-> Service`)
    returned: tuple[Chain, ...]  # the names and chains it returns or yields
    returns_value: bool = False  # a `return` of its own gives a value (an app factory's app)
    made: tuple[Chain, ...] = ()  # what its `return C(...)` statements call (`C`)


class Value(NamedTuple):
    """What a module-level name is assigned."""

    cls: Chain | None  # the class of `x = C(...)` / `x: C = ...`
    call: Chain | None  # the function of a value that is a call
    container: bool  # a dict, list or set display, or a comprehension of one
    attribute: Chain | None  # `x = a.b`: the chain
    alias: tuple[str, str | None, str | None] | None  # ("expr", text) / ("call", func, arg 2)
    path: PathExpr | None
    none: bool  # `x = None` / `x: T = None` / `x: T`
    # the class an annotation of the name at module level declares (`app: ForgeApp` under
    # `if TYPE_CHECKING:`, whatever the value bound at run time)
    declared: Chain | None = None


class Binding(NamedTuple):
    kind: str  # "import", "def", "class", "assign"
    target: str  # the qualified name for an import; the bound name otherwise
    line: int
    from_import: bool  # `from m import x` (not `import m`)
    value: Value | None


class Field(NamedTuple):
    """A class-level statement of a class body (Pydantic and Enum facts)."""

    name: str
    kind: str  # "ann" (annotated), "assign" (one target), "multi" (several targets)
    annotation_names: tuple[Chain, ...]  # the names and chains its annotation uses
    annotation: str | None  # its annotation, as text
    value_call: Chain | None  # the function of a value that is a call (`Field(...)`, `auto()`)
    value_const: str | None  # the type of a constant value: "str", "int", "float", "other"
    keywords: tuple[tuple[str, str], ...]  # the call's keywords: (name, "true"/"none"/text)


class Class(NamedTuple):
    path: tuple[str, ...]
    line: int
    bases: tuple[Chain | None, ...]
    keywords: tuple[tuple[str, str], ...]  # (name, "true"/"none"/text) of its class keywords
    methods: dict[str, tuple[str, ...]]  # name -> the function's path (the last def wins)
    v1_style: bool  # an inner `class Config`, `@validator`: Pydantic v1 style
    changing_methods: frozenset[str]  # methods that change the instance's containers
    fields: tuple[Field, ...]
    computed: tuple[str, ...]  # `@computed_field` methods
    config: tuple[tuple[str, str], ...]  # `model_config = ConfigDict(...)` / `{...}` keywords
    # the classes of its attributes: class-level `x: C` / `x = C(...)`, and what its methods
    # assign to `self.x` (the first assignment found)
    attributes: dict[str, Chain] = {}  # noqa: RUF012 (a NamedTuple field's default)


class Import(NamedTuple):
    line: int
    names: tuple[str, ...]  # the modules it names (`import a.b` -> a.b; `from a import x` -> a)
    from_import: bool


class ArgFact(NamedTuple):
    """An argument of a job's call, as the call site shows it (see model/arg_facts.py)."""

    key: int | str  # its position among the job's arguments, or its keyword
    text: str
    is_name: bool
    literal: bool
    is_lambda: bool
    code: bool | None  # names a def or class of the site's scopes (True), a local value
    # (False), or None: whether `qualname` is a function or a class decides
    qualname: str | None  # what it names, qualified where the call is
    owner: str | None  # `E.X`: what `E` names; a name: the class its local annotation names
    evident: bool  # `request`, `websocket`, `self`, `cls`
    annotation: str | None  # the annotation of the name where the enclosing function binds it
    param: bool  # a parameter of a function around the call
    depends: str | None  # that parameter's `Depends(...)` provider, in the innermost function
    host: str | None  # why it is a path on the web host, if it is one
    # what the call site makes evident of its type: ("class", "E") for `E[name]`, `E(...)`,
    # `E.model_validate(...)` (bound once to the name, or the argument itself); ("element",
    # the annotation of the handler's parameter `p`, "field.path", "p.field.path") for the
    # loop variable of `for x in p.field.path`
    built: tuple[str, ...] | None = None


class SiteFact(NamedTuple):
    """A background call as its module shows it: what classification needs besides the rest
    of the program (see model/sites.py)."""

    kind: str  # asyncio.create_task, ..., BackgroundTasks.add_task, threading.Thread (models.py)
    line: int
    column: int
    stmt_line: int
    stmt_end: int  # the statement's last line
    function: str | None  # the enclosing function's name
    in_async: bool
    scope_key: str | None  # the innermost enclosing function, as `module.f.inner`
    call_text: str
    source_line: str
    standalone: bool  # the call is a statement of its own
    asyncio_name: str | None
    result_name: str  # the name the publishing statement may bind
    # already migrated: the tasks a try around the call queues, in the order they appear:
    # (runner or "", the task's qualified name or its text)
    migrated_by: tuple[tuple[str, str], ...]
    # `add_task(publish_or_run, partial(...))`: (helper, guarded runner, guarded task, task)
    published: tuple[str, str | None, str | None, str | None] | None
    handle: tuple[str, int | str]  # ("end", last line the fallback keeps), ("stored", why), ...
    not_a_call: str | None  # why the job's call is no direct call
    impl_skip: str | None  # why the job is evidently no importable function
    impl: str | None  # the job's qualified name, where the call is
    impl_text: str
    star_args: bool
    args: tuple[ArgFact, ...]
    suppressed: bool  # the line's noqa covers CCM001
    job_form: str  # where the job's function and arguments are in the call (sites.JOB_FORMS)
    starter: str  # the text of the function the site calls (`asyncio.create_task`, `Thread`)
    # `pool.submit(...)` of a name another module defines: that name, qualified; the site is one
    # only if it is an executor (analysis/executors.py)
    receiver: str | None
    in_main: bool  # under the module's `if __name__ == "__main__":` (a def there included)
    shadowed: tuple[str, ...]  # names the rewrite uses that the site's function binds itself


class QueuedFact(NamedTuple):
    """`X.delay(...)` (or the runner's guarded_delay of X) with no fallback around it."""

    task: str  # X, qualified
    runner: str | None  # the guarded_delay it goes through, qualified
    line: int
    column: int
    stmt_end: int
    function: str | None
    in_async: bool
    text: str


class Sites(NamedTuple):
    sites: tuple[SiteFact, ...]
    queued: tuple[QueuedFact, ...]
    error: str | None  # the module is too deeply nested to analyse


# The path of the pseudo-function that holds a module's `if __name__ == "__main__":` block.
MAIN_BLOCK = ("__main__",)


class ModuleSummary(NamedTuple):
    module: str
    is_package: bool
    error: str | None  # the file cannot be parsed: why (then nothing else is known)
    bindings: dict[str, Binding]
    star_imports: tuple[str, ...]
    imports: tuple[Import, ...]  # at the module's top level (blocks included, defs not)
    sys_path_line: int | None  # the first top-level statement that changes sys.path
    global_names: frozenset[str]  # names some function of the module declares `global`
    classes: dict[tuple[str, ...], Class]
    functions: dict[tuple[str, ...], bytes]  # path -> the pickled Function (read on demand)
    sites: bytes | None  # the pickled site facts (model/sites.py) of a module that may hold some
    names: frozenset[str]  # the names of the functions and methods it defines
    # the module is written for a newer Python: why this one cannot parse it (the summary is of
    # it made older, good for the other modules' analyses; its own sites are not rewritten)
    newer: str | None = None

    def function(self, path: tuple[str, ...]) -> Function | None:
        blob = self.functions.get(path)
        if blob is None:
            return None
        found = loads(blob)
        return found if isinstance(found, Function) else None


def dumps(value: object) -> bytes:
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


class _Unpickler(pickle.Unpickler):
    """Reads back only the classes of this module: a cache entry that names anything else (one
    written by something else, or planted in a repository to run code when the tool reads it)
    is refused."""

    def find_class(self, module: str, name: str) -> type:
        found = globals().get(name) if module == __name__ else None
        if not (isinstance(found, type) and issubclass(found, tuple)):
            raise pickle.UnpicklingError(f"{module}.{name} is no summary class")
        return found


def loads(data: bytes) -> object:
    """A summary (or a part of one) from its pickled form, refusing anything else."""
    return _Unpickler(io.BytesIO(data)).load()
