"""Call sites -> delay-with-fallback, plus the task imports and the logger, with LibCST."""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from codemod.emit.generate import fits, format_code
from codemod.model.syntax import FunctionNode, first_line, split_lines
from codemod.models import (
    ADD_TASK,
    BACKGROUND_TASK,
    FIELDS_SET_OF,
    GUARDED_DELAY,
    PUBLISH_OR_RUN,
    RUN_IN_EXECUTOR,
    SUBMIT,
    THREAD,
    Site,
    Wrapper,
)

STDLIB = frozenset(sys.stdlib_module_names)
_SPACES = re.compile(r"^(?:    )+", re.M)
_TRIPLE_QUOTES = re.compile("\"{3}|'{3}")
WARNING = "Celery broker unavailable (%s); falling back to asyncio"


@dataclass(frozen=True)
class SiteEdit:
    site: Site
    wrapper: Wrapper

    @property
    def in_place(self) -> bool:
        """The call is rewritten where it is (a response's task), not its statement."""
        return self.site.call == BACKGROUND_TASK


@dataclass(frozen=True)
class ModuleNames:
    """What the module already calls asyncio and its logger (None: to be added)."""

    asyncio: str | None
    logger: str | None
    has_logging: str | None  # the name `logging` is bound to, if imported
    # What `functools.partial` is called here: its name if imported, "functools.partial" if
    # the name `partial` means something else (then `import functools` is added); None: to add.
    partial: str | None = None
    has_functools: bool = False  # `import functools` is there


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


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


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


def _after_response_code(self: _SiteRewriter, edit: SiteEdit, call: cst.Call, width: int) -> str:
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
    self: _SiteRewriter, edit: SiteEdit, statement: cst.BaseStatement, depth: int
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


def statement_lines(module: cst.Module, tree: ast.Module) -> dict[int, tuple[int, int]] | None:
    """id(statement) -> (first line, last line) for every statement of the module, read off the
    `ast` of the same source: the start lines that PositionProvider gives, at a fraction of its
    cost. None when the two trees do not line up (then PositionProvider is used)."""
    lines: dict[int, tuple[int, int]] = {}

    def body(statements: Sequence[cst.BaseStatement], nodes: list[ast.stmt]) -> bool:
        i = 0
        for statement in statements:
            count = len(statement.body) if isinstance(statement, cst.SimpleStatementLine) else 1
            group = nodes[i : i + count]
            if len(group) != count:
                return False
            lines[id(statement)] = (group[0].lineno, group[-1].end_lineno or group[-1].lineno)
            i += count
            if isinstance(statement, cst.BaseCompoundStatement) and not compound(
                statement, group[0]
            ):
                return False
        return i == len(nodes)

    def block(suite: cst.BaseSuite, nodes: list[ast.stmt]) -> bool:
        return body(suite.body, nodes) if isinstance(suite, cst.IndentedBlock) else True

    def orelse(node: cst.Else | None, nodes: list[ast.stmt]) -> bool:
        return block(node.body, nodes) if node is not None else not nodes

    def compound(statement: cst.BaseCompoundStatement, node: ast.stmt) -> bool:
        if isinstance(statement, cst.If) and isinstance(node, ast.If):
            if isinstance(statement.orelse, cst.If):
                elif_ok = len(node.orelse) == 1 and compound(statement.orelse, node.orelse[0])
                return elif_ok and block(statement.body, node.body)
            return block(statement.body, node.body) and orelse(statement.orelse, node.orelse)
        if isinstance(statement, cst.For | cst.While) and isinstance(
            node, ast.For | ast.AsyncFor | ast.While
        ):
            return block(statement.body, node.body) and orelse(statement.orelse, node.orelse)
        if isinstance(statement, cst.Try | cst.TryStar) and isinstance(node, ast.Try | ast.TryStar):
            handlers: list[cst.ExceptHandler | cst.ExceptStarHandler] = list(statement.handlers)
            return (
                block(statement.body, node.body)
                and len(handlers) == len(node.handlers)
                and all(
                    block(h.body, n.body)
                    for h, n in zip(handlers, node.handlers, strict=True)
                    if isinstance(n, ast.ExceptHandler)
                )
                and orelse(statement.orelse, node.orelse)
                and (
                    block(statement.finalbody.body, node.finalbody)
                    if statement.finalbody is not None
                    else not node.finalbody
                )
            )
        if isinstance(statement, cst.Match) and isinstance(node, ast.Match):
            return len(statement.cases) == len(node.cases) and all(
                block(c.body, n.body) for c, n in zip(statement.cases, node.cases, strict=True)
            )
        if isinstance(statement, cst.FunctionDef) and isinstance(node, FunctionNode):
            return block(statement.body, node.body)
        if isinstance(statement, cst.ClassDef) and isinstance(node, ast.ClassDef):
            return block(statement.body, node.body)
        if isinstance(statement, cst.With) and isinstance(node, ast.With | ast.AsyncWith):
            return block(statement.body, node.body)
        return False

    return lines if body(module.body, tree.body) else None


# Arguments as black writes them: names, dotted names and `keyword=name`, joined by ", ".
_NAME = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_SIMPLE_ARGS = re.compile(rf"(?:(?:{_NAME}=)?{_NAME}(?:, (?:{_NAME}=)?{_NAME})*)?")


def _black_already(code: str, args: str, width: int) -> bool:
    """Whether black would leave the generated statement as it is: its template is black's
    style, so only the call's arguments (the user's text) or a line too long can make it change
    anything. Saves a black run per call site in the common case."""
    return _SIMPLE_ARGS.fullmatch(args) is not None and fits(code, width)


def _import_fits(code: str, line_length: int) -> bool:
    """Whether black would leave a one-line import of plain names as it is."""
    return fits(code, line_length)


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


def _job_args(statement: cst.BaseStatement, site: Site) -> Sequence[cst.Arg]:
    """The arguments the job is called with, where its form has them (model/sites.JOB_FORMS):
    those of the coroutine call that create_task is given, those that follow the function in
    `add_task(fn, ...)`, the elements of a thread's `args=` and the items of its `kwargs=`."""
    call = starter_call(statement, site)
    form = site.job_form
    args = call.args
    if form == "call":
        inner = args[0].value
        assert isinstance(inner, cst.Call)
        return inner.args
    if form == "to_thread":
        inner = args[0].value
        assert isinstance(inner, cst.Call)
        return inner.args[1:]
    if form in ("fn", "executor"):
        return args[2:] if form == "executor" else args[1:]
    if form in ("fn_partial", "executor_partial"):
        skip = 1 if form == "executor_partial" else 0
        partial = args[skip].value
        assert isinstance(partial, cst.Call)
        given = [*partial.args[1:], *args[skip + 1 :]]
        positional = [a for a in given if a.keyword is None]
        return _commas([*positional, *(a for a in given if a.keyword is not None)])
    return _thread_args(call, form == "thread_run")


def starter_call(statement: cst.BaseStatement, site: Site) -> cst.Call:
    """The call that starts the job (`asyncio.create_task(...)`, `Thread(...)`), found by its
    text in the statement; the first call of a starter's last name where none spells it so."""
    wanted = "".join(site.starter.split())
    last = wanted.rpartition(".")[2]
    fallback: cst.Call | None = None
    for node in _walk(statement):
        if not isinstance(node, cst.Call):
            continue
        spelled = "".join(_code(node.func).split())
        if spelled == wanted:
            return node
        name = spelled.rpartition(".")[2]
        if fallback is None and name == last:
            fallback = node
    if fallback is None:
        raise ValueError("no background call in the statement")
    return fallback


def _thread_args(call: cst.Call, run: bool) -> Sequence[cst.Arg]:
    """`Thread(target=job, args=(a, b), kwargs={"k": v})`: `a, b, k=v`; with `run`
    (`target=asyncio.run, args=(job(a),)`), the arguments of the coroutine call."""
    given = {a.keyword.value: a.value for a in call.args if a.keyword is not None}
    elements = given.get("args")
    out: list[cst.Arg] = []
    if isinstance(elements, cst.Tuple | cst.List):
        for element in elements.elements:
            out.append(cst.Arg(element.value, comma=element.comma))
    if run:
        inner = out[0].value
        assert isinstance(inner, cst.Call)
        return inner.args
    items = given.get("kwargs")
    if isinstance(items, cst.Dict):
        for item in items.elements:
            assert isinstance(item, cst.DictElement) and isinstance(item.key, cst.SimpleString)
            key = cst.Name(str(item.key.evaluated_value))
            out.append(cst.Arg(item.value, keyword=key, equal=_EQUAL, comma=item.comma))
    elif isinstance(items, cst.Call):  # kwargs=dict(k=v)
        out.extend(items.args)
    return _commas(out)


def _commas(args: list[cst.Arg]) -> list[cst.Arg]:
    """Arguments gathered from several places, each followed by a comma but the last."""
    comma = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    out = [
        a if a.comma is not cst.MaybeSentinel.DEFAULT else a.with_changes(comma=comma) for a in args
    ]
    if out:
        out[-1] = out[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return out


def _sent(args: Sequence[cst.Arg], site: Site) -> Sequence[cst.Arg]:
    """The job's arguments as the task is sent them: models dumped, enum members as values,
    without the dependencies the worker re-creates, and the set fields of the models whose job
    reads them, by keyword."""
    companions = _fields_set_args(args, site.fields_set_args)
    args = _enum_values(_dump_models(args, site.model_args), site.enum_args)
    args = _each(args, site.path_args, lambda value: cst.Call(cst.Name("str"), [cst.Arg(value)]))
    kept = [
        arg
        for i, arg in enumerate(args)
        if (arg.keyword.value if arg.keyword else i) not in site.injected
    ]
    if not site.injected and not companions:
        return args
    return _commas([*kept, *companions])


def _fields_set_args(
    args: Sequence[cst.Arg], fields_set: tuple[tuple[int | str, str], ...]
) -> list[cst.Arg]:
    """`x_fields_set=fields_set_of(x)` for each model argument whose set fields travel."""
    out: list[cst.Arg] = []
    for key, name in fields_set:
        for i, arg in enumerate(args):
            if (arg.keyword.value if arg.keyword else i) == key:
                call = cst.Call(func=cst.Name(FIELDS_SET_OF), args=[cst.Arg(arg.value)])
                out.append(cst.Arg(call, keyword=cst.Name(name), equal=_EQUAL))
    return out


def _enum_values(args: Sequence[cst.Arg], enums: tuple[int | str, ...]) -> Sequence[cst.Arg]:
    """Arguments that pass an enum member send its value: `x.value`."""
    return _each(args, enums, lambda value: cst.Attribute(value=value, attr=cst.Name("value")))


_EQUAL = cst.AssignEqual(
    whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
)


def _dump_models(args: Sequence[cst.Arg], models: tuple[int | str, ...]) -> Sequence[cst.Arg]:
    """Arguments that pass a Pydantic model send its JSON form: `x.model_dump(mode="json")`."""
    mode = cst.Arg(keyword=cst.Name("mode"), value=cst.SimpleString('"json"'), equal=_EQUAL)
    return _each(
        args,
        models,
        lambda value: cst.Call(
            func=cst.Attribute(value=value, attr=cst.Name("model_dump")), args=[mode]
        ),
    )


def _each(
    args: Sequence[cst.Arg],
    keys: tuple[int | str, ...],
    make: Callable[[cst.BaseExpression], cst.BaseExpression],
) -> Sequence[cst.Arg]:
    """The arguments, those at `keys` (positions or keyword names) replaced by `make(value)`, the
    value parenthesised where an attribute of it would need it."""
    if not keys:
        return args
    out = []
    for i, arg in enumerate(args):
        key: int | str = arg.keyword.value if arg.keyword else i
        if key in keys:
            value = arg.value
            if not isinstance(value, cst.Name | cst.Attribute | cst.Call | cst.Subscript):
                value = value.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
            arg = arg.with_changes(value=make(value))
        out.append(arg)
    return out


def _walk(node: cst.CSTNode) -> list[cst.CSTNode]:
    out = [node]
    for child in node.children:
        out.extend(_walk(child))
    return out


# --- imports and the logger -------------------------------------------------------------------


def _is_import(statement: cst.BaseStatement) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and all(
        isinstance(s, cst.Import | cst.ImportFrom) for s in statement.body
    )


def _import_module(statement: cst.BaseStatement) -> str:
    assert isinstance(statement, cst.SimpleStatementLine)
    node = statement.body[0]
    if isinstance(node, cst.Import):
        return _code(node.names[0].name)
    assert isinstance(node, cst.ImportFrom)
    dots = "." * len(node.relative)
    return dots + (_code(node.module) if node.module else "")


def _header(body: Sequence[cst.BaseStatement]) -> tuple[int, int]:
    """(first index after the docstring and __future__ imports, index after the last import)."""
    start = 0
    if body and isinstance(body[0], cst.SimpleStatementLine):
        first = body[0].body[0]
        if isinstance(first, cst.Expr) and isinstance(
            first.value, cst.SimpleString | cst.ConcatenatedString
        ):
            start = 1
    end = start
    for i in range(start, len(body)):
        if not _is_import(body[i]):
            break
        end = i + 1
        if _import_module(body[i]) == "__future__":
            start = i + 1
    return start, end


def add_imports_and_logger(
    module: cst.Module,
    std_imports: list[str],
    task_imports: dict[str, list[str]],
    logger_line: str | None,
    first_party: str,
    line_length: int,
    std_from: Sequence[str] = (),
) -> cst.Module:
    body: list[cst.BaseStatement] = list(module.body)
    start, end = _header(body)
    for name in std_imports:
        at, mode = _std_position(body, start, end, name)
        _insert(body, at, cst.parse_statement(f"import {name}\n"), mode)
        end += 1
    for line in std_from:
        at, mode = _std_from_position(body, start, end, line.split()[1])
        _insert(body, at, cst.parse_statement(line + "\n"), mode)
        end += 1
    for tasks_module, names in sorted(task_imports.items()):
        code = f"from {tasks_module} import {', '.join(sorted(names))}\n"
        if not _import_fits(code, line_length):
            code = format_code(code, line_length)
        at, mode = _first_party_position(body, start, end, tasks_module, first_party)
        _insert(body, at, cst.parse_statement(code), mode)
        end += 1
    if logger_line:
        statement = cst.parse_statement(logger_line + "\n")
        statement = statement.with_changes(leading_lines=[cst.EmptyLine()])
        body.insert(_after_binding(body, end, logger_line.split()[2].partition(".")[0]), statement)
    return module.with_changes(body=body)


def _after_binding(body: Sequence[cst.BaseStatement], end: int, name: str) -> int:
    """`end`, or the index after a later top-level import that binds `name` (a module that runs
    code before some of its imports: `logging` imported below a `print`)."""
    at = end
    for i in range(end, len(body)):
        statement = body[i]
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if isinstance(small, cst.Import | cst.ImportFrom) and not isinstance(
                small.names, cst.ImportStar
            ):
                bound = {
                    _code(a.asname.name) if a.asname else _code(a.name).partition(".")[0]
                    for a in small.names
                }
                if name in bound:
                    at = i + 1
    return at


def _insert(
    body: list[cst.BaseStatement], at: int, statement: cst.BaseStatement, mode: str
) -> None:
    """Insert an import before body[at].

    "before": into body[at]'s group, as its new first line if it was the first (it takes the
    group's blank lines and comments); "after": at the end of the group before body[at];
    "new": a group of its own before body[at]'s, which is then set apart by a blank line;
    "new-group": a group of its own after the one before it, after a blank line."""
    following = body[at] if at < len(body) else None
    assert isinstance(statement, cst.SimpleStatementLine)
    if mode in ("before", "new") and isinstance(following, cst.SimpleStatementLine):
        statement = statement.with_changes(leading_lines=following.leading_lines)
        if mode == "new":
            body[at] = following.with_changes(leading_lines=[cst.EmptyLine()])
        else:
            body[at] = following.with_changes(leading_lines=[])
    elif mode == "new-group":
        statement = statement.with_changes(leading_lines=[cst.EmptyLine()])
    body.insert(at, statement)


def _top(statement: cst.BaseStatement) -> str:
    return _import_module(statement).lstrip(".").split(".")[0]


def _std_position(
    body: list[cst.BaseStatement], start: int, end: int, name: str
) -> tuple[int, str]:
    """Where isort and ruff put `import name`: among the standard library's `import x` lines,
    which come before its `from x import y` lines."""
    std = [i for i in range(start, end) if _top(body[i]) in STDLIB]
    plain = [i for i in std if isinstance(body[i].body[0], cst.Import)]  # type: ignore[attr-defined]
    for i in plain:
        if _import_module(body[i]) > name:
            return i, "before"
    if plain:
        return plain[-1] + 1, "after"
    if std:
        return std[0], "before"
    return _new_std_group(start, end)


def _std_from_position(
    body: list[cst.BaseStatement], start: int, end: int, module: str
) -> tuple[int, str]:
    """Where isort and ruff put `from module import x` of the standard library: after its
    `import x` lines, among its `from` lines by module."""
    std = [i for i in range(start, end) if _top(body[i]) in STDLIB]
    froms = [i for i in std if isinstance(body[i].body[0], cst.ImportFrom)]  # type: ignore[attr-defined]
    for i in froms:
        if _import_module(body[i]) > module:
            return i, "before"
    if std:
        return std[-1] + 1, "after"
    return _new_std_group(start, end)


def _new_std_group(start: int, end: int) -> tuple[int, str]:
    """A module without standard library imports: they open the import block."""
    if start < end:
        return start, "new"
    return start, "new-group" if start > 0 else "after"


def _first_party_position(
    body: list[cst.BaseStatement], start: int, end: int, module: str, first_party: str
) -> tuple[int, str]:
    ours = [
        i
        for i in range(start, end)
        if _top(body[i]) == first_party or _import_module(body[i]).startswith(".")
    ]
    for i in ours:
        if _import_module(body[i]) > module and isinstance(body[i].body[0], cst.ImportFrom):  # type: ignore[attr-defined]
            return i, "before"
    if ours:
        return ours[-1] + 1, "after"
    return end, "new-group" if end > start else "after"


def rewrite_module(
    source: str,
    edits: list[SiteEdit],
    names: ModuleNames,
    fallback: bool,
    line_length: int,
    first_party: str,
    tree: ast.Module | None = None,
    runner: str = "app.tasks.async_runner",
) -> tuple[str, set[int]]:
    """The rewritten source, and the statement lines of the sites that were rewritten.
    `tree`: the source already parsed by `ast`, if it is; `runner`: the runner module.

    LibCST parses and regenerates only the pieces of the module that change (the import block,
    the module-level statements holding a call site); the rest is kept as text. Where the pieces
    cannot be told apart safely, the whole module goes through LibCST: the result is the same."""
    job = _Rewrite(edits, names, fallback, line_length, first_party, runner)
    if tree is None:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError):
            return rewrite_whole(source, job, None)
    return rewrite_pieces(source, job, tree) or rewrite_whole(source, job, tree)


@dataclass(frozen=True)
class _Rewrite:
    """What rewrite_module was asked: the same whether the module goes whole or in pieces."""

    edits: list[SiteEdit]
    names: ModuleNames
    fallback: bool
    line_length: int
    first_party: str
    runner: str = "app.tasks.async_runner"  # the runner module: `publish_or_run`

    def rewriter(
        self, edits: list[SiteEdit], indent: str, lines: dict[int, tuple[int, int]] | None
    ) -> _SiteRewriter:
        return _SiteRewriter(edits, self.names, self.fallback, self.line_length, indent, lines)

    def finished(self, done: set[int]) -> list[SiteEdit]:
        return [e for e in self.edits if e.site.stmt_line in done]

    def add_imports(self, module: cst.Module, done: list[SiteEdit]) -> cst.Module:
        """The imports and the logger that the rewritten call sites use, added to `module` (the
        whole module, or the piece at its top)."""
        names = self.names
        std: list[str] = []
        std_from: list[str] = []
        helpers = [e for e in done if e.site.after_response]
        tried = [e for e in done if not e.site.after_response]
        if names.asyncio is None and any(
            e.site.in_async and not e.site.asyncio_name for e in tried
        ):
            std.append("asyncio")
        if helpers and names.partial is None:
            std_from.append("from functools import partial")
        elif helpers and names.partial == "functools.partial" and not names.has_functools:
            std.append("functools")
        logger_line = None
        if self.fallback and names.logger is None and tried:
            if names.has_logging is None:
                std.append("logging")
            logger_line = f"logger = {names.has_logging or 'logging'}.getLogger(__name__)"
        task_imports: dict[str, list[str]] = {}
        for edit in done:
            listed = task_imports.setdefault(edit.wrapper.tasks_module, [])
            if edit.wrapper.name not in listed:
                listed.append(edit.wrapper.name)
        if helpers:
            task_imports.setdefault(self.runner, []).append(PUBLISH_OR_RUN)
        if any(e.site.guarded for e in done):
            task_imports.setdefault(self.runner, []).append(GUARDED_DELAY)
        if any(e.site.fields_set_args for e in done):
            task_imports.setdefault(self.runner, []).append(FIELDS_SET_OF)
        return add_imports_and_logger(
            module,
            sorted(std),
            task_imports,
            logger_line,
            self.first_party,
            self.line_length,
            std_from,
        )


def rewrite_whole(source: str, job: _Rewrite, tree: ast.Module | None) -> tuple[str, set[int]]:
    """rewrite_module on the whole module's LibCST tree."""
    module = cst.parse_module(source)
    lines = statement_lines(module, tree) if tree is not None else None
    rewriter = job.rewriter(job.edits, module.default_indent, lines)
    if lines is not None:
        new = module.visit(rewriter)
    else:
        new = MetadataWrapper(module, unsafe_skip_copy=True).visit(rewriter)
    done = job.finished(rewriter.done)
    if not done:
        return source, set()
    return job.add_imports(new, done).code, {e.site.stmt_line for e in done}


# --- the pieces that change ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Group:
    """Module-level statements that LibCST holds as one statement: a compound statement, or the
    simple statements of one logical line (`a = 1; b = 2`)."""

    first: int  # line, decorators included
    last: int
    nodes: list[ast.stmt]


def _groups(tree: ast.Module) -> list[_Group]:
    groups: list[_Group] = []
    for node in tree.body:
        first, last = first_line(node), node.end_lineno or node.lineno
        if groups and first <= groups[-1].last:
            groups[-1] = _Group(
                groups[-1].first, max(last, groups[-1].last), [*groups[-1].nodes, node]
            )
        else:
            groups.append(_Group(first, last, [node]))
    return groups


def _header_size(groups: list[_Group]) -> int:
    """How many groups the import block spans (the docstring, the imports), at least one: a
    superset of what `_header` finds, so that LibCST places the imports in the piece."""
    i = 0
    head = groups[0].nodes[0] if groups else None
    if isinstance(head, ast.Expr) and isinstance(head.value, ast.Constant | ast.JoinedStr):
        i = 1
    while i < len(groups) and all(
        isinstance(n, ast.Import | ast.ImportFrom) for n in groups[i].nodes
    ):
        i += 1
    return max(i, 1)


def _first_indent(tree: ast.Module, lines: list[str]) -> str:
    """The module's indentation as LibCST detects it (its first INDENT token): the leading
    whitespace of the first block, in source order, that starts on a line of its own; "    "
    when there is none."""

    def space(lineno: int) -> str:
        line = lines[lineno - 1]
        return line[: len(line) - len(line.lstrip(" \t"))]

    def own_line(node: ast.stmt) -> str | None:
        """The whitespace before `node` if it starts a line of its own (then it is indented)."""
        first = first_line(node)
        found = space(first)
        if first != node.lineno:  # decorated: the line starts with its first decorator
            return found if found and lines[first - 1][len(found) :].startswith("@") else None
        return found if found and len(found) == node.col_offset else None

    def blocks(node: ast.stmt) -> list[list[ast.stmt]]:
        if isinstance(node, ast.Try | ast.TryStar):
            return [node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody]
        if isinstance(node, ast.If | ast.For | ast.AsyncFor | ast.While):
            return [node.body, node.orelse]
        if isinstance(node, FunctionNode | ast.ClassDef | ast.With | ast.AsyncWith):
            return [node.body]
        return []

    def search(node: ast.stmt) -> str | None:
        if isinstance(node, ast.Match):  # `case` always starts an indented line
            return space(node.cases[0].pattern.lineno) if node.cases else None
        for block in blocks(node):
            found = own_line(block[0]) if block else None
            if found is None and block and isinstance(node, ast.If) and block is node.orelse:
                found = search(block[0])  # `elif`: its blocks come next
            if found is not None:
                return found
        return None

    for node in tree.body:
        found = search(node)
        if found is not None:
            return found
    return "    "


# Indentation that holds a form feed: the tokenizer's column rules for it are not worth copying.
_FORM_FEED_INDENT = re.compile(r"^[ \t]*\f", re.M)
_NEWLINE = re.compile(r"\r\n|\r|\n")


def rewrite_pieces(source: str, job: _Rewrite, tree: ast.Module) -> tuple[str, set[int]] | None:
    """rewrite_module on pieces of the module: the groups of module-level statements that hold a
    call site, and the import block at the top. Each piece is whole lines, parsed by LibCST as a
    module of its own with the whole module's newline and indentation; the text between pieces is
    kept as it is. None where that could differ from rewrite_whole (then it is used instead)."""
    groups = _groups(tree)
    if not groups or _FORM_FEED_INDENT.search(source):
        return None
    lines = split_lines(source)
    newline_found = _NEWLINE.search(source)
    newline = newline_found.group(0) if newline_found else "\n"
    indent = _first_indent(tree, lines)
    header = _header_size(groups)
    logging_name = job.names.has_logging
    if (
        job.names.logger is None
        and logging_name
        and any(
            isinstance(n, ast.Import | ast.ImportFrom)
            and any((a.asname or a.name.partition(".")[0]) == logging_name for a in n.names)
            for g in groups[header:]
            for n in g.nodes
        )
    ):
        return None  # `import logging` below code: the logger goes after it, out of the header
    wanted = set(range(header))
    by_group: dict[int, list[SiteEdit]] = {}
    for edit in job.edits:
        holding = [i for i, g in enumerate(groups) if g.first <= edit.site.stmt_line <= g.last]
        if not holding:
            return None
        wanted.add(holding[0])
        by_group.setdefault(holding[0], []).append(edit)
    runs: list[list[int]] = []
    for i in sorted(wanted):
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    pieces: list[tuple[int, int, cst.Module]] = []
    done: set[int] = set()
    for run in runs:
        first, last = (1 if run[0] == 0 else groups[run[0]].first), groups[run[-1]].last
        try:
            module = cst.parse_module("".join(lines[first - 1 : last]))
        except cst.ParserSyntaxError:
            return None
        if module.default_newline != newline:
            return None
        if module.default_indent != indent:
            if any(isinstance(s, cst.BaseCompoundStatement) for s in module.body):
                return None  # its blocks were read against another indentation
            module = module.with_changes(default_indent=indent)
        nodes = [node for i in run for node in groups[i].nodes]
        spans = statement_lines(module, ast.Module(body=nodes, type_ignores=[]))
        if spans is None:
            return None
        run_edits = [e for i in run for e in by_group.get(i, [])]
        if run_edits:
            rewriter = job.rewriter(run_edits, indent, spans)
            module = module.visit(rewriter)
            done |= rewriter.done
        pieces.append((first, last, module))
    finished = job.finished(done)
    if not finished:
        return source, set()
    first, last, head = pieces[0]
    pieces[0] = (first, last, job.add_imports(head, finished))
    out: list[str] = []
    at = 1
    for first, last, module in pieces:
        out.extend(lines[at - 1 : first - 1])
        out.append(module.code)
        at = last + 1
    out.extend(lines[at - 1 :])
    return "".join(out), {e.site.stmt_line for e in finished}
