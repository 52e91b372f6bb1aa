"""One background call site -> migratable / already-migrated / ignored / skipped(reason): a list
of named checks, each a question to the analyses of this package."""

from __future__ import annotations

import contextlib
from dataclasses import replace

from codemod.analysis import jobs
from codemod.analysis.arguments import Arguments, check_arguments
from codemod.analysis.context import Context
from codemod.analysis.fieldsset import mark_fields_set, reads_fields_set
from codemod.analysis.request_context import copied_context
from codemod.analysis.schemas import with_models, with_params
from codemod.analysis.signatures import signature_of
from codemod.analysis.skip import Ignored, Skip
from codemod.model.resolve import Func
from codemod.model.summary import QueuedFact, SiteFact
from codemod.models import (
    GUARDED_DELAY,
    PUBLISH_OR_RUN,
    SUBMIT,
    Reason,
    Signature,
    Site,
    Status,
)


def classify(fact: SiteFact, ctx: Context) -> Site:
    ctx.notes = []
    published = _published_after_response(fact, ctx)
    if published is not None:
        return published
    status, reason, detail = Status.MIGRATED, None, ""
    end_line = fact.stmt_end
    implementation: str | None = None
    signature: Signature | None = None
    task: str | None = None
    checked = Arguments()
    would_report: str | None = None
    hint: str | None = None
    try:
        task = _migrated_by(fact, ctx)
        if task is not None:
            status = Status.ALREADY_MIGRATED
        else:
            end_line = _handle_end(fact)
        if fact.in_main:
            raise Skip(
                Reason.STARTUP,
                f'the call is under `if __name__ == "__main__":` of `{ctx.summary.module}`: it '
                "runs when the process starts, not in a request",
            )
        if fact.function is None:
            raise Skip(
                Reason.STARTUP,
                f"the call runs when `{ctx.summary.module}` is imported, not in a request",
            )
        if fact.not_a_call:
            raise Skip(Reason.NOT_A_CALL, fact.not_a_call)
        implementation, signature = _implementation(fact, ctx)
        if status is Status.MIGRATED:
            silenced = fact.suppressed
            try:
                checked, signature = _checks(fact, signature, ctx)
            except Skip:
                if not silenced:
                    raise
                would_report = "CCM002"  # what the line's noqa keeps quiet
            if silenced:
                would_report = would_report or "CCM001"
                raise Skip(Reason.SUPPRESSED, "`# noqa` on the line")
    except Skip as skip:
        status, reason, detail, hint = Status.SKIPPED, skip.reason, skip.detail, skip.hint
    except Ignored as ignored:
        status, detail = Status.IGNORED, str(ignored)
    if implementation is None and status is not Status.MIGRATED and not fact.not_a_call:
        # Stopped before the implementation was looked at: name it anyway where it resolves.
        with contextlib.suppress(Skip, Ignored):
            implementation, signature = _implementation(fact, ctx)
    if status is Status.SKIPPED and reason in (Reason.NOT_A_CALL, Reason.NOT_IMPORTABLE):
        implementation = implementation if signature else None
    if status is Status.MIGRATED and signature is not None:
        signature = _converted(signature, checked, ctx)
    return Site(
        result_name=fact.result_name,
        path=ctx.rel,
        module=ctx.summary.module,
        line=fact.line,
        column=fact.column,
        stmt_line=fact.stmt_line,
        end_line=end_line,
        function=fact.function,
        call=fact.kind,
        call_text=fact.call_text,
        status=status,
        reason=reason,
        detail=detail,
        implementation=implementation,
        signature=signature,
        in_async=fact.in_async,
        task=task,
        model_args=checked.models,
        enum_args=checked.enums,
        path_args=checked.paths,
        injected=tuple(key for key, _, _ in checked.injected),
        fields_set_args=checked.fields_set,
        shared_path=checked.shared_path,
        would_report=would_report,
        hint=hint,
        guarded=checked.guarded and status is Status.MIGRATED,
        standalone=fact.standalone and end_line == fact.stmt_end,
        job_form=fact.job_form,
        starter=fact.starter,
        shadowed=fact.shadowed,
        asyncio_name=fact.asyncio_name,
        source_line=fact.source_line,
        notes=tuple(ctx.notes),
    )


def _checks(
    fact: SiteFact, signature: Signature | None, ctx: Context
) -> tuple[Arguments, Signature | None]:
    """Every check of a site that would migrate, in order: the first that fails decides."""
    _check_runs(fact, signature)
    jobs.check_started_at_startup(fact, ctx)
    jobs.check_shared_helper(fact, ctx)
    jobs.check_never_ends(signature, ctx)
    if fact.star_args:
        raise Skip(Reason.STAR_ARGS, "the call passes *args or **kwargs")
    if signature is not None:
        signature = mark_fields_set(signature, ctx.resolver)
    assert signature is not None
    _check_fits(fact, signature)
    checked = check_arguments(fact, signature, ctx)
    parts = jobs.parts(signature, checked.injected, ctx)
    jobs.check_host_admin(parts, ctx)
    jobs.check_spawns_processes(parts, signature, ctx)
    jobs.check_needs_request(parts, ctx)
    jobs.check_needs_startup(parts, ctx)
    jobs.check_shared_memory(parts, ctx, fact.scope_key)
    shared_disk = jobs.check_shared_disk(parts, ctx, fact, signature)
    if shared_disk and not checked.shared_path:
        checked = replace(checked, shared_path=shared_disk)
    jobs.check_importable(signature, ctx)
    return checked, signature


def _converted(signature: Signature, checked: Arguments, ctx: Context) -> Signature:
    """The signature as this site's wrapper declares it: the dependencies the worker re-creates
    (no parameters of the wrapper), and the enums and models the call site shows it passes to
    parameters without an annotation (sent as their value and JSON form, rebuilt)."""
    if not checked.injected and not checked.evident:
        return signature
    providers = {name: provider for _, name, provider in checked.injected}
    shown = {name: (kind, cls, values) for name, kind, cls, values in checked.evident}
    function = jobs.job(signature, ctx)
    params = []
    for p in signature.params:
        if p.name in providers:
            p = replace(p, provider=providers[p.name])
        if p.name in shown:
            kind, cls, values = shown[p.name]
            if kind in ("enum", "path"):
                p = replace(p, enum=cls, enum_value=values, path=kind == "path")
            else:
                sets = function is not None and reads_fields_set(function, p.name, ctx.resolver)
                p = replace(p, model=cls, fields_set=bool(sets))
        params.append(p)
    return with_params(signature, tuple(params))


# --- already migrated -------------------------------------------------------------------------


def _migrated_by(fact: SiteFact, ctx: Context) -> str | None:
    """The task that a try around this fallback queues, if the site is in such an except branch."""
    guard = f"{ctx.program_root_runner}.{GUARDED_DELAY}"
    for runner, task in fact.migrated_by:
        if not runner or ctx.rebased(runner) == guard:
            return ctx.rebased(task)
    return None


def _published_after_response(fact: SiteFact, ctx: Context) -> Site | None:
    """An `add_task` site in the after-the-response form, `add_task(publish_or_run,
    partial(task.delay, ...), ...)`: already migrated."""
    if fact.published is None:
        return None
    helper, runner, guarded, delayed = fact.published
    if ctx.rebased(helper) != f"{ctx.program_root_runner}.{PUBLISH_OR_RUN}":
        return None
    task = delayed
    if runner is not None and ctx.rebased(runner) == f"{ctx.program_root_runner}.{GUARDED_DELAY}":
        task = guarded
    task = ctx.rebased(task)
    if task is None:
        return None
    site = _queued_site(task, fact.stmt_line, fact.column, fact.stmt_end, fact, ctx)
    if site is None:
        return None
    func = fact.call_text.partition("(")[0]
    return replace(
        site,
        call=fact.kind,
        call_text=f"{func}({PUBLISH_OR_RUN}, ...)",
        standalone=True,
        job_form=fact.job_form,
        starter=fact.starter,
        shadowed=fact.shadowed,
    )


def classify_queued(fact: QueuedFact, ctx: Context) -> Site | None:
    """An already-migrated site without fallback, if `X.delay` queues a wrapper generated here."""
    task = ctx.rebased(fact.task)
    if task is None or not task.startswith(f"{ctx.config.tasks_package}."):
        return None
    guard = f"{ctx.program_root_runner}.{GUARDED_DELAY}"
    if fact.runner is not None and ctx.rebased(fact.runner) != guard:
        return None
    site = _queued_site(task, fact.line, fact.column, fact.stmt_end, None, ctx)
    if site is None:
        return None
    return replace(site, function=fact.function, in_async=fact.in_async, call_text=fact.text)


def _queued_site(
    task: str, line: int, column: int, end: int, fact: SiteFact | None, ctx: Context
) -> Site | None:
    resolved = ctx.resolver.resolve(task)
    if resolved is None or resolved[1].kind != "def":
        return None
    function = ctx.resolver.func(resolved[0], (resolved[1].target,))
    implementation = function.fn.wraps if function is not None else None
    if implementation is None:
        return None
    return Site(
        path=ctx.rel,
        module=ctx.summary.module,
        line=line,
        column=column,
        stmt_line=line,
        end_line=end,
        function=fact.function if fact else None,
        call="asyncio.create_task",
        call_text="",
        status=Status.ALREADY_MIGRATED,
        implementation=implementation,
        in_async=fact.in_async if fact else False,
        task=task,
    )


# --- the task handle --------------------------------------------------------------------------


def _handle_end(fact: SiteFact) -> int:
    """The last line the fallback keeps; raises unless the task object is dropped or only
    guarded."""
    kind, value = fact.handle
    if kind == "end":
        assert isinstance(value, int)
        return value
    if kind == "stored":
        raise Skip(Reason.HANDLE_STORED, str(value))
    raise Ignored(str(value))


# --- the implementation -----------------------------------------------------------------------


def _check_fits(fact: SiteFact, signature: Signature) -> None:
    """A call that does not fit the job's parameters fails as it is (in a thread, silently);
    `.delay` would raise it in the request instead: the bug is the app's to fix first."""
    params = signature.params
    positional = [p for p in params if p.kind in ("posonly", "normal")]
    named = {p.name for p in params if p.kind in ("normal", "kwonly")}
    takes_more = any(p.kind == "vararg" for p in params)
    takes_any = any(p.kind == "kwarg" for p in params)
    given = [a.key for a in fact.args if isinstance(a.key, int)]
    why = None
    if len(given) > len(positional) and not takes_more:
        why = f"it passes {len(given)} arguments by position, and `{signature.name}` takes "
        why += f"{len(positional)}"
    for arg in fact.args:
        if isinstance(arg.key, str) and arg.key not in named and not takes_any:
            why = f"`{arg.key}=` is no parameter of `{signature.name}`"
    if why is not None:
        raise Skip(
            Reason.NOT_A_CALL,
            f"the call does not fit the job: {why}, so it fails in the web process as it is",
            hint="fix the call (or the job's parameters) first; a task would raise it in the "
            "request instead",
        )


# The forms that call the job in a thread: a coroutine function's coroutine is made, never run.
_IN_A_THREAD = frozenset({"thread", "to_thread", "executor", "executor_partial"})


def _check_runs(fact: SiteFact, signature: Signature | None) -> None:
    """A thread, `to_thread` or an executor given a coroutine function only creates its
    coroutine: the job never ran, and a task that runs it would change what the app does."""
    threaded = fact.job_form in _IN_A_THREAD or (
        fact.kind == SUBMIT and fact.job_form.startswith("fn")
    )
    if threaded and signature is not None and signature.is_async:
        raise Skip(
            Reason.NOT_A_CALL,
            f"`{signature.name}` is a coroutine function: the thread makes its coroutine and "
            "never runs it",
        )


def _implementation(fact: SiteFact, ctx: Context) -> tuple[str | None, Signature | None]:
    if fact.impl_skip:
        copied = copied_context(fact.impl_text, ctx.summary, ctx.resolver)
        if copied is not None:
            raise Skip(Reason.NEEDS_REQUEST, copied)
        raise Skip(Reason.NOT_IMPORTABLE, fact.impl_skip)
    qualname = ctx.rebased(fact.impl)
    assert qualname is not None
    if qualname.split(".")[0] in ("asyncio", "builtins"):
        raise Skip(Reason.NOT_IMPORTABLE, f"`{qualname}` is not an application function")
    resolver = ctx.resolver
    resolved = resolver.resolve(qualname)
    if resolved is None:
        method = resolver.target(qualname)
        if isinstance(method, Func) and method.fn.owner is not None:
            raise Skip(
                Reason.NOT_IMPORTABLE,
                f"`{fact.impl_text}` is the method `{method.display}` "
                f"({resolver.program.rel(method.module)}), not a module-level function",
            )
        raise Skip(Reason.NOT_IMPORTABLE, f"`{qualname}` is not defined in this repository")
    summary, binding = resolved
    function = resolver.func(summary, (binding.target,)) if binding.kind == "def" else None
    if function is None:
        raise Skip(Reason.NOT_IMPORTABLE, f"`{qualname}` is not a module-level function")
    if not all(part.isidentifier() for part in summary.module.split(".")):
        name = resolver.program.rel(summary.module).rpartition("/")[2]
        raise Skip(Reason.NOT_IMPORTABLE, f"`{name}` is not importable: its path is no module name")
    signature = with_models(signature_of(function, resolver), resolver)
    return signature.dotted, signature
