"""Where the task imports and the logger go in a rewritten module, as isort and ruff place them."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import libcst as cst

from codemod.emit.cst_text import _code
from codemod.emit.generate import fits, format_code

STDLIB = frozenset(sys.stdlib_module_names)


def _import_fits(code: str, line_length: int) -> bool:
    """Whether black would leave a one-line import of plain names as it is."""
    return fits(code, line_length)


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
