"""A module's background call sites, as the module alone shows them (`summary.SiteFact`): what
the call is, whether its task object is kept, what its arguments are where they are built.
Whether the job may move, which depends on the rest of the program, is analysis/classify.py's."""

from __future__ import annotations

import ast

from codemod.model.arg_facts import ArgFacts
from codemod.model.detect import LOOP, Candidate, Scope, find_sites, guarded_task, lookup, qualify
from codemod.model.index import ModuleInfo
from codemod.model.noqa import suppressed
from codemod.model.summary import QueuedFact, SiteFact, Sites
from codemod.model.syntax import FunctionNode, is_main_guard
from codemod.model.task_handle import TaskHandle, _Stop
from codemod.models import (
    ADD_TASK,
    AFTER_RESPONSE,
    BACKGROUND_TASK,
    RUN_IN_EXECUTOR,
    SUBMIT,
    THREAD,
)

PUBLISH_OR_RUN = ".async_runner.publish_or_run"
# Names a rewritten site may use, which a parameter or a local of its function may shadow.
REWRITE_NAMES = ("partial", "functools")
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


class _Site(TaskHandle, ArgFacts):
    """One call site's fact: what the call is, here; what becomes of its task object,
    task_handle.TaskHandle's; what its arguments are, arg_facts.ArgFacts'."""

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


def _asyncio_name(scopes: tuple[Scope, ...]) -> str | None:
    """The name that reaches asyncio from the site's scopes, innermost first."""
    for scope in scopes:
        for name, binding in scope.bindings.items():
            if binding.kind == "import" and binding.target == "asyncio":
                return name
    return None


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
