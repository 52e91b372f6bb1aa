"""The semantic guard (black's safety check, for this rewrite): outside the migrated call sites and
the added imports and logger, the new module must parse to the same AST as the old one."""

from __future__ import annotations

import ast
from collections.abc import Iterator

_MARK = "__celery_codemod_site__"


def _placeholder() -> ast.stmt:
    return ast.Expr(ast.Name(_MARK, ast.Load()))


def _blocks(tree: ast.AST) -> Iterator[list[ast.stmt]]:
    """Every statement list in the tree. Like a walk of every node, a node's children are taken
    before its blocks are handed out (a caller may replace statements in them), but only
    statements, handlers and match cases are visited: expressions hold no statement."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        blocks = []
        for field in ("body", "orelse", "finalbody"):
            block = getattr(node, field, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                blocks.append(block)
                stack.extend(block)
        stack.extend(getattr(node, "handlers", None) or ())
        stack.extend(getattr(node, "cases", None) or ())
        yield from blocks


def _publishes(stmt: ast.stmt, tasks: set[str]) -> bool:
    """A statement this tool writes: it queues one of the wrappers (`X.delay`)."""
    if isinstance(stmt, ast.Try):
        return bool(stmt.body) and _publishes(stmt.body[0], tasks)
    if not isinstance(stmt, ast.Expr | ast.Assign | ast.AnnAssign):
        return False
    return any(
        isinstance(n, ast.Attribute)
        and n.attr == "delay"
        and isinstance(n.value, ast.Name)
        and n.value.id in tasks
        for n in ast.walk(stmt)
    )


def _is_added_import(stmt: ast.stmt, modules: set[str]) -> bool:
    return isinstance(stmt, ast.ImportFrom) and stmt.module in modules and stmt.level == 0


def check_rewrite(
    old_source: str,
    new_source: str,
    groups: list[tuple[int, int]],
    tasks: set[str],
    task_modules: set[str],
) -> str | None:
    """None if the rewrite only touched what it may; else what differs.

    `groups` are the (first, last) lines of each rewritten statement group in the old source.
    """
    old = ast.parse(old_source)
    new = ast.parse(new_source)
    # Only publishing statements are looked up: dumping every statement of every block costs.
    unchanged = {ast.dump(s) for block in _blocks(old) for s in block if _publishes(s, tasks)}
    originals: list[list[str]] = []
    for block in _blocks(old):
        i = 0
        while i < len(block):
            group = next((g for g in groups if g[0] == block[i].lineno), None)
            if group is None:
                i += 1
                continue
            j = i
            while j < len(block) and block[j].lineno <= group[1]:
                j += 1
            originals.append([ast.dump(s) for s in block[i:j]])
            block[i:j] = [_placeholder()]
            i += 1
    kept: list[list[str]] = []
    for block in _blocks(new):
        for i, stmt in enumerate(block):
            if _publishes(stmt, tasks) and ast.dump(stmt) not in unchanged:
                if isinstance(stmt, ast.Try) and stmt.handlers:
                    kept.append([ast.dump(s) for s in stmt.handlers[0].body[1:]])
                block[i] = _placeholder()
    # Statement by statement, with the dumps made once: the same test as ast.dump(old) ==
    # ast.dump(new) after dropping the additions, which would dump both modules again.
    old_dumps = [ast.dump(s) for s in old.body]
    kept_dumps = _drop_additions(old_dumps, new, task_modules)
    ignores = [ast.dump(t) for t in old.type_ignores], [ast.dump(t) for t in new.type_ignores]
    if old_dumps != kept_dumps or ignores[0] != ignores[1]:
        return "the rewrite would change code outside the migrated call sites"
    if kept and sorted(kept) != sorted(originals):
        return "the fallback branch would not keep the original statements unchanged"
    return None


def _drop_additions(old_dumps: list[str], new: ast.Module, task_modules: set[str]) -> list[str]:
    """The dumps of `new`'s module-level statements without the imports and logger the rewrite
    may add; `old_dumps` are those of the old module's."""
    unmatched = list(old_dumps)
    kept = []
    for stmt in new.body:
        if _is_added_import(stmt, task_modules):
            continue
        dump = ast.dump(stmt)
        if dump in unmatched:
            unmatched.remove(dump)
            kept.append(dump)
            continue
        if _is_std_import(stmt) or _is_logger(stmt):
            continue
        kept.append(dump)
    return kept


def _is_std_import(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Import) and [a.name for a in stmt.names] in (
        ["asyncio"],
        ["logging"],
    )


def _is_logger(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Assign)
        and isinstance(stmt.value, ast.Call)
        and ast.unparse(stmt.value).endswith(".getLogger(__name__)")
    )
