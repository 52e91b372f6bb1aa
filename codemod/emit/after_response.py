"""The after-the-response forms: an `add_task` statement, a response's `BackgroundTask` in place."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

import libcst as cst

from codemod.emit.cst_text import _code, _walk
from codemod.emit.edits import ModuleNames, SiteEdit
from codemod.emit.generate import fits, format_code
from codemod.emit.job_args import _sent, starter_call
from codemod.models import ADD_TASK, GUARDED_DELAY, PUBLISH_OR_RUN

_SPACES = re.compile(r"^(?:    )+", re.M)
_TRIPLE_QUOTES = re.compile("\"{3}|'{3}")


class _Rewriter(Protocol):
    """What the forms read of the call-site rewriter (call_sites._SiteRewriter)."""

    names: ModuleNames
    fallback: bool
    line_length: int
    indent_width: int
    tabs: bool


def after_response(edit: SiteEdit, statement: cst.BaseStatement) -> cst.Call | None:
    """The `add_task(...)` call of a site that gets the after-the-response form: an `add_task`
    site written as a statement of its own (`background_tasks.add_task(job, ...)`)."""
    if edit.site.call != ADD_TASK or not isinstance(statement, cst.SimpleStatementLine):
        return None
    if len(statement.body) != 1 or not isinstance(statement.body[0], cst.Expr):
        return None
    call = statement.body[0].value
    if (
        isinstance(call, cst.Call)
        and isinstance(call.func, cst.Attribute)
        and call.func.attr.value == "add_task"
        and call.args
        and not call.args[0].star
        and call.args[0].keyword is None
    ):
        return call
    return None


def _after_response_code(self: _Rewriter, edit: SiteEdit, call: cst.Call, width: int) -> str:
    job, args = call.args[0], call.args[1:]
    partial = self.names.partial or "partial"
    sent = _args_text(_sent(args, edit.site))
    kept = _args_text(args)
    simple = _SIMPLE_ARGS.fullmatch(sent) is not None and _SIMPLE_ARGS.fullmatch(kept) is not None
    task = edit.wrapper.name
    delay = f"{GUARDED_DELAY}, {task}" if edit.site.guarded else f"{task}.delay"
    parts = [PUBLISH_OR_RUN, f"{partial}({delay}{', ' + sent if sent else ''})"]
    if self.fallback:
        parts.append(f"{partial}({_code(job.value)}{', ' + kept if kept else ''})")
    code = f"{_code(call.func)}({', '.join(parts)})\n"
    return code if simple and fits(code, width) else format_code(code, width)


def _response_task(
    self: _Rewriter, edit: SiteEdit, statement: cst.BaseStatement, depth: int
) -> cst.BaseStatement:
    """`BackgroundTask(job, ...)` given to a response -> `BackgroundTask(publish_or_run,
    partial(task.delay, ...), partial(job, ...))`, in place. A statement that black would leave
    as it is is laid out by black again; any other keeps its layout, the new call spliced in."""
    assert isinstance(statement, cst.SimpleStatementLine)
    call = starter_call(statement, edit.site)
    width = self.line_length - depth * self.indent_width
    alone = cst.Module(body=[statement.with_changes(leading_lines=[])])
    black_already = _formatted(alone.code, width) == alone.code
    # Spliced in, its lines below the first are indented from the statement's own indentation.
    code = _after_response_code(self, edit, call, width if black_already else width - 4)
    new = cst.parse_expression(code.strip())
    assert isinstance(new, cst.Call)
    new = new.with_changes(lpar=call.lpar, rpar=call.rpar)

    class _Replace(cst.CSTTransformer):
        def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
            return new if original is call else updated

    replaced = statement.visit(_Replace())
    assert isinstance(replaced, cst.SimpleStatementLine)
    if not black_already:
        return replaced
    text = cst.Module(body=[replaced.with_changes(leading_lines=[])]).code
    formatted = _formatted(text, width)
    if self.tabs and not _TRIPLE_QUOTES.search(formatted):
        formatted = _SPACES.sub(lambda m: "\t" * (len(m.group(0)) // 4), formatted)
    result = cst.parse_module(formatted).body[0]
    return result.with_changes(leading_lines=statement.leading_lines)


def _formatted(code: str, width: int) -> str:
    """`code` as black writes it at `width` columns; "" where black cannot parse it alone (a
    `return` outside a function is fine for black; `await` or `yield` too)."""
    try:
        return format_code(code, width)
    except Exception:  # black's own errors: the statement is then kept as it is laid out
        return ""


def _args_text(args: Sequence[cst.Arg]) -> str:
    text = "".join(_code(a) for a in args).strip().rstrip(",")
    if any(isinstance(n, cst.Comment) for a in args for n in _walk(a)):
        text += "\n"  # a comment ends its line: the closing parenthesis goes below it
    return text


# Arguments as black writes them: names, dotted names and `keyword=name`, joined by ", ".
_NAME = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_SIMPLE_ARGS = re.compile(rf"(?:(?:{_NAME}=)?{_NAME}(?:, (?:{_NAME}=)?{_NAME})*)?")
