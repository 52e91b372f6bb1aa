"""The call-site rewriter: each site's statement -> delay-with-fallback, laid out as black would."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
from libcst.metadata import PositionProvider

from codemod.emit.after_response import (
    _SIMPLE_ARGS,
    _SPACES,
    _TRIPLE_QUOTES,
    _after_response_code,
    _response_task,
    after_response,
)
from codemod.emit.cst_text import _code, _walk
from codemod.emit.edits import ModuleNames, SiteEdit
from codemod.emit.generate import fits, format_code
from codemod.emit.job_args import _job_args, _sent
from codemod.models import ADD_TASK, BACKGROUND_TASK, GUARDED_DELAY, RUN_IN_EXECUTOR, SUBMIT, THREAD

WARNING = "Celery broker unavailable (%s); falling back to asyncio"


class _SiteRewriter(cst.CSTTransformer):
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(
        self,
        edits: list[SiteEdit],
        names: ModuleNames,
        fallback: bool,
        line_length: int,
        indent: str,
        lines: dict[int, tuple[int, int]] | None = None,
    ) -> None:
        super().__init__()
        self.by_line = {e.site.stmt_line: e for e in edits}
        self.lines = lines  # id(statement) -> (first, last line); None: use PositionProvider
        self.names = names
        self.fallback = fallback
        self.line_length = line_length
        self.indent_width = len(indent.expandtabs(8))
        self.tabs = "\t" in indent
        self.depth = 0
        self.done: set[int] = set()

    def on_visit(self, node: cst.CSTNode) -> bool:
        # Descend only towards the call sites: rebuilding every node of the module is costly.
        if self.lines is not None:
            if not isinstance(node, _TOWARDS_BLOCKS):
                return False
            span = self.lines.get(id(node))
            if span is not None and not any(span[0] <= line <= span[1] for line in self.by_line):
                return False
        return super().on_visit(node)

    def _line(self, statement: cst.BaseStatement) -> int:
        if self.lines is not None:
            return self.lines[id(statement)][0]
        return self.get_metadata(PositionProvider, statement).start.line

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        self.depth += 1

    def leave_IndentedBlock(
        self, original: cst.IndentedBlock, updated: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        self.depth -= 1
        return updated.with_changes(
            body=self._rewrite_body(original.body, updated.body, self.depth + 1)
        )

    def leave_Module(self, original: cst.Module, updated: cst.Module) -> cst.Module:
        return updated.with_changes(body=self._rewrite_body(original.body, updated.body, 0))

    def _rewrite_body(
        self,
        original: Sequence[cst.BaseStatement],
        updated: Sequence[cst.BaseStatement],
        depth: int,
    ) -> list[cst.BaseStatement]:
        out: list[cst.BaseStatement] = []
        i = 0
        while i < len(original):
            line = self._line(original[i])
            edit = self.by_line.get(line)
            if edit is None or not isinstance(original[i], cst.SimpleStatementLine):
                out.append(updated[i])
                i += 1
                continue
            group = [updated[i]]
            i += 1
            while i < len(original):
                if self._line(original[i]) > edit.site.end_line:
                    break
                group.append(updated[i])
                i += 1
            out.append(self._try_statement(edit, group, depth))
            self.done.add(line)
        return out

    def _after_response(
        self, edit: SiteEdit, first: cst.SimpleStatementLine, call: cst.Call, depth: int
    ) -> cst.BaseStatement:
        """`add_task(publish_or_run, partial(task.delay, ...), partial(job, ...))`: the task is
        published where the original job would have started, after the response."""
        width = self.line_length - depth * self.indent_width
        formatted = _after_response_code(self, edit, call, width)
        if self.tabs and not _TRIPLE_QUOTES.search(formatted):
            formatted = _SPACES.sub(lambda m: "\t" * (len(m.group(0)) // 4), formatted)
        statement = cst.parse_module(formatted).body[0]
        assert isinstance(statement, cst.SimpleStatementLine)
        return statement.with_changes(
            leading_lines=first.leading_lines, trailing_whitespace=first.trailing_whitespace
        )

    def _try_statement(
        self, edit: SiteEdit, group: list[cst.BaseStatement], depth: int
    ) -> cst.BaseStatement:
        first = group[0]
        assert isinstance(first, cst.SimpleStatementLine)
        if edit.site.call == BACKGROUND_TASK:
            return _response_task(self, edit, first, depth)
        call = after_response(edit, first) if edit.site.after_response else None
        if call is not None:
            return self._after_response(edit, first, call, depth)
        job_args = _job_args(first, edit.site)
        job_args = _sent(job_args, edit.site)
        args = "".join(_code(a) for a in job_args).strip().rstrip(",")
        if any(isinstance(n, cst.Comment) for a in job_args for n in _walk(a)):
            args += "\n"  # a comment ends its line: the closing parenthesis goes below it
        task = edit.wrapper.name
        result = edit.site.result_name
        logger = self.names.logger or "logger"
        delay = f"{GUARDED_DELAY}, {task}" if edit.site.guarded else f"{task}.delay"
        if edit.site.in_async:
            aio = edit.site.asyncio_name or self.names.asyncio or "asyncio"
            publish = f"await {aio}.to_thread({delay}{', ' + args if args else ''})"
        elif edit.site.guarded:
            publish = f"{GUARDED_DELAY}({task}{', ' + args if args else ''})"
        else:
            publish = f"{task}.delay({args})"
        if not self.fallback:
            code = f"{publish}\n"
        else:
            code = (
                f"try:\n    {result} = {publish}\n"
                f'    {logger}.info("Queued Celery task %s", {result}.id)\n'
                f"except {task}.OperationalError as exc:\n"
                f"    {logger}.warning({_string(_warning(edit.site.call))}, exc)\n"
                "    pass\n"
            )
        width = self.line_length - depth * self.indent_width
        if edit.site.in_async:
            code = "async def _():\n" + "".join("    " + line + "\n" for line in code.splitlines())
            width += 4
        formatted = code if _black_already(code, args, width) else format_code(code, width)
        if self.tabs and not _TRIPLE_QUOTES.search(formatted):
            # A tab-indented module: continuation lines indent with tabs too (black uses spaces).
            formatted = _SPACES.sub(lambda m: "\t" * (len(m.group(0)) // 4), formatted)
        statement: cst.BaseStatement = cst.parse_module(formatted).body[0]
        if edit.site.in_async:
            assert isinstance(statement, cst.FunctionDef)
            assert isinstance(statement.body, cst.IndentedBlock)
            statement = statement.body.body[0]
        leading = first.leading_lines
        group[0] = first.with_changes(leading_lines=[])
        if isinstance(statement, cst.Try):
            handler = statement.handlers[0]
            assert isinstance(handler.body, cst.IndentedBlock)
            body = [*handler.body.body[:-1], *group]
            handler = handler.with_changes(body=handler.body.with_changes(body=body))
            return statement.with_changes(handlers=[handler], leading_lines=leading)
        assert isinstance(statement, cst.SimpleStatementLine)
        return statement.with_changes(leading_lines=leading)


# The nodes between a module and the indented blocks that hold statements.
_TOWARDS_BLOCKS = (
    cst.Module,
    cst.IndentedBlock,
    cst.BaseCompoundStatement,
    cst.Else,
    cst.ExceptHandler,
    cst.ExceptStarHandler,
    cst.Finally,
    cst.MatchCase,
)


def _black_already(code: str, args: str, width: int) -> bool:
    """Whether black would leave the generated statement as it is: its template is black's
    style, so only the call's arguments (the user's text) or a line too long can make it change
    anything. Saves a black run per call site in the common case."""
    return _SIMPLE_ARGS.fullmatch(args) is not None and fits(code, width)


def _string(text: str) -> str:
    """A string literal as black writes it (double quotes)."""
    return f'"{text}"' if '"' not in text and "\\" not in text and "'" not in text else repr(text)


# What the fallback runs the job with, by the kind of call, in the warning it logs.
_FALLBACKS = {
    ADD_TASK: "BackgroundTasks",
    THREAD: "a thread",
    RUN_IN_EXECUTOR: "the executor",
    SUBMIT: "the executor",
}


def _warning(call: str) -> str:
    return WARNING.replace("asyncio", _FALLBACKS.get(call, "asyncio"))
