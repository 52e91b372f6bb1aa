"""Arguments that name a file on the web host's disk: temp files and folders, files written."""

from __future__ import annotations

import ast
from collections.abc import Callable

from codemod.model.syntax import FunctionNode

# tempfile's functions and classes whose result is (or holds) a path on this host.
TEMP_PATHS = frozenset({"tempfile.mkdtemp", "tempfile.gettempdir", "tempfile.gettempdirb"})
TEMP_FILES = frozenset(
    {
        "tempfile.NamedTemporaryFile",
        "tempfile.TemporaryDirectory",
        "tempfile.mkstemp",
        "tempfile.SpooledTemporaryFile",
        "tempfile.TemporaryFile",
        "aiofiles.tempfile.NamedTemporaryFile",
        "aiofiles.tempfile.TemporaryDirectory",
    }
)
# Calls that build a path from their arguments, and path methods that derive one.
PATH_BUILDERS = frozenset(
    {
        "os.path.join",
        "os.path.abspath",
        "os.path.realpath",
        "os.path.normpath",
        "os.fspath",
        "builtins.str",
        "pathlib.Path",
        "pathlib.PurePath",
        "pathlib.PosixPath",
    }
)
PATH_METHODS = frozenset(
    {"joinpath", "with_suffix", "with_name", "resolve", "absolute", "as_posix"}
)
# Writes that leave a file behind: open(p, "w...") and its kin, `Path.write_*`, copies and moves.
WRITE_MODES = frozenset("wax+")
WRITERS = frozenset({"builtins.open", "aiofiles.open", "io.open", "codecs.open"})
PATH_WRITES = frozenset({"write_bytes", "write_text", "touch", "mkdir"})
COPIES = frozenset({"shutil.copy", "shutil.copy2", "shutil.copyfile", "shutil.move"})

Qualify = Callable[[ast.expr], "str | None"]


def host_path(exprs: list[ast.expr], function: FunctionNode | None, qualify: Qualify) -> str | None:
    """Why one of a call's arguments names a path on the web host (a description), or None."""
    if function is None or not exprs:
        return None
    paths = HostPaths(function, qualify)
    return next(filter(None, map(paths.why, exprs)), None)


class HostPaths:
    """The names of one function that hold a path on this host, with why."""

    def __init__(self, function: FunctionNode, qualify: Qualify) -> None:
        self.qualify = qualify
        self.names: dict[str, str] = {}  # name -> why
        self.temp_objects: dict[str, str] = {}  # `with NamedTemporaryFile() as f`: f -> why
        nodes = [n for n in ast.walk(function) if not isinstance(n, ast.Lambda)]
        for _ in range(3):  # names built from names built from temp files
            before = len(self.names) + len(self.temp_objects)
            for node in nodes:
                self._bind(node)
            if len(self.names) + len(self.temp_objects) == before:
                break
        for node in nodes:
            self._written(node)

    def why(self, expr: ast.expr) -> str | None:
        if isinstance(expr, ast.Name) and expr.id in self.names:
            return f"`{expr.id}` is {self.names[expr.id]}"
        found = self._path(expr)
        return f"`{ast.unparse(expr)}` is {found}" if found else None

    def _bind(self, node: ast.AST) -> None:
        if isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                target = item.optional_vars
                if not isinstance(target, ast.Name):
                    continue
                kind = self._temp_call(item.context_expr)
                if kind == "tempfile.TemporaryDirectory" or kind == (
                    "aiofiles.tempfile.TemporaryDirectory"
                ):
                    self.names.setdefault(
                        target.id, f"a temporary folder the handler created (line {node.lineno})"
                    )
                elif kind is not None:
                    self.temp_objects.setdefault(
                        target.id, f"a temporary file the handler created (line {node.lineno})"
                    )
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found = self._path(node.value)
            for target in targets:
                names = target.elts if isinstance(target, ast.Tuple) else [target]
                # `fd, path = tempfile.mkstemp()`: the path is the second
                mkstemp = self._temp_call(node.value) == "tempfile.mkstemp"
                if found is None and mkstemp and len(names) == 2:
                    names, found = (
                        [names[1]],
                        f"a temporary file the handler created (line {node.lineno})",
                    )
                for name in names:
                    if isinstance(name, ast.Name) and found is not None:
                        self.names.setdefault(name.id, found)

    def _written(self, node: ast.AST) -> None:
        """Names of paths the function writes a file to: the path an upload was saved at."""
        if not isinstance(node, ast.Call):
            return
        target: ast.expr | None = None
        name = self.qualify(node.func)
        if name in WRITERS and node.args:
            mode = node.args[1] if len(node.args) > 1 else _keyword(node, "mode")
            text = mode.value if isinstance(mode, ast.Constant) else None
            if isinstance(text, str) and WRITE_MODES & set(text):
                target = node.args[0]
        elif name in COPIES and len(node.args) > 1:
            target = node.args[1]
        elif isinstance(node.func, ast.Attribute) and node.func.attr in PATH_WRITES:
            target = node.func.value
        while isinstance(target, ast.Call) and self.qualify(target.func) in PATH_BUILDERS:
            target = target.args[0] if target.args else None
        if isinstance(target, ast.Name):
            self.names.setdefault(
                target.id, f"a file the handler wrote on this host (line {node.lineno})"
            )

    def _temp_call(self, expr: ast.expr) -> str | None:
        if isinstance(expr, ast.Await):
            expr = expr.value
        if isinstance(expr, ast.Call):
            name = self.qualify(expr.func)
            if name in TEMP_FILES or name in TEMP_PATHS:
                return name
        return None

    def _path(self, expr: ast.expr) -> str | None:
        """Why an expression evaluates to a path on this host, or None."""
        if isinstance(expr, ast.Name):
            return self.names.get(expr.id)
        if isinstance(expr, ast.Attribute):
            if expr.attr == "name" and isinstance(expr.value, ast.Name):
                return self.temp_objects.get(expr.value.id)
            if expr.attr in ("parent", "stem", "name", "suffix"):
                return None if expr.attr != "parent" else self._path(expr.value)
            return None
        if isinstance(expr, ast.Subscript) and self._temp_call(expr.value) == "tempfile.mkstemp":
            return f"a temporary file the handler created (line {expr.lineno})"
        if isinstance(expr, ast.Call):
            kind = self._temp_call(expr)
            if kind in TEMP_PATHS:
                return f"a temporary folder on the web host (line {expr.lineno})"
            name = self.qualify(expr.func)
            if name in PATH_BUILDERS:
                return next(filter(None, map(self._path, expr.args)), None)
            if isinstance(expr.func, ast.Attribute) and expr.func.attr in PATH_METHODS:
                return self._path(expr.func.value)
            return None
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Div | ast.Add):
            return self._path(expr.left) or self._path(expr.right)
        if isinstance(expr, ast.JoinedStr):
            for value in expr.values:
                if isinstance(value, ast.FormattedValue):
                    found = self._path(value.value)
                    if found:
                        return found
        return None


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)
