"""The semantic guard (black's safety check, for this rewrite): outside the migrated call sites and
the added imports and logger, the new module must parse to the same AST as the old one."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from codemod.model.syntax import source_segment, spans_line, split_lines, word_lines
from codemod.models import GUARDED_DELAY, PUBLISH_OR_RUN

_MARK = "__celery_codemod_site__"


def _placeholder() -> ast.stmt:
    return ast.Expr(ast.Name(_MARK, ast.Load()))


def _blocks(tree: ast.AST, lines: list[int]) -> Iterator[list[ast.stmt]]:
    """Every statement list in the tree that holds one of `lines` (sorted), the module's always.
    Like a walk of every node, a node's children are taken before its blocks are handed out (a
    caller may replace statements in them), but only statements, handlers and match cases are
    visited: expressions hold no statement."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        blocks = []
        for field in ("body", "orelse", "finalbody"):
            block = getattr(node, field, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                blocks.append(block)
                stack.extend(s for s in block if spans_line(s, lines))
        stack.extend(h for h in getattr(node, "handlers", None) or () if spans_line(h, lines))
        stack.extend(getattr(node, "cases", None) or ())
        yield from blocks


def _publishes(stmt: ast.stmt, tasks: set[str], delays: list[int]) -> bool:
    """A statement this tool writes: it queues one of the wrappers (`X.delay`). `delays`: the
    lines that spell `delay`; a statement on none of them cannot."""
    if not spans_line(stmt, delays):
        return False
    if isinstance(stmt, ast.Try):
        return bool(stmt.body) and _publishes(stmt.body[0], tasks, delays)
    if not isinstance(stmt, ast.Expr | ast.Assign | ast.AnnAssign):
        return False
    return any(queued_task(n) in tasks for n in ast.walk(stmt))


def queued_task(node: ast.AST) -> str | None:
    """The name of the task an expression queues: `X.delay`, or `guarded_delay(X, ...)` /
    `partial(guarded_delay, X, ...)` (the run-time check of unverified arguments)."""
    if isinstance(node, ast.Attribute) and node.attr == "delay":
        return node.value.id if isinstance(node.value, ast.Name) else None
    if not isinstance(node, ast.Call):
        return None
    args = node.args
    if isinstance(node.func, ast.Name) and node.func.id == GUARDED_DELAY and args:
        return args[0].id if isinstance(args[0], ast.Name) else None
    if len(args) > 1 and isinstance(args[0], ast.Name) and args[0].id == GUARDED_DELAY:
        return args[1].id if isinstance(args[1], ast.Name) else None
    return None


def _original_add_task(stmt: ast.stmt) -> ast.stmt | None:
    """`x.add_task(publish_or_run, partial(t.delay, ...), partial(job, *a, **k))` stands for the
    original `x.add_task(job, *a, **k)`: that statement, rebuilt from the fallback."""
    call = stmt.value if isinstance(stmt, ast.Expr) else None
    if not (isinstance(call, ast.Call) and len(call.args) == 3 and not call.keywords):
        return None
    fallback = call.args[2]
    if not isinstance(fallback, ast.Call) or not fallback.args:
        return None
    return ast.Expr(ast.Call(call.func, list(fallback.args), list(fallback.keywords)))


class _InPlace(ast.NodeTransformer):
    """Rewritten calls inside a statement (a response's `BackgroundTask(job, ...)`, now
    `BackgroundTask(publish_or_run, partial(t.delay, ...), partial(job, ...))`) -> the mark: in
    the old tree those at `positions`, in the new one those that publish one of `tasks`. The
    calls they stand for are kept (the new ones rebuilt from their fallback)."""

    def __init__(self, positions: set[tuple[int, int]] | None, tasks: set[str]) -> None:
        self.positions = positions
        self.tasks = tasks
        self.calls: list[str] = []

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if self.positions is not None:
            if (node.lineno, node.col_offset) not in self.positions:
                return node
            self.calls.append(ast.dump(node))
            return ast.Name(_MARK, ast.Load())
        args = node.args
        if not (
            len(args) in (2, 3)
            and not node.keywords
            and isinstance(args[0], ast.Name)
            and args[0].id == PUBLISH_OR_RUN
            and not (isinstance(node.func, ast.Attribute) and node.func.attr == "add_task")
            and any(queued_task(n) in self.tasks for n in ast.walk(args[1]))
        ):
            return node
        fallback = args[2] if len(args) == 3 else None
        if isinstance(fallback, ast.Call) and fallback.args:
            original = ast.Call(node.func, list(fallback.args), list(fallback.keywords))
            self.calls.append(ast.dump(original))
        return ast.Name(_MARK, ast.Load())


def _in_place(
    tree: ast.Module, lines: list[int], positions: set[tuple[int, int]] | None, tasks: set[str]
) -> list[str]:
    """_InPlace over the statements that span `lines`: the calls it replaced."""
    mark = _InPlace(positions, tasks)
    for block in _blocks(tree, lines):
        for stmt in block:
            if spans_line(stmt, lines):
                mark.visit(stmt)
    return mark.calls


def _is_added_import(stmt: ast.stmt, modules: set[str]) -> bool:
    return isinstance(stmt, ast.ImportFrom) and stmt.module in modules and stmt.level == 0


def check_rewrite(
    old_source: str,
    new_source: str,
    groups: list[tuple[int, int]],
    tasks: set[str],
    task_modules: set[str],
    trees: tuple[ast.Module, ast.Module] | None = None,
    calls: list[tuple[int, int]] | None = None,
) -> str | None:
    """None if the rewrite only touched what it may; else what differs.

    `groups` are the (first, last) lines of each rewritten statement group in the old source;
    `calls` the (line, column offset) of each call rewritten in place (a response's task).
    `trees`: the two sources already parsed, if they are (this changes them).
    """
    old, new = trees or (ast.parse(old_source), ast.parse(new_source))
    # Only the blocks that hold a rewritten group or a `.delay` are looked into, and only the
    # publishing statements dumped: walking and dumping every statement of every block costs.
    old_delays, new_delays = word_lines(old_source, ["delay"]), word_lines(new_source, ["delay"])
    in_place: tuple[list[str], list[str]] = ([], [])
    if calls:
        in_place = (
            _in_place(old, sorted({line for line, _ in calls}), set(calls), tasks),
            _in_place(new, new_delays, None, tasks),
        )
    wanted = sorted({*old_delays, *(line for g in groups for line in range(g[0], g[1] + 1))})
    unchanged = {
        ast.dump(s)
        for block in _blocks(old, old_delays)
        for s in block
        if _publishes(s, tasks, old_delays)
    }
    originals: list[list[str]] = []
    for block in _blocks(old, wanted):
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
    for block in _blocks(new, new_delays):
        for i, stmt in enumerate(block):
            if _publishes(stmt, tasks, new_delays) and ast.dump(stmt) not in unchanged:
                if isinstance(stmt, ast.Try) and stmt.handlers:
                    kept.append([ast.dump(s) for s in stmt.handlers[0].body[1:]])
                original = _original_add_task(stmt)
                if original is not None:
                    kept.append([ast.dump(original)])
                block[i] = _placeholder()
    # Statement by statement: the same test as ast.dump(old) == ast.dump(new) after dropping the
    # additions. A module-level statement with no rewritten line is compared by its text: the
    # same text at the module level (under the same __future__ imports, themselves compared)
    # parses to the same tree, and dumping every function of the module twice is what costs.
    old_lines = split_lines(old_source)
    old_dumps = [_key(s, old_lines, groups) for s in old.body]
    same_text = {k for k in old_dumps if k.startswith(_TEXT)}
    new_lines = split_lines(new_source)
    new_keys = [_new_key(s, new_lines, same_text) for s in new.body]
    kept_dumps = _drop_additions(old_dumps, new, new_keys, task_modules)
    if old_dumps != kept_dumps:  # a text changed: is the tree the same? (dumps of everything)
        old_dumps = [ast.dump(s) for s in old.body]
        kept_dumps = _drop_additions(old_dumps, new, [ast.dump(s) for s in new.body], task_modules)
    ignores = [ast.dump(t) for t in old.type_ignores], [ast.dump(t) for t in new.type_ignores]
    if old_dumps != kept_dumps or ignores[0] != ignores[1]:
        return "the rewrite would change code outside the migrated call sites"
    if kept and sorted(kept) != sorted(originals):
        return "the fallback branch would not keep the original statements unchanged"
    if in_place[1] and sorted(in_place[0]) != sorted(in_place[1]):
        return "the fallback would not run the original job with the same arguments"
    return None


_TEXT = "\0text:"  # no dump starts so


def _key(stmt: ast.stmt, lines: list[str], groups: list[tuple[int, int]]) -> str:
    """An old module-level statement's text, or its dump if a rewritten group lies in it."""
    first, last = getattr(stmt, "lineno", None), getattr(stmt, "end_lineno", None)
    if first is None or last is None or any(g[0] <= last and g[1] >= first for g in groups):
        return ast.dump(stmt)
    text = source_segment(lines, stmt)
    return ast.dump(stmt) if text is None else _TEXT + text


def _new_key(stmt: ast.stmt, lines: list[str], same_text: set[str]) -> str:
    """A new module-level statement's text if an old statement had the very same, else its dump."""
    text = source_segment(lines, stmt) if hasattr(stmt, "lineno") else None
    if text is not None and _TEXT + text in same_text:
        return _TEXT + text
    return ast.dump(stmt)


def _drop_additions(
    old_dumps: list[str], new: ast.Module, new_keys: list[str], task_modules: set[str]
) -> list[str]:
    """The keys of `new`'s module-level statements without the imports and logger the rewrite
    may add; `old_dumps` are those of the old module's."""
    unmatched = list(old_dumps)
    kept = []
    for stmt, dump in zip(new.body, new_keys, strict=True):
        if _is_added_import(stmt, task_modules):
            continue
        if dump in unmatched:
            unmatched.remove(dump)
            kept.append(dump)
            continue
        if _is_std_import(stmt) or _is_logger(stmt):
            continue
        kept.append(dump)
    return kept


def _is_std_import(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.ImportFrom):  # `partial`, for the after-the-response form
        names = [(a.name, a.asname) for a in stmt.names]
        return stmt.module == "functools" and stmt.level == 0 and names == [("partial", None)]
    return isinstance(stmt, ast.Import) and [a.name for a in stmt.names] in (
        ["asyncio"],
        ["logging"],
        ["functools"],
    )


def _is_logger(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Assign)
        and isinstance(stmt.value, ast.Call)
        and ast.unparse(stmt.value).endswith(".getLogger(__name__)")
    )
