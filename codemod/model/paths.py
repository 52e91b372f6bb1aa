"""Path expressions and the calls that touch the disk with them, as summary data (`PathExpr`):
where a path starts (a literal, a name, what is joined to it), resolved later across modules."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator

from codemod.model.summary import DiskUse, PathExpr
from codemod.model.syntax import BUILTIN_NAMES, Binding, FunctionNode, chain_of

# Calls that touch the disk: the arguments (position or keyword) they read at and write to.
# Opening depends on its mode; creating a folder (`os.makedirs`) is neither: it holds no data.
OPENERS: dict[str, tuple[int | str, ...]] = {
    "builtins.open": (0, "file"),
    "io.open": (0, "file"),
    "codecs.open": (0, "filename"),
    "aiofiles.open": (0, "file"),
}
READS: dict[str, tuple[int | str, ...]] = {
    "os.listdir": (0, "path"),
    "os.scandir": (0, "path"),
    "os.path.exists": (0,),
    "os.path.isfile": (0,),
    "os.path.isdir": (0,),
    "os.path.getsize": (0,),
    "glob.glob": (0,),
    "shutil.copy": (0,),
    "shutil.copy2": (0,),
    "shutil.copyfile": (0,),
    "shutil.copytree": (0,),
    "aiofiles.os.path.exists": (0,),
    "starlette.responses.FileResponse": (0, "path"),
    "fastapi.responses.FileResponse": (0, "path"),
    "starlette.staticfiles.StaticFiles": ("directory",),
    "fastapi.staticfiles.StaticFiles": ("directory",),
    # Flask serving a file, or the files of a folder
    "flask.send_file": (0, "path_or_file"),
    "flask.helpers.send_file": (0, "path_or_file"),
    "flask.send_from_directory": (0, "directory"),
    "flask.helpers.send_from_directory": (0, "directory"),
}
WRITES: dict[str, tuple[int | str, ...]] = {
    "os.remove": (0, "path"),
    "os.unlink": (0, "path"),
    "os.rename": (0, 1),
    "os.replace": (0, 1),
    "shutil.copy": (1,),
    "shutil.copy2": (1,),
    "shutil.copyfile": (1,),
    "shutil.copytree": (1,),
    "shutil.move": (0, 1),
    "shutil.rmtree": (0,),
    "aiofiles.os.remove": (0,),
}
# Methods of a path (`Path(...) / x`) that touch the disk at it.
PATH_READS = frozenset(
    {"read_text", "read_bytes", "iterdir", "glob", "rglob", "exists", "is_file", "is_dir", "stat"}
)
PATH_WRITES = frozenset({"write_text", "write_bytes", "unlink", "touch", "rmdir"})
# Methods that write to the path they are given (documents, frames, figures, images).
SAVERS = frozenset(
    {"save", "savefig", "to_csv", "to_excel", "to_parquet", "to_json", "write_pdf", "save_as"}
)
# A field or keyword that holds a path to a file (`file_location`, `audio_path`, `output_dir`).
PATH_FIELD = re.compile(r"(?:^|_)(?:path|file|filepath|filename|location|dir|folder)(?:_|$)")
# The last names of the calls that may touch the disk (a cheap test before qualifying).
DISK_NAMES = frozenset(
    {n.rpartition(".")[2] for n in (*OPENERS, *READS, *WRITES)}
    | PATH_READS
    | PATH_WRITES
    | SAVERS
    | {"open"}
)
JOINERS = frozenset({"os.path.join", "pathlib.Path", "pathlib.PurePath", "pathlib.PosixPath"})
ENV = frozenset({"os.getenv", "os.environ.get"})
LOCAL_DEPTH = 3

UNKNOWN = PathExpr("unknown", "", (), None, None, False)


class Paths:
    """Qualifies names by a module's top-level bindings, to recognise the calls that build paths
    and touch the disk."""

    def __init__(self, module: str, bindings: dict[str, Binding]) -> None:
        self.module = module
        self.bindings = bindings

    def qualify(self, expr: ast.expr) -> str | None:
        if isinstance(expr, ast.Name):
            binding = self.bindings.get(expr.id)
            if binding is None:
                return f"builtins.{expr.id}" if expr.id in BUILTIN_NAMES else None
            return binding.target if binding.kind == "import" else f"{self.module}.{expr.id}"
        if isinstance(expr, ast.Attribute):
            base = self.qualify(expr.value)
            return f"{base}.{expr.attr}" if base else None
        return None

    def scope(self, function: FunctionNode | None, local: dict[str, ast.expr]) -> ScopePaths:
        return ScopePaths(self, function, local)


class ScopePaths:
    """The path expressions of one scope (a function, or the module's top level)."""

    def __init__(
        self, paths: Paths, function: FunctionNode | None, local: dict[str, ast.expr]
    ) -> None:
        self.paths = paths
        self.function = function
        self._local = local  # the names the function binds once, to their value

    def _locals(self) -> dict[str, ast.expr]:
        return self._local

    def local(self) -> dict[str, PathExpr]:
        return {name: self.expr(value, 1) for name, value in self._locals().items()}

    def expr(self, expr: ast.expr, depth: int = 0) -> PathExpr:
        """Where a path expression starts, as far as this scope tells."""
        if depth > LOCAL_DEPTH + 1:
            return UNKNOWN
        if isinstance(expr, ast.Constant):
            if isinstance(expr.value, str):
                return PathExpr("lit", expr.value, (), None, None, True)
            return PathExpr("const", "", (), None, None, True)
        if isinstance(expr, ast.JoinedStr):
            return self._joined_str(expr, depth)
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Div):
            inner = self.expr(expr.left, depth + 1)
            return PathExpr("join", "", joined(expr.right), inner, None, True)
        if isinstance(expr, ast.Call):
            return self._call(expr, depth)
        if isinstance(expr, ast.Attribute) and expr.attr == "parent":
            return PathExpr("parent", "", (), self.expr(expr.value, depth + 1), None, True)
        if isinstance(expr, ast.Name) and expr.id in self._locals():
            return PathExpr("local", expr.id, (), None, None, False)
        if isinstance(expr, ast.Name | ast.Attribute):
            return PathExpr("named", "", (), None, chain_of(expr), False)
        return UNKNOWN

    def _joined_str(self, expr: ast.JoinedStr, depth: int) -> PathExpr:
        first = expr.values[0] if expr.values else None
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return PathExpr("flit", first.value, (), None, None, True)
        if isinstance(first, ast.FormattedValue):
            rest = expr.values[1] if len(expr.values) > 1 else None
            tail = str(rest.value) if isinstance(rest, ast.Constant) else ""
            pieces = tail.split("/")[1:-1] if tail.startswith("/") else []
            after = tuple(p for p in pieces if p not in ("", "."))[:1]
            inner = self.expr(first.value, depth + 1)
            return PathExpr("fstr", "", after, inner, None, True)
        return PathExpr("jstr", "", (), None, None, True)

    def _call(self, expr: ast.Call, depth: int) -> PathExpr:
        func = expr.func
        named = isinstance(func, ast.Name | ast.Attribute)
        name = self.paths.qualify(func) if named else None
        if name in JOINERS:
            if not expr.args:
                return PathExpr("join", "", (), UNKNOWN, None, True)
            added = joined(expr.args[1]) if len(expr.args) > 1 else ()
            return PathExpr("join", "", added, self.expr(expr.args[0], depth + 1), None, True)
        if name in ENV:
            inner = self.expr(expr.args[1], depth + 1) if len(expr.args) > 1 else UNKNOWN
            return PathExpr("env", "", (), inner, None, False)
        if isinstance(func, ast.Attribute) and func.attr in ("joinpath", "resolve", "absolute"):
            added = joined(expr.args[0]) if expr.args else ()
            inner = self.expr(func.value, depth + 1)
            return PathExpr("join", "", added, inner, None, func.attr != "absolute")
        return UNKNOWN


def joined(expr: ast.expr) -> tuple[str, ...]:
    """The folder a literal joined onto a path adds (`/ "static"`, `join(d, "pdf", name)`)."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return tuple(p for p in expr.value.split("/") if p not in ("", "."))[:1]
    return ()


def disk_uses(calls: Iterable[ast.Call], paths: ScopePaths) -> Iterator[DiskUse]:
    """The disk accesses among a scope's calls (those whose last name is one of DISK_NAMES):
    each path argument, whether it writes there, and whether it is the object a method is
    called on."""
    for node in calls:
        for expr, writes, receiver in _path_arguments(node, paths.paths):
            yield DiskUse(paths.expr(expr), writes, receiver, node.lineno)


def _path_arguments(call: ast.Call, paths: Paths) -> list[tuple[ast.expr, bool, bool]]:
    func = call.func
    name = (paths.qualify(func) if isinstance(func, ast.Name | ast.Attribute) else None) or ""

    def at(spots: tuple[int | str, ...]) -> list[ast.expr]:
        out = [call.args[s] for s in spots if isinstance(s, int) and s < len(call.args)]
        return out + [k.value for k in call.keywords if k.arg in spots]

    if name in OPENERS:
        return [(e, _writes(call, 1), False) for e in at(OPENERS[name])]
    found = [(e, False, False) for e in at(READS.get(name, ()))]
    found += [(e, True, False) for e in at(WRITES.get(name, ()))]
    if found or not isinstance(func, ast.Attribute):
        return found
    if func.attr in PATH_READS:
        return [(func.value, False, True)]
    if func.attr in PATH_WRITES:
        return [(func.value, True, True)]
    if func.attr == "open":
        return [(func.value, _writes(call, 0), True)]
    if func.attr in SAVERS and call.args:
        return [(call.args[0], True, False)]
    return []


def _writes(call: ast.Call, position: int) -> bool:
    """Whether an `open` call's mode (at `position`, or `mode=`) writes."""
    mode: ast.expr | None = call.args[position] if len(call.args) > position else None
    mode = next((k.value for k in call.keywords if k.arg == "mode"), mode)
    if mode is None:
        return False
    if isinstance(mode, ast.Constant) and isinstance(mode.value, str):
        return any(c in mode.value for c in "wax+")
    return True  # a mode the analysis cannot read: it may write
