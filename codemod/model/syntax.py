"""Reading Python source with `ast`: decoding, lines, the names a scope binds, and walks that
enter only the lines that spell a word."""

from __future__ import annotations

import ast
import bisect
import builtins
import functools
import gc
import io
import re
import sys
import tokenize
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

BUILTIN_NAMES = frozenset(dir(builtins))
# The roots of chains that start on no name (see chain_of).
CALL_ROOT = "()"
ITEM_ROOT = "[]"
OTHER_ROOT = "?"
_ROOTS = frozenset({CALL_ROOT, ITEM_ROOT, OTHER_ROOT})
FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(frozen=True)
class Binding:
    kind: str  # "import", "def", "class", "assign"
    target: str  # qualified name for imports; the bound name otherwise
    line: int
    node: ast.AST | None = None


@functools.lru_cache(maxsize=4096)
def parse_expression(text: str) -> ast.expr | None:
    """An annotation's text as an expression, None if it is not one. Cached: the same few
    annotations come back for every call site (the nodes are shared: read them only)."""
    try:
        return ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError):
        return None


def decode_source(data: bytes) -> str:
    """Decode as Python does (BOM, PEP 263 cookie); raises UnicodeDecodeError or SyntaxError."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    text = data.decode(encoding)
    return text.removeprefix("\ufeff")


def resolve_relative(module: str, is_package: bool, level: int, target: str | None) -> str:
    if level == 0:
        return target or ""
    parts = module.split(".") if module else []
    if not is_package:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    if target:
        parts.append(target)
    return ".".join(parts)


def import_bindings(
    node: ast.Import | ast.ImportFrom, module: str, is_package: bool
) -> list[tuple[str, str]]:
    """(bound name, qualified name) for each name an import statement binds."""
    out: list[tuple[str, str]] = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname:
                out.append((alias.asname, alias.name))
            else:
                top = alias.name.split(".")[0]
                out.append((top, top))
        return out
    base = resolve_relative(module, is_package, node.level, node.module)
    for alias in node.names:
        if alias.name != "*":
            out.append((alias.asname or alias.name, f"{base}.{alias.name}" if base else alias.name))
    return out


def scope_bindings(
    body: list[ast.stmt], module: str, is_package: bool, nested: bool = True
) -> dict[str, Binding]:
    """Names bound by the statements of one scope (not nested scopes), the last binding winning;
    with `nested` False, by these statements alone (not the blocks inside them)."""
    out: dict[str, Binding] = {}
    for node in scope_statements(body) if nested else body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            for name, qual in import_bindings(node, module, is_package):
                out[name] = Binding("import", qual, node.lineno, node)
        elif isinstance(node, FunctionNode):
            out[node.name] = Binding("def", node.name, node.lineno, node)
        elif isinstance(node, ast.ClassDef):
            out[node.name] = Binding("class", node.name, node.lineno, node)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for name in _target_names(target):
                    out[name] = Binding("assign", name, node.lineno, node)
        elif isinstance(node, ast.For | ast.AsyncFor | ast.With | ast.AsyncWith):
            targets = (
                [node.target]
                if isinstance(node, ast.For | ast.AsyncFor)
                else [i.optional_vars for i in node.items if i.optional_vars]
            )
            for target in targets:
                for name in _target_names(target):
                    out[name] = Binding("assign", name, node.lineno, node)
    return out


def _target_names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Tuple | ast.List):
        return [n for elt in target.elts for n in _target_names(elt)]
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    return []


def scope_statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """Statements of a scope in source order, descending into blocks but not into defs."""
    out: list[ast.stmt] = []
    for stmt in body:
        out.append(stmt)
        if isinstance(stmt, FunctionNode | ast.ClassDef):
            continue
        for name in ("body", "orelse", "finalbody"):
            out.extend(scope_statements(getattr(stmt, name, []) or []))
        for handler in getattr(stmt, "handlers", []) or []:
            out.extend(scope_statements(handler.body))
        for case in getattr(stmt, "cases", []) or []:
            out.extend(scope_statements(case.body))
    return out


def split_lines(source: str) -> list[str]:
    """The lines of `source` as `ast` numbers them, with their line breaks."""
    if any(c in source for c in _OTHER_BREAKS):
        return _LINES.findall(source)
    return source.splitlines(keepends=True)  # the same lines, split in C


# Lines as ast.get_source_segment splits them: on \r\n, \r and \n only (not \f, \v, ...).
_LINES = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
# What str.splitlines also splits on.
_OTHER_BREAKS = "\v\f\x1c\x1d\x1e\x85\u2028\u2029"


def word_lines(source: str, words: Iterable[str]) -> list[int]:
    """The lines (1-based, sorted, as `ast` numbers them) that spell one of `words`: `str.find`,
    many times faster than a regex or a split into lines."""
    if "\r" in source:
        source = source.replace("\r\n", "\n").replace("\r", "\n")
    positions: list[int] = []
    for word in words:
        at = source.find(word)
        while at >= 0:
            positions.append(at)
            at = source.find(word, at + len(word))
    positions.sort()
    lines: list[int] = []
    line, previous = 1, 0
    for at in positions:
        line += source.count("\n", previous, at)
        previous = at
        if not lines or lines[-1] != line:
            lines.append(line)
    return lines


def first_line(node: ast.stmt) -> int:
    """A statement's first line: its first decorator's for a decorated def or class."""
    decorators: list[ast.expr] = getattr(node, "decorator_list", None) or []
    return min(node.lineno, *(d.lineno for d in decorators)) if decorators else node.lineno


def spans_line(node: ast.AST, lines: list[int]) -> bool:
    """Whether the node's lines (a def's or class's decorators too) include one of `lines` (sorted);
    True for a node without a position of its own (arguments, comprehensions, match cases)."""
    first = getattr(node, "lineno", None)
    if first is None:
        return True
    last = getattr(node, "end_lineno", None) or first
    if isinstance(node, ast.stmt):
        first = first_line(node)
    at = bisect.bisect_left(lines, first)
    return at < len(lines) and lines[at] <= last


def walk_lines(root: ast.AST, lines: list[int]) -> Iterator[tuple[ast.AST, ast.AST | None]]:
    """The nodes under `root` (root included) that span one of `lines` (sorted), each with its
    parent: all the nodes a search for a word needs, when `lines` are the lines that spell it."""
    stack: list[tuple[ast.AST, ast.AST | None]] = [(root, None)]
    while stack:
        node, parent = stack.pop()
        yield node, parent
        stack.extend(
            (child, node) for child in ast.iter_child_nodes(node) if spans_line(child, lines)
        )


def source_segment(lines: list[str], node: ast.AST) -> str | None:
    """ast.get_source_segment on pre-split lines (offsets are UTF-8 byte offsets)."""
    first_line: int | None = getattr(node, "lineno", None)
    last_line: int | None = getattr(node, "end_lineno", None)
    start: int | None = getattr(node, "col_offset", None)
    end: int | None = getattr(node, "end_col_offset", None)
    if first_line is None or last_line is None or start is None or end is None:
        return None
    first, last = first_line - 1, last_line - 1
    if first == last:
        return lines[first].encode()[start:end].decode()
    head = lines[first].encode()[start:].decode()
    tail = lines[last].encode()[:end].decode()
    return "".join([head, *lines[first + 1 : last], tail])


def tune_interpreter() -> None:
    """For a run over many modules, in the main process and in each worker process."""
    # LibCST and ast need deep recursion on deeply nested expressions (stdlib pydoc_data).
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    # Syntax trees are millions of small objects and free of cycles: with the default thresholds
    # the cyclic collector rescans them every 700 allocations, which made parsing 3-4x slower
    # (ast over the standard library: 8.6 s -> 2.4 s). Memory is still bounded: see the benchmark.
    gc.set_threshold(200_000, 30, 30)


def last_name(expr: ast.expr) -> str:
    """The last name an expression spells: `f` for `f`, `m` for `a.b.m`; "" for anything else."""
    if isinstance(expr, ast.Attribute):
        return expr.attr
    return expr.id if isinstance(expr, ast.Name) else ""


def chain_of(expr: ast.expr) -> tuple[str, ...] | None:
    """`a.b.c` -> ("a", "b", "c"); an attribute chain on a call, an item or anything else starts
    with a marker (`f().x` -> ("()", "x")); None for an expression that is no name nor
    attribute."""
    attrs: list[str] = []
    while isinstance(expr, ast.Attribute):
        attrs.append(expr.attr)
        expr = expr.value
    if isinstance(expr, ast.Name):
        attrs.append(expr.id)
    elif not attrs:
        return None
    elif isinstance(expr, ast.Call):
        attrs.append(CALL_ROOT)
    elif isinstance(expr, ast.Subscript):
        attrs.append(ITEM_ROOT)
    else:
        attrs.append(OTHER_ROOT)
    attrs.reverse()
    return tuple(attrs)


def name_chain(expr: ast.expr | None) -> tuple[str, ...] | None:
    """A chain whose root is a name (`a.b`), else None."""
    found = chain_of(expr) if expr is not None else None
    return found if found is not None and found[0] not in _ROOTS else None


def root_name(expr: ast.expr) -> str | None:
    while isinstance(expr, ast.Attribute | ast.Subscript):
        expr = expr.value
    return expr.id if isinstance(expr, ast.Name) else None


def syntax_message(exc: SyntaxError, version: tuple[int, int] | None = None) -> str:
    """`cannot parse with Python 3.11 (line 24, column 124: f-string: expecting '}')`, and the
    advice to run the tool with the project's Python where a newer one may parse the file."""
    major, minor = version or sys.version_info[:2]
    where = f"line {exc.lineno}" + (f", column {exc.offset}" if exc.offset else "")
    message = f"cannot parse with Python {major}.{minor} ({where}: {exc.msg})"
    if newer_python_may_parse(exc, (major, minor)):
        message += "; if the project runs on a newer Python, run celery-codemod with that Python"
    return message


# Syntax that a later Python accepts, by the line it is on: PEP 695 `type` statements and
# generic defs and classes (3.12), PEP 758 unparenthesised `except A, B:` (3.14).
_NEWER_SYNTAX = (
    ((3, 12), re.compile(r"\s*type\s+\w+\s*(?:\[.*\])?\s*=")),
    ((3, 12), re.compile(r"\s*(?:async\s+)?(?:def|class)\s+\w+\s*\[")),
    ((3, 14), re.compile(r"\s*except\*?\s+[^:(]+,[^:]*:")),
)


def newer_python_may_parse(exc: SyntaxError, version: tuple[int, int]) -> bool:
    """Whether the error may be syntax of a newer Python than `version`: the f-string grammar
    of PEP 701 (3.12), template strings (3.14), or a line that reads as newer syntax."""
    if version < (3, 12) and "f-string" in (exc.msg or ""):
        return True
    line = exc.text or ""
    if version < (3, 14) and re.search(r"(?<![\w.])t[rR]?['\"]", line):
        return True
    return any(version < newer and pattern.match(line) for newer, pattern in _NEWER_SYNTAX)


def without_type_parameters(source: str) -> str | None:
    """The source with PEP 695's syntax (Python 3.12) made older: the type parameters of
    `class C[T](...)` and `def f[T](...)` blanked out, `type X = ...` written `X = ...`, each
    line keeping its number (what a summary records of names and calls stays true); None when
    there is none of it, or the tokenizer cannot read the source."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return None
    lines = source.splitlines(keepends=True)
    edits: list[tuple[tuple[int, int], tuple[int, int], str]] = []
    for i, token in enumerate(tokens):
        if token.type != tokenize.NAME:
            continue
        following = tokens[i + 1 : i + 3]
        if token.string in ("class", "def") and len(following) == 2:
            name, bracket = following
            if name.type == tokenize.NAME and bracket.string == "[":
                end = _closing(tokens, i + 2)
                if end is not None:
                    edits.append((bracket.start, end, ""))
        elif token.string == "type" and _starts_statement(tokens, i) and len(following) == 2:
            name, after = following
            if name.type == tokenize.NAME and after.string in ("=", "["):
                edits.append((token.start, name.start, ""))
                if after.string == "[":
                    end = _closing(tokens, i + 2)
                    if end is not None:
                        edits.append((after.start, end, ""))
    if not edits:
        return None
    for (srow, scol), (erow, ecol), _ in sorted(edits, reverse=True):
        if srow == erow:
            line = lines[srow - 1]
            lines[srow - 1] = line[:scol] + line[ecol:]
        else:
            first, last = lines[srow - 1], lines[erow - 1]
            lines[srow - 1] = first[:scol] + last[ecol:]
            for row in range(srow, erow):
                lines[row] = "\n"
    return "".join(lines)


def _closing(tokens: list[tokenize.TokenInfo], at: int) -> tuple[int, int] | None:
    """Where the bracket opened at tokens[at] closes (the position after it)."""
    depth = 0
    for token in tokens[at:]:
        if token.type == tokenize.OP and token.string in "([{":
            depth += 1
        elif token.type == tokenize.OP and token.string in ")]}":
            depth -= 1
            if depth == 0:
                return token.end
    return None


def _starts_statement(tokens: list[tokenize.TokenInfo], at: int) -> bool:
    before = tokens[at - 1] if at else None
    return (
        before is None
        or before.type
        in (
            tokenize.NEWLINE,
            tokenize.NL,
            tokenize.INDENT,
            tokenize.DEDENT,
            tokenize.ENCODING,
        )
        or (before.type == tokenize.OP and before.string == ";")
    )


def is_main_guard(stmt: ast.AST) -> bool:
    """`if __name__ == "__main__":`."""
    test = stmt.test if isinstance(stmt, ast.If) else None
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.comparators) == 1
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == "__main__"
    )
