"""What rewrite_module is asked, and its rewrite of the whole module's LibCST tree."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass

import libcst as cst
from libcst.metadata import MetadataWrapper

from codemod.emit.call_sites import _SiteRewriter
from codemod.emit.edits import ModuleNames, SiteEdit
from codemod.emit.imports import add_imports_and_logger
from codemod.model.syntax import FunctionNode
from codemod.models import FIELDS_SET_OF, GUARDED_DELAY, PUBLISH_OR_RUN


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
