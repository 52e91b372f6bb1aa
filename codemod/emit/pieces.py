"""The rewrite by pieces: the import block and the statements holding a site; the rest as text."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

import libcst as cst

from codemod.emit.edits import SiteEdit
from codemod.emit.whole import _Rewrite, statement_lines
from codemod.model.syntax import FunctionNode, first_line, split_lines


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
