"""One background call site -> migratable / already-migrated / ignored / skipped(reason)."""

from __future__ import annotations

import ast
import contextlib
from dataclasses import dataclass, field, replace

from codemod.analysis.aliases import MAX_ALIAS_DEPTH, NotAnAlias, alias_of
from codemod.analysis.dependencies import (
    Dependency,
    dependency_of,
    needs_the_request,
    provider_spec,
)
from codemod.analysis.detect import (
    Candidate,
    Scope,
    guarded_task,
    lookup,
    parent_map,
    qualify,
)
from codemod.analysis.disk import HINT as DISK_HINT
from codemod.analysis.disk import SharedDisk
from codemod.analysis.endless import never_ends
from codemod.analysis.fieldsset import mark_fields_set
from codemod.analysis.hostpath import host_path
from codemod.analysis.importable import HINT as IMPORT_HINT
from codemod.analysis.importable import sub_root_import
from codemod.analysis.memory import HINT as MEMORY_HINT
from codemod.analysis.memory import SharedMemory
from codemod.analysis.reach import Reach, function_key
from codemod.analysis.schemas import (
    V1,
    annotation_model,
    round_trip_problem,
    with_models,
    with_params,
)
from codemod.analysis.state import Lookups, needs_startup
from codemod.config import Config
from codemod.model.calls import Function, Resolver, last_name
from codemod.model.files import relpath
from codemod.model.index import ModuleInfo, RepoIndex, signature_of, wrapped_implementation
from codemod.model.noqa import suppressed
from codemod.model.syntax import FunctionNode, parse_expression, walk_lines, word_lines
from codemod.models import (
    ADD_TASK,
    PUBLISH_OR_RUN,
    Param,
    Reason,
    Signature,
    Site,
    Status,
    fields_set_name,
)

WAITERS = frozenset(
    f"asyncio.{n}" for n in ("gather", "wait", "wait_for", "shield", "as_completed", "timeout")
)
WAIT_ATTRS = frozenset(
    {"cancel", "result", "exception", "done", "cancelled", "remove_done_callback", "get_coro"}
)
GUARD_ATTRS = frozenset({"add_done_callback", "set_name", "get_name"})
STORE_METHODS = frozenset({"add", "append", "appendleft", "extend", "insert", "put_nowait"})
SAFE_TYPES = frozenset(
    {
        "builtins.str",
        "builtins.int",
        "builtins.float",
        "builtins.bool",
        "uuid.UUID",
        "datetime.datetime",
        "datetime.date",
        "decimal.Decimal",
    }
)
CONTAINERS = frozenset(
    {
        "builtins.list",
        "builtins.dict",
        "builtins.tuple",
        "typing.List",
        "typing.Dict",
        "typing.Tuple",
    }
)
UNIONS = frozenset({"typing.Optional", "typing.Union"})
LITERALS = frozenset({"typing.Literal", "typing_extensions.Literal"})
ANNOTATED = frozenset({"typing.Annotated", "typing_extensions.Annotated"})
UNKNOWN_TYPES = frozenset({"typing.Any", "builtins.object", "typing_extensions.Any"})
EVIDENT_NAMES = frozenset({"request", "websocket", "self", "cls"})

SAFE, UNKNOWN, UNSAFE = "safe", "unknown", "unsafe"


@dataclass(frozen=True)
class Arguments:
    """What the arguments check found about a site that may migrate."""

    models: tuple[int | str, ...] = ()  # the arguments that pass a Pydantic model
    enums: tuple[int | str, ...] = ()  # those that pass an enum member (sent as its value)
    shared_path: str | None = None  # why one is a path on the web host (shared-filesystem)
    guarded: bool = False  # unverified ones: the call site checks them at run time
    # dependencies the worker re-creates: (argument, job parameter, "module:provider")
    injected: tuple[tuple[int | str, str, str], ...] = ()
    # models whose set fields travel beside them: (argument, the wrapper parameter for them)
    fields_set: tuple[tuple[int | str, str], ...] = ()


class Skip(Exception):
    """Raised inside classification only, caught right away and turned into a skipped site."""

    def __init__(self, reason: Reason, detail: str, hint: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.hint = hint  # what to do, where the reason's own hint does not fit


@dataclass
class Context:
    info: ModuleInfo
    rel: str
    index: RepoIndex
    config: Config
    reach: Reach = field(default_factory=Reach)
    resolver: Resolver = field(init=False)

    def __post_init__(self) -> None:
        self.resolver = Resolver(self.index)


def classify(candidate: Candidate, ctx: Context) -> Site:
    published = _published_after_response(candidate, ctx)
    if published is not None:
        return published
    call = candidate.call
    function = candidate.function
    status, reason, detail = Status.MIGRATED, None, ""
    end_line = candidate.statement.end_lineno or candidate.statement.lineno
    implementation: str | None = None
    signature: Signature | None = None
    task: str | None = None
    checked = Arguments()
    would_report: str | None = None
    hint: str | None = None
    try:
        task = _migrated_by(candidate, ctx)
        if task is not None:
            status = Status.ALREADY_MIGRATED
        else:
            end_line = _handle_group_end(candidate, ctx)
        inner = _inner_call(call, candidate.kind)
        implementation, signature = _implementation(inner, candidate, ctx)
        if status is Status.MIGRATED:
            silenced = suppressed(ctx.info.line(call.lineno), "CCM001")
            try:
                _check_started_at_startup(candidate, ctx)
                _check_never_ends(signature, ctx)
                _check_star_args(inner)
                if signature is not None:
                    signature = mark_fields_set(signature, ctx.resolver)
                checked = _check_arguments(inner, signature, candidate, ctx)
                _check_needs_startup(signature, ctx)
                _check_shared_memory(signature, ctx)
                shared_disk = _check_shared_disk(signature, ctx)
                if shared_disk and not checked.shared_path:
                    checked = replace(checked, shared_path=shared_disk)
                _check_importable(signature, ctx)
            except Skip:
                if not silenced:
                    raise
                would_report = "CCM002"  # what the line's noqa keeps quiet
            if silenced:
                would_report = would_report or "CCM001"
                raise Skip(Reason.SUPPRESSED, "`# noqa` on the line")
    except Skip as skip:
        status, reason, detail, hint = Status.SKIPPED, skip.reason, skip.detail, skip.hint
    except _Ignored as ignored:
        status, detail = Status.IGNORED, str(ignored)
    if implementation is None and status is not Status.MIGRATED:
        # Stopped before the implementation was looked at: name it anyway where it resolves.
        with contextlib.suppress(Skip, _Ignored):
            implementation, signature = _implementation(
                _inner_call(call, candidate.kind), candidate, ctx
            )
    if status is Status.SKIPPED and reason in (Reason.NOT_A_CALL, Reason.NOT_IMPORTABLE):
        implementation = implementation if signature else None
    if status is Status.MIGRATED and checked.injected and signature is not None:
        providers = {name: provider for _, name, provider in checked.injected}
        params = tuple(
            replace(p, provider=providers[p.name]) if p.name in providers else p
            for p in signature.params
        )
        signature = with_params(signature, params)
    statement = candidate.statement
    return Site(
        result_name=_free_name(candidate.scopes[0].node, statement.lineno, end_line, ctx.info),
        path=ctx.rel,
        module=ctx.info.module,
        line=call.lineno,
        column=call.col_offset + 1,
        stmt_line=candidate.statement.lineno,
        end_line=end_line,
        function=function.name if function else None,
        call=candidate.kind,
        call_text=_call_text(call, candidate.kind, ctx.info),
        status=status,
        reason=reason,
        detail=detail,
        implementation=implementation,
        signature=signature,
        in_async=isinstance(function, ast.AsyncFunctionDef),
        task=task,
        model_args=checked.models,
        enum_args=checked.enums,
        injected=tuple(key for key, _, _ in checked.injected),
        fields_set_args=checked.fields_set,
        shared_path=checked.shared_path,
        would_report=would_report,
        hint=hint,
        guarded=checked.guarded and status is Status.MIGRATED,
        standalone=isinstance(candidate.parents[-1], ast.Expr) and end_line == statement.end_lineno,
        asyncio_name=_asyncio_name(candidate.scopes),
        source_line=ctx.info.line(call.lineno),
    )


def _asyncio_name(scopes: tuple[Scope, ...]) -> str | None:
    """The name that reaches asyncio from the site's scopes, innermost first."""
    for scope in scopes:
        for name, binding in scope.bindings.items():
            if binding.kind == "import" and binding.target == "asyncio":
                return name
    return None


def _published_after_response(candidate: Candidate, ctx: Context) -> Site | None:
    """An `add_task` site in the after-the-response form, `add_task(publish_or_run,
    partial(task.delay, ...), ...)`: already migrated."""
    call = candidate.call
    if candidate.kind != ADD_TASK or len(call.args) < 2:
        return None
    helper = qualify(call.args[0], candidate.scopes, ctx.info) or ""
    if helper != f"{ctx.config.tasks_package}.async_runner.publish_or_run":
        return None
    publish = call.args[1]
    if not (
        isinstance(publish, ast.Call)
        and qualify(publish.func, candidate.scopes, ctx.info) == "functools.partial"
        and publish.args
    ):
        return None
    first = publish.args[0]
    guarded = _guarded_task(publish, candidate, ctx)
    if guarded is not None:
        first = ast.copy_location(ast.Attribute(guarded, "delay", ast.Load()), guarded)
    if not (isinstance(first, ast.Attribute) and first.attr == "delay"):
        return None
    task = qualify(first.value, candidate.scopes, ctx.info)
    site = classify_queued(first, candidate, ctx, task) if task else None
    if site is None:
        return None
    text = f"{ctx.info.segment(call.func)}({PUBLISH_OR_RUN}, ...)"
    return replace(site, call=ADD_TASK, call_text=text, standalone=True)


def _guarded_task(node: ast.AST, candidate: Candidate, ctx: Context) -> ast.expr | None:
    return guarded_task(node, candidate.scopes, ctx.info, ctx.config.tasks_package)


def classify_queued(
    attribute: ast.Attribute, candidate: Candidate, ctx: Context, task: str | None = None
) -> Site | None:
    """An already-migrated site without fallback, if `X.delay` queues a wrapper generated here
    (`task`: its qualified name, when the candidate's kind is not)."""
    task = task or candidate.kind
    resolved = ctx.index.resolve(task)
    if resolved is None or not isinstance(resolved[1].node, FunctionNode):
        return None
    node = resolved[1].node
    assert isinstance(node, FunctionNode)
    implementation = wrapped_implementation(node)
    if implementation is None:
        return None
    function = candidate.function
    statement = candidate.statement
    return Site(
        path=ctx.rel,
        module=ctx.info.module,
        line=statement.lineno,
        column=statement.col_offset + 1,
        stmt_line=statement.lineno,
        end_line=statement.end_lineno or statement.lineno,
        function=function.name if function else None,
        call="asyncio.create_task",
        call_text=f"{ast.unparse(attribute)}(...)",
        status=Status.ALREADY_MIGRATED,
        implementation=implementation,
        in_async=isinstance(function, ast.AsyncFunctionDef),
        task=task,
    )


def _free_name(scope: ast.AST, first: int, last: int, info: ModuleInfo) -> str:
    """`task`, unless the function uses that name outside the statements the site replaces.
    Every name it may choose spells `task`: only the lines that do are looked at."""
    used = {
        node.id if isinstance(node, ast.Name) else node.arg
        for node, _ in walk_lines(scope, word_lines(info.source, ["task"]))
        if isinstance(node, ast.Name | ast.arg) and not first <= node.lineno <= last
    }
    for name in ("task", "celery_task", "queued_task"):
        if name not in used:
            return name
    return next(f"task_{n}" for n in range(2, 10_000) if f"task_{n}" not in used)


class _Ignored(Exception):
    """Not background work: the task object is waited on, or the call is part of an expression."""


def _call_text(call: ast.Call, kind: str, info: ModuleInfo) -> str:
    func = info.segment(call.func)
    if kind == ADD_TASK:
        first = info.segment(call.args[0]) if call.args else ""
        return (
            f"{func}({first}, ...)"
            if len(call.args) + len(call.keywords) > 1
            else f"{func}({first})"
        )
    if call.args and isinstance(call.args[0], ast.Call):
        return f"{func}({info.segment(call.args[0].func)}(...))"
    return f"{func}(...)"


# --- already migrated -------------------------------------------------------------------------


def _migrated_by(candidate: Candidate, ctx: Context) -> str | None:
    """The task that a try around this fallback queues, if the site is in such an except branch."""
    parents = candidate.parents
    for i, node in enumerate(parents):
        if isinstance(node, ast.Try | ast.TryStar) and i + 1 < len(parents):
            if not isinstance(parents[i + 1], ast.ExceptHandler):
                continue
            for stmt in node.body:
                for sub in ast.walk(stmt):
                    if isinstance(sub, ast.Attribute) and sub.attr in ("delay", "apply_async"):
                        return qualify(sub.value, candidate.scopes, ctx.info) or ast.unparse(
                            sub.value
                        )
                    guarded = _guarded_task(sub, candidate, ctx)
                    if guarded is not None:
                        return qualify(guarded, candidate.scopes, ctx.info) or ast.unparse(guarded)
    return None


# --- the task handle --------------------------------------------------------------------------


def _handle_group_end(candidate: Candidate, ctx: Context) -> int:
    """Raise unless the task object is dropped or only guarded; the last line the fallback keeps."""
    call, stmt = candidate.call, candidate.statement
    parent = candidate.parents[-1]
    end = stmt.end_lineno or stmt.lineno
    if isinstance(parent, ast.Expr):
        return end
    if isinstance(parent, ast.Assign | ast.AnnAssign) and parent.value is call:
        targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
        if len(targets) == 1 and isinstance(targets[0], ast.Name):
            return _guarded_group_end(targets[0].id, candidate, ctx)
        raise Skip(Reason.HANDLE_STORED, "the task object is assigned to an attribute or an item")
    if (
        isinstance(parent, ast.Call)
        and isinstance(parent.func, ast.Attribute)
        and parent.func.attr in STORE_METHODS
        and call in parent.args
    ):
        statement_level = isinstance(candidate.parents[-2], ast.Expr)
        if (
            parent.func.attr == "add"
            and statement_level
            and _is_guard_set(parent.func.value, ctx.info)
        ):
            return end
        raise Skip(Reason.HANDLE_STORED, "the task object is kept in a collection")
    raise _Ignored("the call is part of a larger expression")


def _guarded_group_end(name: str, candidate: Candidate, ctx: Context) -> int:
    scope_node = candidate.scopes[0].node
    # Only the lines that spell the name: its uses, their parents, and the site's statement.
    lines = word_lines(ctx.info.source, [name])
    parents = parent_map(scope_node, lines)
    stmt = candidate.statement
    uses = [
        (use, _use_kind(use, parents, candidate.scopes, ctx))
        for use, _ in walk_lines(scope_node, lines)
        if isinstance(use, ast.Name) and use.id == name and not isinstance(use.ctx, ast.Store)
    ]
    # A wait anywhere decides it, wherever it is: the job is not fire-and-forget.
    if any(kind == "wait" for _, kind in uses):
        raise _Ignored(f"the task object `{name}` is awaited, gathered or cancelled")
    if any(kind == "stored" for _, kind in uses):
        raise Skip(Reason.HANDLE_STORED, f"the task object `{name}` is kept or passed on")
    guard_lines = [_statement_of(use, parents) for use, _ in uses]
    block = _block_of(stmt, parents)
    position = block.index(stmt)
    group = [stmt]
    for follower in block[position + 1 :]:
        if follower not in guard_lines:
            break
        group.append(follower)
    if any(g not in group for g in guard_lines):
        raise Skip(Reason.HANDLE_STORED, f"the task object `{name}` is used further on")
    return group[-1].end_lineno or group[-1].lineno


def _statement_of(node: ast.AST, parents: dict[int, ast.AST]) -> ast.stmt:
    while not isinstance(node, ast.stmt):
        node = parents[id(node)]
    return node


def _block_of(stmt: ast.stmt, parents: dict[int, ast.AST]) -> list[ast.stmt]:
    owner = parents.get(id(stmt))
    for name in ("body", "orelse", "finalbody", "handlers"):
        block = getattr(owner, name, None)
        if isinstance(block, list) and stmt in block:
            return block
    return [stmt]


def _use_kind(
    use: ast.Name, parents: dict[int, ast.AST], scopes: tuple[Scope, ...], ctx: Context
) -> str:
    parent = parents.get(id(use))
    if isinstance(parent, ast.Await | ast.Return | ast.Yield | ast.YieldFrom):
        return "wait"
    if isinstance(parent, ast.Attribute):
        if parent.attr in WAIT_ATTRS:
            return "wait"
        if parent.attr in GUARD_ATTRS and isinstance(parents.get(id(parent)), ast.Call):
            return "guard" if isinstance(_statement_of(parent, parents), ast.Expr) else "stored"
        return "stored"
    node: ast.AST = use
    while isinstance(parent, ast.List | ast.Tuple | ast.Set | ast.Starred):
        node, parent = parent, parents.get(id(parent))
    if isinstance(parent, ast.Call) and node is not parent.func:
        if qualify(parent.func, scopes, ctx.info) in WAITERS:
            return "wait"
        func = parent.func
        if isinstance(func, ast.Attribute) and func.attr == "add" and node is use:
            return "guard" if _is_guard_set(func.value, ctx.info) else "stored"
    return "stored"


def _is_guard_set(expr: ast.expr, info: ModuleInfo) -> bool:
    """A set that only keeps tasks alive: its other uses are `.add`, `.discard`, its creation.

    Only the statements on lines that spell the set's last name are entered: the answer is the
    same as a walk of the whole module, at the cost of the lines that use the name (a walk and a
    parent map of a big module for every site was most of `check`'s time on real apps)."""
    if not isinstance(expr, ast.Name | ast.Attribute):
        return False
    key = ast.unparse(expr)
    last = last_name(expr)
    return not any(
        isinstance(node, ast.Name | ast.Attribute)
        and last_name(node) == last
        and ast.unparse(node) == key
        and not (isinstance(parent, ast.Attribute) and parent.attr in ("add", "discard"))
        and not isinstance(node.ctx, ast.Store)
        for node, parent in walk_lines(info.tree, word_lines(info.source, [last]))
    )


# --- the implementation -----------------------------------------------------------------------


def _inner_call(call: ast.Call, kind: str) -> ast.Call:
    """The job's call: the coroutine call that create_task is given, or for `add_task(fn, *args,
    **kwargs)` the call `fn(*args, **kwargs)` that it stands for."""
    if kind == ADD_TASK:
        if not call.args or isinstance(call.args[0], ast.Starred):
            raise Skip(Reason.NOT_A_CALL, "add_task is not given the job function first")
        if isinstance(call.args[0], ast.Call):
            raise Skip(Reason.NOT_A_CALL, "add_task is given a call, not the job function")
        return ast.copy_location(ast.Call(call.args[0], call.args[1:], call.keywords), call)
    if not call.args or not isinstance(call.args[0], ast.Call):
        raise Skip(Reason.NOT_A_CALL, "the first argument is not a direct call of a coroutine")
    return call.args[0]


def _implementation(
    inner: ast.Call, candidate: Candidate, ctx: Context
) -> tuple[str | None, Signature | None]:
    func = inner.func
    if isinstance(func, ast.Name):
        found = lookup(func.id, candidate.scopes)
        if found is not None and not isinstance(found[0].node, ast.Module):
            if found[1].kind == "def":
                raise Skip(Reason.NOT_IMPORTABLE, f"`{func.id}` is a nested function")
            if found[1].kind != "import":
                raise Skip(Reason.NOT_IMPORTABLE, f"`{func.id}` is a local variable")
    elif not isinstance(func, ast.Attribute):
        raise Skip(Reason.NOT_IMPORTABLE, "the coroutine is not made by a named function")
    qualname = qualify(func, candidate.scopes, ctx.info)
    if qualname is None:
        what = ast.unparse(func)
        raise Skip(Reason.NOT_IMPORTABLE, f"`{what}` is a method or not a module-level function")
    if qualname.split(".")[0] in ("asyncio", "builtins"):
        raise Skip(Reason.NOT_IMPORTABLE, f"`{qualname}` is not an application function")
    resolved = ctx.index.resolve(qualname)
    if resolved is None:
        method = ctx.resolver.target(qualname)
        if isinstance(method, Function) and method.owner is not None:
            raise Skip(
                Reason.NOT_IMPORTABLE,
                f"`{ast.unparse(func)}` is the method `{method.display}` "
                f"({relpath(method.info.path, ctx.index.root)}), not a module-level function",
            )
        raise Skip(Reason.NOT_IMPORTABLE, f"`{qualname}` is not defined in this repository")
    info, binding = resolved
    if binding.kind != "def" or not isinstance(binding.node, FunctionNode):
        raise Skip(Reason.NOT_IMPORTABLE, f"`{qualname}` is not a module-level function")
    if not all(part.isidentifier() for part in info.module.split(".")):
        raise Skip(
            Reason.NOT_IMPORTABLE,
            f"`{info.path.name}` is not importable: its path is no module name",
        )
    signature = with_models(signature_of(info, binding.node), ctx.index)
    return signature.dotted, signature


# --- arguments --------------------------------------------------------------------------------


def _check_started_at_startup(candidate: Candidate, ctx: Context) -> None:
    key = function_key(ctx.info.module, candidate.parents)
    where = ctx.reach.started_at_startup(key) if key else None
    if where is not None:
        function = candidate.function
        name = f"`{function.name}`" if function else "the code"
        raise Skip(
            Reason.STARTUP,
            f"{name} runs when the app starts or stops, not in a request: reached from {where}, "
            "and from no route handler",
        )


def _job(signature: Signature | None, ctx: Context) -> Function | None:
    """The job's function, as the checks of what it does read it."""
    found = ctx.resolver.target(signature.dotted) if signature is not None else None
    return found if isinstance(found, Function) else None


def _check_never_ends(signature: Signature | None, ctx: Context) -> None:
    function = _job(signature, ctx)
    why = never_ends(function, ctx.resolver) if function is not None else None
    if why is not None and signature is not None:
        raise Skip(Reason.NEVER_ENDS, f"`{signature.name}` never finishes: {why}")


def _check_needs_startup(signature: Signature | None, ctx: Context) -> None:
    function = _job(signature, ctx) if ctx.reach.state else None
    if function is None or signature is None:
        return
    state = ctx.reach.state
    lookups = Lookups.of(state, ctx.index, ctx.reach.files)
    found = needs_startup(function, ctx.resolver, state, lookups)
    if found is None:
        return
    text, setter = found
    if setter.entry is not None:
        todo = (
            f'to run it in the worker, add `worker-startup = ["{setter.entry}"]` '
            "to [tool.celery-codemod]"
        )
    else:
        todo = "move that set-up into a function a worker can run, and list it in `worker-startup`"
    raise Skip(
        Reason.NEEDS_STARTUP,
        f"`{signature.name}` reads `{text}, set by {setter.what}; {todo}",
    )


def _check_shared_memory(signature: Signature | None, ctx: Context) -> None:
    """A job that shares module-level state with the web side (a status dict a handler reads,
    a connection manager a websocket handler fills) would see a copy of its own in a worker.
    Reported as `needs-startup` (state only the web process has), with a hint of its own."""
    function = _job(signature, ctx)
    if function is None:
        return
    shared = SharedMemory.of(ctx.resolver, ctx.reach.files, ctx.reach.state.code)
    why = shared.shared(function)
    if why is not None:
        raise Skip(Reason.NEEDS_STARTUP, why, MEMORY_HINT)


def _check_shared_disk(signature: Signature | None, ctx: Context) -> str | None:
    """A job that writes files the web side reads or serves (or reads what it wrote) needs the
    web host's disk: `host-path`, with a hint of its own, unless `shared-filesystem` says web
    and workers share one (then why, for the report's Next Steps)."""
    function = _job(signature, ctx)
    if function is None:
        return None
    disk = SharedDisk.of(ctx.resolver, ctx.reach.files, ctx.reach.state.code)
    why = disk.shared(function)
    if why is not None and not ctx.config.shared_filesystem:
        raise Skip(Reason.HOST_PATH, why, DISK_HINT)
    return why


def _check_importable(signature: Signature | None, ctx: Context) -> None:
    """The job's module must import from the project root, as the worker imports it."""
    info = ctx.index.module(signature.module) if signature is not None else None
    why = sub_root_import(info, ctx.index.root) if info is not None else None
    if why is not None:
        raise Skip(Reason.NOT_IMPORTABLE, why, IMPORT_HINT)


def _check_star_args(inner: ast.Call) -> None:
    if any(isinstance(a, ast.Starred) for a in inner.args) or any(
        k.arg is None for k in inner.keywords
    ):
        raise Skip(Reason.STAR_ARGS, "the call passes *args or **kwargs")


def _check_arguments(
    inner: ast.Call, signature: Signature | None, candidate: Candidate, ctx: Context
) -> Arguments:
    """Raise unless every argument can cross the broker as JSON and be read by a worker; the
    arguments that pass a Pydantic v2 model (sent as its JSON form), and why one is a path on
    the web host when `shared-filesystem` lets it through; whether the call site must check
    at run time that the arguments survive the serializer (`unverified-args = "guard"`)."""
    assert signature is not None
    impl_info = ctx.index.module(signature.module)
    positional = [p for p in signature.params if p.kind in ("posonly", "normal")]
    vararg = next((p for p in signature.params if p.kind == "vararg"), None)
    kwarg = next((p for p in signature.params if p.kind == "kwarg"), None)
    by_name = {p.name: p for p in signature.params if p.kind in ("normal", "kwonly")}
    pairs: list[tuple[int | str, ast.expr, Param | None]] = [
        (i, arg, positional[i] if i < len(positional) else vararg)
        for i, arg in enumerate(inner.args)
    ]
    pairs += [(k.arg or "", k.value, by_name.get(k.arg or "", kwarg)) for k in inner.keywords]
    where = host_path(
        [expr for _, expr, _ in pairs],
        candidate.function,
        lambda e: qualify(e, candidate.scopes, ctx.info),
    )
    if where is not None and not ctx.config.shared_filesystem:
        raise Skip(Reason.HOST_PATH, where)
    unverified: list[str] = []
    models: list[int | str] = []
    fields_set: list[tuple[int | str, str]] = []
    enums: list[int | str] = []
    injected: list[tuple[int | str, str, str]] = []
    for key, expr, param in pairs:
        if param is not None and param.model is not None:
            problem = round_trip_problem(param.model, ctx.index)
            if problem:
                raise Skip(
                    Reason.UNSERIALIZABLE_ARGS,
                    f"parameter `{param.name}` is a Pydantic model {problem}",
                )
            if param.fields_set:
                fields_set.append((key, fields_set_name(param, signature.params)))
            models.append(key)  # validated back into the model by the wrapper
            continue
        if param is not None and param.enum is not None:
            if _is_literal(expr):
                continue  # the wrapper makes the member of it
            if _is_member(expr, param.enum, candidate, ctx):
                enums.append(key)  # sent as its `.value`, made a member again by the wrapper
                continue
            # a value of another type (a plain str given to an enum parameter): `.value` would
            # fail in the handler, so it is judged by what it is, like any argument
        if param is not None and param.annotation and impl_info is not None:
            model = annotation_model(param.annotation, impl_info, ctx.index)
            if model is not None and model[1] == V1:
                raise Skip(
                    Reason.UNSERIALIZABLE_ARGS,
                    f"parameter `{param.name}: {param.annotation}` is a Pydantic v1-style "
                    "model, which has no `model_dump`",
                )
        impl_safety = UNKNOWN
        if param is not None and param.annotation and impl_info is not None:
            # `*args: int` annotates each element, so the same test holds for varargs.
            annotation = parse_expression(param.annotation)
            if annotation is not None:
                impl_safety = annotation_safety(annotation, impl_info, ctx.index)
        dependency = _argument_dependency(expr, candidate, ctx)
        data = dependency is not None and _is_data(dependency, ctx)
        if dependency is not None and not data:
            provider = _recreated(expr, dependency, param, ctx)
            assert param is not None
            injected.append((key, param.name, provider))
            continue
        evident = _evidently_unsafe(expr, candidate, ctx, data)
        if evident:
            raise Skip(Reason.UNSERIALIZABLE_ARGS, f"argument `{ast.unparse(expr)}` {evident}")
        if impl_safety == UNSAFE:
            assert param is not None
            raise Skip(
                Reason.UNSERIALIZABLE_ARGS,
                f"parameter `{param.name}: {param.annotation}` is not a JSON-safe type",
            )
        if impl_safety == SAFE or _is_literal(expr) or _locally_safe(expr, candidate, ctx):
            continue
        unverified.append(ast.unparse(expr))
    if unverified and ctx.config.unverified_mode == "skip":
        names = ", ".join(f"`{u}`" for u in unverified)
        raise Skip(Reason.UNVERIFIED_ARGS, f"cannot prove {names} JSON-serialisable")
    guarded = bool(unverified) and ctx.config.unverified_mode == "guard"
    return Arguments(
        tuple(models), tuple(enums), where, guarded, tuple(injected), tuple(fields_set)
    )


def _is_literal(expr: ast.expr) -> bool:
    if isinstance(expr, ast.JoinedStr):
        return True
    try:
        ast.literal_eval(expr)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return not any(isinstance(n, ast.Set) for n in ast.walk(expr)) and not any(
        isinstance(n, ast.Constant) and isinstance(n.value, bytes | complex) for n in ast.walk(expr)
    )


def _local_annotation(
    expr: ast.expr, candidate: Candidate
) -> tuple[ast.expr | None, ast.arg | None]:
    """The annotation of a name where the enclosing function defines it, and its parameter."""
    if not isinstance(expr, ast.Name):
        return None, None
    found = lookup(expr.id, candidate.scopes)
    if found is None:
        return None, None
    scope, binding = found
    node = binding.node
    if binding.kind == "param" and isinstance(scope.node, FunctionNode):
        args = scope.node.args
        for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs):
            if arg.arg == expr.id:
                return arg.annotation, arg
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.annotation, None
    return None, None


def _evidently_unsafe(expr: ast.expr, candidate: Candidate, ctx: Context, data: bool) -> str:
    """Why an argument is evidently no data ("" when it is not evidently so); `data`: it is a
    dependency whose value is data."""
    if isinstance(expr, ast.Lambda) or _names_code(expr, candidate, ctx):
        return "is a function or a class, not data"
    if not isinstance(expr, ast.Name):
        return ""
    if expr.id in EVIDENT_NAMES:
        return "is a request, connection or object, not data"
    if data:
        return ""  # a dependency whose value is data travels like any other argument
    annotation, _ = _local_annotation(expr, candidate)
    if annotation is not None and annotation_safety(annotation, ctx.info, ctx.index) == UNSAFE:
        return f"is annotated `{ast.unparse(annotation)}`, not a JSON-safe type"
    return ""


def _names_code(expr: ast.expr, candidate: Candidate, ctx: Context) -> bool:
    """Whether an argument names a function or a class: one defined where the call is, or one
    of the repository's (khoj passes `configure_content` itself to a helper that runs it)."""
    if isinstance(expr, ast.Name):
        found = lookup(expr.id, candidate.scopes)
        if found is not None and found[1].kind in ("def", "class"):
            return True
        if found is not None and found[1].kind != "import":
            return False
    elif not isinstance(expr, ast.Attribute):
        return False
    qualname = qualify(expr, candidate.scopes, ctx.info)
    resolved = ctx.index.resolve(qualname) if qualname else None
    return resolved is not None and resolved[1].kind in ("def", "class")


def _argument_dependency(expr: ast.expr, candidate: Candidate, ctx: Context) -> Dependency | None:
    """The FastAPI dependency an argument is: a parameter of the handler declared so."""
    _, arg = _local_annotation(expr, candidate)
    function = candidate.scopes[0].node
    if arg is None or not isinstance(function, FunctionNode):
        return None
    return dependency_of(function, arg, ctx.info, ctx.index)


def _recreated(expr: ast.expr, dependency: Dependency, param: Param | None, ctx: Context) -> str:
    """The provider ("module:function") a worker runs to re-create a dependency argument whose
    value is no data (a session, a client), as FastAPI did for the request. Raises when it
    cannot be re-created, saying why and what to do."""
    name = f"argument `{ast.unparse(expr)}` is the FastAPI dependency `{dependency.provider}`"
    if param is None or param.kind not in ("normal", "kwonly"):
        raise Skip(Reason.UNSERIALIZABLE_ARGS, f"{name}, which the job takes through *args")
    spec = provider_spec(dependency, ctx.index)
    if spec is not None and spec in ctx.config.dependencies:
        return ctx.config.dependencies[spec]
    why = needs_the_request(spec, ctx.index) if spec else "it is not a function of the repository"
    if why is None:
        assert spec is not None
        return spec
    given = spec or f"module:{dependency.provider}"
    mapping = f'"{given}" = "yourapp.worker:{dependency.provider}"'
    raise Skip(
        Reason.UNSERIALIZABLE_ARGS,
        f"{name}, which a worker cannot re-create ({why}); give the worker a provider of its "
        f"own in [tool.celery-codemod] dependencies = {{ {mapping} }}",
    )


def _is_data(dependency: Dependency, ctx: Context) -> bool:
    """Whether a dependency's value is data (a JSON-safe type, a Pydantic v2 model)."""
    value = dependency.value_type
    if value is None:
        return False
    model = annotation_model(value, dependency.info, ctx.index)
    return annotation_safety(value, dependency.info, ctx.index) == SAFE or (
        model is not None and model[1] != V1
    )


def _is_member(expr: ast.expr, enum: str, candidate: Candidate, ctx: Context) -> bool:
    """Whether an argument is evidently a member of the enum class: `Enum.MEMBER`, or a name
    annotated with the class where it is defined (a handler's parameter)."""
    if isinstance(expr, ast.Attribute):
        owner = qualify(expr.value, candidate.scopes, ctx.info)
    else:
        annotation, _ = _local_annotation(expr, candidate)
        owner = ctx.info.qualify_expr(annotation) if annotation is not None else None
    canonical = ctx.resolver.canonical
    return owner is not None and canonical(owner) == canonical(enum)


def _locally_safe(expr: ast.expr, candidate: Candidate, ctx: Context) -> bool:
    annotation, _ = _local_annotation(expr, candidate)
    return annotation is not None and annotation_safety(annotation, ctx.info, ctx.index) == SAFE


# --- annotations ------------------------------------------------------------------------------


def _combine(*values: str) -> str:
    if UNSAFE in values:
        return UNSAFE
    return UNKNOWN if UNKNOWN in values else SAFE


def annotation_safety(
    expr: ast.expr, info: ModuleInfo, index: RepoIndex | None = None, depth: int = 0
) -> str:
    """SAFE if the annotation is a JSON-safe type, UNSAFE if evidently not, else UNKNOWN. With
    the repository's `index`, type aliases are followed to what they alias, across modules."""
    if isinstance(expr, ast.Constant):
        if expr.value is None:
            return SAFE
        if isinstance(expr.value, str):
            inner = parse_expression(expr.value)
            return UNKNOWN if inner is None else annotation_safety(inner, info, index, depth)
        return UNKNOWN
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.BitOr):
        left = annotation_safety(expr.left, info, index, depth)
        return _combine(left, annotation_safety(expr.right, info, index, depth))
    if isinstance(expr, ast.Subscript):
        return _subscript_safety(expr, info, index, depth)
    qualname = info.qualify_expr(expr)
    if qualname in SAFE_TYPES:
        return SAFE
    if qualname is None or qualname in CONTAINERS or qualname in UNKNOWN_TYPES:
        return UNKNOWN
    if qualname.startswith(("typing.", "typing_extensions.", "collections.abc.")):
        return UNKNOWN
    if index is not None:
        if depth >= MAX_ALIAS_DEPTH:
            return UNKNOWN
        found = alias_of(qualname, index)
        if isinstance(found, NotAnAlias):
            return UNKNOWN
        if found is not None:
            return annotation_safety(found[0], found[1], index, depth + 1)
    if qualname.startswith(f"{info.module}.") and info.bindings.get(expr_name(expr)) is not None:
        binding = info.bindings[expr_name(expr)]
        if binding.kind == "assign":
            return UNKNOWN  # a type alias or a TypeVar: not followed
    return UNSAFE


def expr_name(expr: ast.expr) -> str:
    return expr.id if isinstance(expr, ast.Name) else ""


def _subscript_safety(
    expr: ast.Subscript, info: ModuleInfo, index: RepoIndex | None, depth: int
) -> str:
    base = info.qualify_expr(expr.value)
    items = list(expr.slice.elts) if isinstance(expr.slice, ast.Tuple) else [expr.slice]
    if base in LITERALS:
        return SAFE
    if base in ANNOTATED:
        return annotation_safety(items[0], info, index, depth)
    if base in UNIONS or base in CONTAINERS:
        parts = [i for i in items if not (isinstance(i, ast.Constant) and i.value is Ellipsis)]
        return _combine(*(annotation_safety(i, info, index, depth) for i in parts))
    return UNKNOWN if base is None or base.startswith(("typing.", "collections.abc.")) else UNSAFE
