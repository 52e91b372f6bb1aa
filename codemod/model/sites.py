"""A module's background call sites, as the module alone shows them (`summary.SiteFact`): what
the call is, whether its task object is kept, what its arguments are where they are built.
Whether the job may move, which depends on the rest of the program, is analysis/classify.py's."""

from __future__ import annotations

import ast

from codemod.model.detect import (
    LOOP,
    Candidate,
    Scope,
    find_sites,
    guarded_task,
    lookup,
    parent_map,
    qualify,
)
from codemod.model.hostpath import HostPaths
from codemod.model.index import ModuleInfo
from codemod.model.noqa import suppressed
from codemod.model.summary import ArgFact, QueuedFact, SiteFact, Sites
from codemod.model.syntax import (
    FunctionNode,
    is_main_guard,
    last_name,
    name_chain,
    walk_lines,
    word_lines,
)
from codemod.models import (
    ADD_TASK,
    AFTER_RESPONSE,
    BACKGROUND_TASK,
    RUN_IN_EXECUTOR,
    SUBMIT,
    THREAD,
)

WAITERS = frozenset(
    f"asyncio.{n}" for n in ("gather", "wait", "wait_for", "shield", "as_completed", "timeout")
)
WAIT_ATTRS = frozenset(
    {"cancel", "result", "exception", "done", "cancelled", "remove_done_callback", "get_coro"}
)
GUARD_ATTRS = frozenset({"add_done_callback", "set_name", "get_name"})
STORE_METHODS = frozenset({"add", "append", "appendleft", "extend", "insert", "put_nowait"})
EVIDENT_NAMES = frozenset({"request", "websocket", "self", "cls"})
PUBLISH_OR_RUN = ".async_runner.publish_or_run"
# Names a rewritten site may use, which a parameter or a local of its function may shadow.
REWRITE_NAMES = ("partial", "functools")
THREAD_ATTRS = frozenset({"start", "setDaemon", "setName"})  # what a started thread may get
THREAD_FIELDS = frozenset({"daemon", "name"})  # and what may be set on it before its start
# Responses whose background task runs when the body has been streamed: cleanup, not a job.
STREAMING = frozenset({"StreamingResponse", "FileResponse", "EventSourceResponse"})
TO_THREAD = frozenset({"asyncio.to_thread", "asyncio.threads.to_thread"})
PARTIAL = "functools.partial"
# Where the job's function and its arguments are in a site's call (`job_form`):
JOB_FORMS = {
    "call": "create_task(job(*args, **kwargs))",
    "to_thread": "create_task(asyncio.to_thread(job, *args, **kwargs))",
    "fn": "add_task(job, *args, **kwargs), submit(...), BackgroundTask(...)",
    "fn_partial": "submit(partial(job, *args, **kwargs), *more)",
    "executor": "run_in_executor(executor, job, *args)",
    "executor_partial": "run_in_executor(executor, partial(job, *args, **kwargs), *more)",
    "thread": "Thread(target=job, args=(...), kwargs={...})",
    "thread_run": "Thread(target=asyncio.run, args=(job(*args, **kwargs),))",
}


def site_facts(info: ModuleInfo) -> Sites:
    """The module's call sites and queued tasks; a module too deeply nested to walk says so."""
    try:
        found, queued = find_sites(info)
        sites = tuple(_Site(candidate, info).fact() for candidate in found)
        queues = tuple(_queued(a, c, runner, info) for a, c, runner in queued)
    except RecursionError:
        return Sites((), (), "too deeply nested to analyse")
    return Sites(sites, queues, None)


def _queued(
    attribute: ast.Attribute, candidate: Candidate, runner: str | None, info: ModuleInfo
) -> QueuedFact:
    statement = candidate.statement
    function = candidate.function
    return QueuedFact(
        task=candidate.kind,
        runner=runner,
        line=statement.lineno,
        column=statement.col_offset + 1,
        stmt_end=statement.end_lineno or statement.lineno,
        function=function.name if function else None,
        in_async=isinstance(function, ast.AsyncFunctionDef),
        text=f"{ast.unparse(attribute)}(...)",
    )


class _Stop(Exception):
    """What the task handle shows, found deep in the walk: ("stored" | "ignored", why)."""

    def __init__(self, kind: str, why: str) -> None:
        super().__init__(why)
        self.kind = kind
        self.why = why


class _Site:
    def __init__(self, candidate: Candidate, info: ModuleInfo) -> None:
        self.candidate = candidate
        self.info = info

    def fact(self) -> SiteFact:
        candidate, info = self.candidate, self.info
        call = candidate.call
        statement = candidate.statement
        function = candidate.function
        inner, not_a_call, job_form = self._inner_call()
        impl, impl_skip, impl_text = self._implementation(inner) if inner else (None, None, "")
        end = statement.end_lineno or statement.lineno
        try:
            handle: tuple[str, int | str] = ("end", self._handle_group_end())
        except _Stop as stop:
            handle = (stop.kind, stop.why)
        return SiteFact(
            kind=candidate.kind,
            line=call.lineno,
            column=call.col_offset + 1,
            stmt_line=statement.lineno,
            stmt_end=end,
            function=function.name if function else None,
            in_async=isinstance(function, ast.AsyncFunctionDef),
            scope_key=function_key(info.module, candidate.parents),
            call_text=self._call_text(),
            source_line=info.line(call.lineno),
            standalone=isinstance(candidate.parents[-1], ast.Expr),
            asyncio_name=_asyncio_name(candidate.scopes),
            result_name=self._free_name(statement.lineno, handle),
            migrated_by=self._migrated_by(),
            published=self._published(),
            handle=handle,
            not_a_call=not_a_call,
            impl_skip=impl_skip,
            impl=impl,
            impl_text=impl_text,
            star_args=inner is not None
            and (
                any(isinstance(a, ast.Starred) for a in inner.args)
                or any(k.arg is None for k in inner.keywords)
            ),
            args=self._arguments(inner) if inner is not None else (),
            suppressed=suppressed(info.line(call.lineno), "CCM001"),
            job_form=job_form,
            starter=info.segment(call.func),
            receiver=self._imported_executor(),
            in_main=any(is_main_guard(p) for p in candidate.parents[1:2]),
            shadowed=tuple(
                name for name in REWRITE_NAMES if lookup(name, candidate.scopes[:-1]) is not None
            ),
        )

    def _qualify(self, expr: ast.expr) -> str | None:
        return qualify(expr, self.candidate.scopes, self.info)

    # --- what the call is ------------------------------------------------------------------

    def _call_text(self) -> str:
        call, info, kind = self.candidate.call, self.info, self.candidate.kind
        func = info.segment(call.func)
        if kind == THREAD:
            target = next((k.value for k in call.keywords if k.arg == "target"), None)
            shown = f"target={info.segment(target)}" if target is not None else ""
            more = len(call.args) + len(call.keywords) > (target is not None)
            return f"{func}({shown}{', ...' if more and shown else '...' if more else ''})"
        if kind in (ADD_TASK, SUBMIT, BACKGROUND_TASK, RUN_IN_EXECUTOR):
            shown_count = 2 if kind == RUN_IN_EXECUTOR else 1
            shown = ", ".join(info.segment(a) for a in call.args[:shown_count])
            more = len(call.args) + len(call.keywords) > shown_count
            return f"{func}({shown}, ...)" if more else f"{func}({shown})"
        if call.args and isinstance(call.args[0], ast.Call):
            return f"{func}({info.segment(call.args[0].func)}(...))"
        return f"{func}(...)"

    def _inner_call(self) -> tuple[ast.Call | None, str | None, str]:
        """The job's call, as the call it stands for (`job(*args, **kwargs)`; see JOB_FORMS),
        or why there is none; and the job's form."""
        call, kind = self.candidate.call, self.candidate.kind
        if kind == THREAD:
            return self._thread_call()
        if kind in (ADD_TASK, SUBMIT, BACKGROUND_TASK, RUN_IN_EXECUTOR):
            skip = 1 if kind == RUN_IN_EXECUTOR else 0
            form = "executor" if kind == RUN_IN_EXECUTOR else "fn"
            name = self.info.segment(call.func).rpartition(".")[2]
            if len(call.args) <= skip or isinstance(call.args[skip], ast.Starred):
                return None, f"{name} is not given the job function", form
            job = call.args[skip]
            rest = call.args[skip + 1 :]
            if (
                isinstance(job, ast.Call)
                and kind != ADD_TASK
                and self._qualify(job.func) == PARTIAL
                and job.args
            ):
                inner = ast.Call(job.args[0], [*job.args[1:], *rest], job.keywords)
                if call.keywords:  # submit(partial(f, a), b, k=v): both keep keywords
                    inner.keywords = [*job.keywords, *call.keywords]
                return ast.copy_location(inner, call), None, f"{form}_partial"
            if isinstance(job, ast.Call):
                return None, f"{name} is given a call, not the job function", form
            inner = ast.Call(job, rest, call.keywords)
            return ast.copy_location(inner, call), None, form
        if not call.args or not isinstance(call.args[0], ast.Call):
            return None, "the first argument is not a direct call of a coroutine", "call"
        first = call.args[0]
        if self._qualify(first.func) in TO_THREAD:
            if not first.args or isinstance(first.args[0], ast.Starred):
                return None, "to_thread is not given the job function", "to_thread"
            inner = ast.Call(first.args[0], first.args[1:], first.keywords)
            return ast.copy_location(inner, first), None, "to_thread"
        return first, None, "call"

    def _thread_call(self) -> tuple[ast.Call | None, str | None, str]:
        """`Thread(target=job, args=(a, b), kwargs={"k": v})` stands for `job(a, b, k=v)`; an
        `args=` that is no tuple written out stands for `*args` (and `kwargs=` for `**kwargs`)."""
        call = self.candidate.call
        if call.args or any(k.arg is None for k in call.keywords):
            return (
                None,
                "the thread is not given `target=`, `args=`, `kwargs=` by keyword",
                "thread",
            )
        given = {k.arg: k.value for k in call.keywords}
        target = given.get("target")
        if target is None:
            return None, "the thread is given no target function", "thread"
        args: list[ast.expr] = []
        keywords: list[ast.keyword] = []
        value = given.get("args")
        if isinstance(value, ast.Tuple | ast.List):
            args = list(value.elts)
        elif value is not None:
            args = [ast.copy_location(ast.Starred(value, ast.Load()), value)]
        value = given.get("kwargs")
        if isinstance(value, ast.Dict) and all(
            isinstance(k, ast.Constant) and isinstance(k.value, str) and k.value.isidentifier()
            for k in value.keys
        ):
            keywords = [
                ast.keyword(k.value, v)  # type: ignore[union-attr]
                for k, v in zip(value.keys, value.values, strict=True)
            ]
        elif (
            isinstance(value, ast.Call)
            and self._qualify(value.func) == "builtins.dict"
            and not value.args
        ):
            keywords = list(value.keywords)
        elif value is not None:
            keywords = [ast.keyword(None, value)]
        if self._qualify(target) == "asyncio.run":
            if len(args) == 1 and isinstance(args[0], ast.Call) and not keywords:
                return args[0], None, "thread_run"
            return None, "the thread runs `asyncio.run` of no direct coroutine call", "thread_run"
        return ast.copy_location(ast.Call(target, args, keywords), call), None, "thread"

    def _implementation(self, inner: ast.Call) -> tuple[str | None, str | None, str]:
        """(the job's qualified name, why it is evidently no importable function, its text)."""
        func = inner.func
        text = ast.unparse(func)
        if isinstance(func, ast.Name):
            found = lookup(func.id, self.candidate.scopes)
            if found is not None and not isinstance(found[0].node, ast.Module):
                node = found[1].node
                if found[1].kind == "def":
                    # `@copy_current_request_context def job(): ...`: said as what wraps it
                    decorators = getattr(node, "decorator_list", [])
                    wrapped = f"{ast.unparse(decorators[-1])}({func.id})" if decorators else text
                    return None, f"`{func.id}` is a nested function", wrapped
                if found[1].kind != "import":
                    value = node.value if isinstance(node, ast.Assign) else None
                    wrapped = ast.unparse(value) if isinstance(value, ast.Call) else text
                    return None, f"`{func.id}` is a local variable", wrapped
        elif not isinstance(func, ast.Attribute):
            return None, "the job is not a named function", text
        qualname = self._qualify(func)
        if qualname is None or qualname == LOOP:
            return None, f"`{text}` is a method or not a module-level function", text
        return qualname, None, text

    # --- already migrated ------------------------------------------------------------------

    def _migrated_by(self) -> tuple[tuple[str, str], ...]:
        """The tasks that a try around this fallback queues (the site is in its except
        branch): (the runner's guarded_delay or "", the task)."""
        parents = self.candidate.parents
        found: list[tuple[str, str]] = []
        for i, node in enumerate(parents):
            if not isinstance(node, ast.Try | ast.TryStar) or i + 1 >= len(parents):
                continue
            if not isinstance(parents[i + 1], ast.ExceptHandler):
                continue
            for stmt in node.body:
                for sub in ast.walk(stmt):
                    if isinstance(sub, ast.Attribute) and sub.attr in ("delay", "apply_async"):
                        found.append(("", self._qualify(sub.value) or ast.unparse(sub.value)))
                    guarded = guarded_task(sub, self.candidate.scopes, self.info)
                    if guarded is not None:
                        runner, task = guarded
                        found.append((runner, self._qualify(task) or ast.unparse(task)))
            if found:
                return tuple(found)
        return ()

    def _published(self) -> tuple[str, str | None, str | None, str | None] | None:
        """`add_task(publish_or_run, partial(task.delay, ...), ...)`: (the helper, the guarded
        runner and its task, or the task `.delay` is taken of), all qualified."""
        call = self.candidate.call
        if self.candidate.kind not in AFTER_RESPONSE or len(call.args) < 2:
            return None
        helper = self._qualify(call.args[0]) or ""
        if not helper.endswith(PUBLISH_OR_RUN):
            return None
        publish = call.args[1]
        if not (
            isinstance(publish, ast.Call)
            and self._qualify(publish.func) == "functools.partial"
            and publish.args
        ):
            return None
        guarded = guarded_task(publish, self.candidate.scopes, self.info)
        runner = guarded_name = None
        if guarded is not None:
            runner, task_expr = guarded
            guarded_name = self._qualify(task_expr)
        first = publish.args[0]
        delayed = None
        if isinstance(first, ast.Attribute) and first.attr == "delay":
            delayed = self._qualify(first.value)
        return helper, runner, guarded_name, delayed

    # --- the task handle -------------------------------------------------------------------

    def _handle_group_end(self) -> int:
        """The last line the fallback keeps; raises _Stop unless the task object is dropped or
        only guarded."""
        candidate = self.candidate
        call, stmt = candidate.call, candidate.statement
        parent = candidate.parents[-1]
        end = stmt.end_lineno or stmt.lineno
        if candidate.kind == BACKGROUND_TASK:
            return self._response_task_end(end)
        if candidate.kind == ADD_TASK:
            self._not_streamed_tasks()
        if candidate.kind == SUBMIT:
            receiver = call.func.value if isinstance(call.func, ast.Attribute) else None
            if receiver is not None and self._executor(receiver) == "with":
                raise _Stop("ignored", "the executor's `with` block waits for the job at its end")
        if candidate.kind == THREAD and isinstance(parent, ast.Attribute):
            started = candidate.parents[-2]
            if parent.attr != "start" or not isinstance(started, ast.Call):
                raise _Stop("ignored", f"the thread is not started here (`.{parent.attr}`)")
            if isinstance(candidate.parents[-3], ast.Expr):
                return end
            raise _Stop("ignored", "the call is part of a larger expression")
        if isinstance(parent, ast.Expr):
            if candidate.kind == THREAD:
                raise _Stop("ignored", "the thread is not started")
            return end
        if isinstance(parent, ast.Assign | ast.AnnAssign) and parent.value is call:
            targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
            if len(targets) == 1 and isinstance(targets[0], ast.Name):
                return self._guarded_group_end(targets[0].id)
            raise _Stop("stored", "the task object is assigned to an attribute or an item")
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
                and _is_guard_set(parent.func.value, self.info)
            ):
                return end
            raise _Stop("stored", "the task object is kept in a collection")
        raise _Stop("ignored", "the call is part of a larger expression")

    def _guarded_group_end(self, name: str) -> int:
        candidate, info = self.candidate, self.info
        scope_node = candidate.scopes[0].node
        # Only the lines that spell the name: its uses, their parents, and the site's statement.
        lines = word_lines(info.source, [name])
        parents = parent_map(scope_node, lines)
        stmt = candidate.statement
        uses = [
            (use, self._use_kind(use, parents))
            for use, _ in walk_lines(scope_node, lines)
            if isinstance(use, ast.Name) and use.id == name and not isinstance(use.ctx, ast.Store)
        ]
        # A wait anywhere decides it, wherever it is: the job is not fire-and-forget.
        if any(kind == "wait" for _, kind in uses):
            raise _Stop("ignored", f"the task object `{name}` is awaited, gathered or cancelled")
        if any(kind == "stored" for _, kind in uses):
            raise _Stop("stored", f"the task object `{name}` is kept or passed on")
        if self.candidate.kind == THREAD and not any(kind == "start" for _, kind in uses):
            raise _Stop("ignored", f"the thread `{name}` is not started here")
        guard_lines = [_statement_of(use, parents) for use, _ in uses]
        block = _block_of(stmt, parents)
        position = block.index(stmt)
        group = [stmt]
        for follower in block[position + 1 :]:
            if follower not in guard_lines:
                break
            group.append(follower)
        if any(g not in group for g in guard_lines):
            raise _Stop("stored", f"the task object `{name}` is used further on")
        return group[-1].end_lineno or group[-1].lineno

    def _use_kind(self, use: ast.Name, parents: dict[int, ast.AST]) -> str:
        parent = parents.get(id(use))
        if isinstance(parent, ast.Await | ast.Return | ast.Yield | ast.YieldFrom):
            return "wait"
        if self.candidate.kind == THREAD and isinstance(parent, ast.Attribute):
            return _thread_use(parent, parents)
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
            if self._qualify(parent.func) in WAITERS:
                return "wait"
            func = parent.func
            if isinstance(func, ast.Attribute) and func.attr == "add" and node is use:
                return "guard" if _is_guard_set(func.value, self.info) else "stored"
        return "stored"

    def _imported_executor(self) -> str | None:
        func = self.candidate.call.func
        if self.candidate.kind != SUBMIT or not isinstance(func, ast.Attribute):
            return None
        if self._executor(func.value) != "import":
            return None
        return self._qualify(func.value)

    def _executor(self, receiver: ast.expr) -> str | None:
        from codemod.model.detect import executor_of

        return executor_of(receiver, self.candidate.scopes, self.info)

    def _response_task_end(self, end: int) -> int:
        """A `BackgroundTask` runs after the response it is given to (as `background=`, or
        assigned to a response's `background`), unless that response streams: then it runs when
        the stream ends, as its cleanup. A name it is bound to must reach a response so."""
        candidate = self.candidate
        parent = candidate.parents[-1]
        if isinstance(parent, ast.keyword) and parent.arg == "background":
            _not_streamed(candidate.parents[-2])
            return end
        if isinstance(parent, ast.Assign) and len(parent.targets) == 1:
            target = parent.targets[0]
            if isinstance(target, ast.Attribute) and target.attr == "background":
                return end
            if isinstance(target, ast.Name):
                return self._response_task_name(target.id, end)
        raise _Stop("ignored", "the BackgroundTask is not given to a response")

    def _not_streamed_tasks(self) -> None:
        """A `BackgroundTasks()` made here and given to a streaming response: its tasks are the
        response's cleanup (raises _Stop)."""
        func = self.candidate.call.func
        receiver = func.value if isinstance(func, ast.Attribute) else None
        if not isinstance(receiver, ast.Name):
            return
        found = lookup(receiver.id, self.candidate.scopes)
        if found is None or found[1].kind != "assign":
            return
        scope_node = found[0].node
        lines = word_lines(self.info.source, [receiver.id])
        parents = parent_map(scope_node, lines)
        for use, _ in walk_lines(scope_node, lines):
            if isinstance(use, ast.Name) and use.id == receiver.id:
                parent = parents.get(id(use))
                if isinstance(parent, ast.keyword) and parent.arg == "background":
                    _not_streamed(parents.get(id(parent)))

    def _response_task_name(self, name: str, end: int) -> int:
        scope_node = self.candidate.scopes[0].node
        lines = word_lines(self.info.source, [name])
        parents = parent_map(scope_node, lines)
        given = False
        for use, _ in walk_lines(scope_node, lines):
            if not (isinstance(use, ast.Name) and use.id == name):
                continue
            if isinstance(use.ctx, ast.Store):
                continue
            parent = parents.get(id(use))
            if isinstance(parent, ast.keyword) and parent.arg == "background":
                _not_streamed(parents.get(id(parent)))
                given = True
            elif isinstance(parent, ast.Assign) and any(
                isinstance(t, ast.Attribute) and t.attr == "background" for t in parent.targets
            ):
                given = True
            elif isinstance(parent, ast.Call | ast.Await) and getattr(parent, "func", None) is use:
                raise _Stop("ignored", f"the BackgroundTask `{name}` is run here")
            else:
                raise _Stop("stored", f"the BackgroundTask `{name}` is kept or passed on")
        if not given:
            raise _Stop("ignored", f"the BackgroundTask `{name}` is not given to a response")
        return end

    def _free_name(self, first: int, handle: tuple[str, int | str]) -> str:
        """`task`, unless the function uses that name outside the statements the site replaces.
        Every name it may choose spells `task`: only the lines that do are looked at."""
        last = handle[1] if handle[0] == "end" and isinstance(handle[1], int) else None
        if last is None:
            stmt = self.candidate.statement
            last = stmt.end_lineno or stmt.lineno
        scope = self.candidate.scopes[0].node
        used = {
            node.id if isinstance(node, ast.Name) else node.arg
            for node, _ in walk_lines(scope, word_lines(self.info.source, ["task"]))
            if isinstance(node, ast.Name | ast.arg) and not first <= node.lineno <= last
        }
        for name in ("task", "celery_task", "queued_task"):
            if name not in used:
                return name
        return next(f"task_{n}" for n in range(2, 10_000) if f"task_{n}" not in used)

    # --- the arguments ---------------------------------------------------------------------

    def _arguments(self, inner: ast.Call) -> tuple[ArgFact, ...]:
        pairs: list[tuple[int | str, ast.expr]] = list(enumerate(inner.args))
        pairs += [(k.arg or "", k.value) for k in inner.keywords]
        function = self.candidate.function
        paths = HostPaths(function, self._qualify) if function is not None and pairs else None
        out: list[ArgFact] = []
        for key, expr in pairs:
            if isinstance(expr, ast.Starred):
                expr = expr.value
            annotation, arg = self._local_annotation(expr)
            depends = None
            if arg is not None and isinstance(function, FunctionNode):
                depends = _depends_of(function, arg)
            host = paths.why(expr) if paths is not None else None
            out.append(
                ArgFact(
                    key=key,
                    text=ast.unparse(expr),
                    is_name=isinstance(expr, ast.Name),
                    literal=_is_literal(expr),
                    is_lambda=isinstance(expr, ast.Lambda),
                    code=self._names_code(expr),
                    qualname=self._qualify(expr)
                    if isinstance(expr, ast.Name | ast.Attribute)
                    else None,
                    owner=self._owner(expr, annotation),
                    evident=isinstance(expr, ast.Name) and expr.id in EVIDENT_NAMES,
                    annotation=ast.unparse(annotation) if annotation is not None else None,
                    param=arg is not None,
                    depends=depends,
                    host=host,
                    built=self._built_as(expr),
                )
            )
        return tuple(out)

    def _built_as(self, expr: ast.expr) -> tuple[str, ...] | None:
        """What the call site makes evident of an argument's type: how it is built (at the
        call, or where the handler binds its name once), or the field it iterates."""
        if not isinstance(expr, ast.Name):
            return _built(expr)
        found = lookup(expr.id, self.candidate.scopes)
        function = self.candidate.function
        if found is None or found[1].kind != "assign" or function is None:
            return None
        if _stores(function, expr.id) != 1:
            return None  # bound more than once: which value reaches the call is not evident
        node = found[1].node
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            return _built(node.value)
        if (
            isinstance(node, ast.For | ast.AsyncFor)
            and isinstance(node.target, ast.Name)
            and node.target.id == expr.id
        ):
            return self._element(node.iter)
        return None

    def _element(self, iterable: ast.expr) -> tuple[str, ...] | None:
        """`for x in p.field`: the annotation of the handler's parameter `p`, and the field."""
        chain = name_chain(iterable)
        if chain is None or len(chain) < 2:
            return None
        found = lookup(chain[0], self.candidate.scopes)
        if found is None or found[1].kind != "param" or not isinstance(found[0].node, FunctionNode):
            return None
        args = found[0].node.args
        arg = next(
            (a for a in (*args.posonlyargs, *args.args, *args.kwonlyargs) if a.arg == chain[0]),
            None,
        )
        if arg is None or arg.annotation is None:
            return None
        return "element", ast.unparse(arg.annotation), ".".join(chain[1:]), ".".join(chain)

    def _local_annotation(self, expr: ast.expr) -> tuple[ast.expr | None, ast.arg | None]:
        """The annotation of a name where the enclosing function defines it, and its parameter."""
        if not isinstance(expr, ast.Name):
            return None, None
        found = lookup(expr.id, self.candidate.scopes)
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

    def _names_code(self, expr: ast.expr) -> bool | None:
        """Whether an argument names a function or a class defined where the call is (True),
        names a local value (False); None: it depends on what its qualified name is."""
        if isinstance(expr, ast.Name):
            found = lookup(expr.id, self.candidate.scopes)
            if found is not None and found[1].kind in ("def", "class"):
                return True
            if found is not None and found[1].kind != "import":
                return False
            return None
        return None if isinstance(expr, ast.Attribute) else False

    def _owner(self, expr: ast.expr, annotation: ast.expr | None) -> str | None:
        """`E.X`: what `E` names; a name: the class its local annotation names (for an enum
        member passed on)."""
        if isinstance(expr, ast.Attribute):
            return self._qualify(expr.value)
        if annotation is not None:
            return self.info.qualify_expr(annotation)
        return None


# Methods of a pathlib path that give a path.
_PATH_METHODS = frozenset(
    {"joinpath", "with_name", "with_suffix", "with_stem", "resolve", "absolute", "expanduser"}
)
_MODEL_BUILDERS = frozenset(
    {"model_validate", "model_validate_json", "parse_obj", "model_construct"}
)


def _built(value: ast.expr) -> tuple[str, ...] | None:
    """("class", "E") when a value is evidently built as an `E`: `E[name]`, `E(...)`,
    `E.model_validate(...)` (whether `E` is a class is the program's to tell)."""
    if isinstance(value, ast.Await):
        value = value.value
    if isinstance(value, ast.BinOp) and isinstance(value.op, ast.Div):
        value = value.left  # `base / name`: a path when `base` is one
    while (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Attribute)
        and value.func.attr in _PATH_METHODS
    ):
        value = value.func.value  # `base.joinpath(name)`: likewise
    if isinstance(value, ast.Name | ast.Attribute):
        chain = name_chain(value)
        return ("value", ".".join(chain)) if chain else None  # what the name is assigned
    if isinstance(value, ast.Subscript):
        chain = name_chain(value.value)
        return ("class", ".".join(chain)) if chain else None
    if isinstance(value, ast.Call):
        func = value.func
        if isinstance(func, ast.Attribute) and func.attr in _MODEL_BUILDERS:
            chain = name_chain(func.value)
        else:
            chain = name_chain(func)
        return ("class", ".".join(chain)) if chain else None
    return None


def _stores(function: FunctionNode, name: str) -> int:
    """How many times a function's own body binds `name` (nested functions not counted)."""
    from codemod.model.nodes import body_nodes

    return sum(
        1
        for node in body_nodes(function)
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Store)
    )


def _depends_of(function: FunctionNode, arg: ast.arg) -> str | None:
    """The provider (as spelled) of a parameter whose default is `Depends(...)`."""
    from codemod.model.signature import DEPENDS, _defaults, _provider

    for param, default, _ in _defaults(function):
        if param is arg and isinstance(default, ast.Call) and last_name(default.func) in DEPENDS:
            return _provider(default)
    return None


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


def _asyncio_name(scopes: tuple[Scope, ...]) -> str | None:
    """The name that reaches asyncio from the site's scopes, innermost first."""
    for scope in scopes:
        for name, binding in scope.bindings.items():
            if binding.kind == "import" and binding.target == "asyncio":
                return name
    return None


def _thread_use(attribute: ast.Attribute, parents: dict[int, ast.AST]) -> str:
    """What a use of a kept thread object is: "start" (`t.start()`), "guard" (its daemon flag
    or name set on the way), "wait" (`t.join()`), "stored" (anything else)."""
    statement = _statement_of(attribute, parents)
    called = parents.get(id(attribute))
    at_statement = isinstance(called, ast.Call) and parents.get(id(called)) is statement
    if attribute.attr == "join":
        return "wait"
    if attribute.attr in THREAD_ATTRS and at_statement and isinstance(statement, ast.Expr):
        return "start" if attribute.attr == "start" else "guard"
    if (
        attribute.attr in THREAD_FIELDS
        and isinstance(attribute.ctx, ast.Store)
        and isinstance(statement, ast.Assign)
    ):
        return "guard"
    return "stored"


def _not_streamed(response: ast.AST | None) -> None:
    """Raise _Stop when the call a BackgroundTask is given to is a streaming response."""
    if isinstance(response, ast.Call):
        func = response.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in STREAMING:
            raise _Stop(
                "ignored",
                f"the task runs when the {name} has sent its body: the response's cleanup",
            )


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


def _is_guard_set(expr: ast.expr, info: ModuleInfo) -> bool:
    """A set that only keeps tasks alive: its other uses are `.add`, `.discard`, its creation.

    Only the statements on lines that spell the set's last name are entered: the answer is the
    same as a walk of the whole module, at the cost of the lines that use the name."""
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


def function_key(module: str, parents: tuple[ast.AST, ...]) -> str | None:
    """The key of the innermost function among a node's parents (None: module level)."""
    names: list[str] = []
    last_function = 0
    for parent in parents:
        if isinstance(parent, FunctionNode | ast.ClassDef):
            names.append(parent.name)
            if isinstance(parent, FunctionNode):
                last_function = len(names)
    return ".".join((module, *names[:last_function])) if last_function else None
