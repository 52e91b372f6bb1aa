"""Jobs that use a folder the web side uses too: files that stay on the web host's disk."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass

from codemod.analysis.webside import JobCheck
from codemod.model.calls import Function, Resolver, body_nodes
from codemod.model.files import module_name, relpath
from codemod.model.index import ModuleInfo

# A folder (or file) named the same way on both sides: a literal path ("", ("outputs",)), a
# module-level name or attribute and what is joined to it ("app.config.UPLOAD_DIR", ("pdf",)).
Folder = tuple[str, tuple[str, ...]]

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
JOINERS = frozenset({"os.path.join", "pathlib.Path", "pathlib.PurePath", "pathlib.PosixPath"})
ENV = frozenset({"os.getenv", "os.environ.get"})
# Folders that many unrelated jobs use for scratch files: sharing them means nothing.
SCRATCH = frozenset({("/", ("tmp",)), ("/", ("var", "tmp"))})
MAX_FILES = 150
LOCAL_DEPTH = 3
HINT = (
    "a worker on another host reads and writes its own disk: keep the files where both reach "
    "them (object storage, the database) first; or set `shared-filesystem = true` if web and "
    "workers share a disk"
)


@dataclass(frozen=True)
class _Use:
    function: str  # the display name, or "the module level"
    path: str  # root-relative
    line: int
    what: str  # "writes `outputs/...`"


class SharedDisk(JobCheck):
    """The folders a job shares with the web side, per process (jobs are asked once)."""

    def _shared(self, job: Function) -> str | None:
        walk = self.walk(job)
        keys = {f.key for f in walk}
        root = self.resolver.index.root
        for function in walk:
            uses = [*_disk_uses(function.info, function, self.resolver), *_path_records(function)]
            for folder, text, writes, _ in uses:
                web = self._web_use(folder, keys, writes)
                if web is None:
                    continue
                if web.what == "":
                    return (
                        f"`{function.display}` uses `{text}`, whose name more than {MAX_FILES} "
                        "modules spell: its other users were not checked"
                    )
                where = f"{web.path}:{web.line}"
                verb = "writes to" if writes else "reads"
                if folder[0].startswith(".") and text.endswith("=..."):
                    verb = "records the path"
                return (
                    f"`{function.display}` ({relpath(function.info.path, root)}) {verb} "
                    f"`{text}`, which {web.function} ({where}) {web.what} too in the web process"
                )
        return None

    def _web_use(self, folder: Folder, walk: set[str], job_writes: bool) -> _Use | None:
        base, parts = folder
        word = parts[0] if base in ("", "/") else base.rpartition(".")[2]
        if base.startswith("."):
            word = base[1:]
        rels = self._spelling(word)
        if len(rels) > MAX_FILES:
            return _Use("", "", 0, "")
        root = self.resolver.index.root
        for rel in rels:
            info = self.resolver.index.module(module_name(rel))
            if info is None:
                continue
            scopes: list[Function | None] = [None]
            scopes += [f for f in self.resolver.functions(info).values() if f.key not in walk]
            for scope in scopes:
                for found, text, writes, line in _disk_uses(info, scope, self.resolver):
                    web = scope is None or self.web.runs(scope)
                    if _same(found, folder) and (job_writes or writes) and web:
                        name = f"`{scope.display}`" if scope else "the module level"
                        verb = "writes to" if writes else "reads"
                        if base.startswith("."):
                            verb = "opens the file at"
                        return _Use(name, relpath(info.path, root), line, f"{verb} `{text}`")
        return None


def _same(a: Folder, b: Folder) -> bool:
    """The same folder, or one inside the other."""
    if a[0] != b[0]:
        return False
    short, long = sorted((a[1], b[1]), key=len)
    return long[: len(short)] == short and (bool(short) or a[0] not in ("", "/"))


def _disk_uses(
    info: ModuleInfo, function: Function | None, resolver: Resolver
) -> Iterator[tuple[Folder, str, bool, int]]:
    """(folder, how the code spells it) of each disk access of a function (or of the module's
    top level, with `function` None) whose path starts at a folder named the same way
    anywhere: a literal, a module-level name, or what is joined to them."""
    paths = _Paths(info, function, resolver)
    for node in paths.nodes():
        if not isinstance(node, ast.Call):
            continue
        for expr, writes, receiver in _path_arguments(node, info):
            if receiver and not paths.pathish(expr, 0):
                continue  # `gzip.open(...)`, `storage.open(...)`: no path of this disk
            for folder in paths.folders(expr, 0):
                if folder not in SCRATCH:
                    yield folder, _spelled(folder), writes, node.lineno


def _path_records(function: Function) -> Iterator[tuple[Folder, str, bool, int]]:
    """Where a job records a path as data for others to open (`Podcast(file_location=path)`,
    `row.file_path = path`): a field named as a path, which the web side may read from disk."""
    for node in body_nodes(function.node):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg and PATH_FIELD.search(keyword.arg):
                    yield (f".{keyword.arg}", ()), f"{keyword.arg}=...", True, node.lineno
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Attribute) and PATH_FIELD.search(target.attr):
                    yield (f".{target.attr}", ()), f".{target.attr} = ...", True, node.lineno


def _spelled(folder: Folder) -> str:
    base, parts = folder
    if base.startswith("."):
        return f"<record>{base}"
    head = [] if base in ("", "/") else [base.rpartition(".")[2]]
    return ("/" if base == "/" else "") + "/".join(head + list(parts)) + "/..."


def _path_arguments(call: ast.Call, info: ModuleInfo) -> list[tuple[ast.expr, bool, bool]]:
    """The path arguments of a call that touches the disk, each with whether it writes there
    and whether it is the object a method is called on (`path.write_text(...)`)."""
    func = call.func
    name = (info.qualify_expr(func) if isinstance(func, ast.Name | ast.Attribute) else None) or ""

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


class _Paths:
    """Where the path expressions of one scope start."""

    def __init__(self, info: ModuleInfo, function: Function | None, resolver: Resolver) -> None:
        self.info = info
        self.function = function
        self.resolver = resolver
        self._local: dict[str, ast.expr] | None = None

    def nodes(self) -> Iterator[ast.AST]:
        if self.function is not None:
            yield from body_nodes(self.function.node)
            return
        for stmt in self.info.tree.body:
            if not isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                yield from ast.walk(stmt)

    def local(self) -> dict[str, ast.expr]:
        """Names the function binds once, to their value."""
        if self._local is None:
            counts: dict[str, int] = {}
            values: dict[str, ast.expr] = {}
            if self.function is not None:
                for node in body_nodes(self.function.node):
                    if isinstance(node, ast.Assign) and len(node.targets) == 1:
                        target = node.targets[0]
                        if isinstance(target, ast.Name):
                            counts[target.id] = counts.get(target.id, 0) + 1
                            values[target.id] = node.value
                    elif isinstance(node, ast.AnnAssign | ast.AugAssign) and isinstance(
                        node.target, ast.Name
                    ):
                        counts[node.target.id] = 2  # annotated or augmented: not followed
            self._local = {k: v for k, v in values.items() if counts[k] == 1}
        return self._local

    def folders(self, expr: ast.expr, depth: int) -> list[Folder]:
        if depth > LOCAL_DEPTH:
            return []
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            found = _literal(expr.value, complete=True)
            return [found] if found else []
        if isinstance(expr, ast.JoinedStr):
            first = expr.values[0] if expr.values else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found = _literal(first.value, complete=False)
                return [found] if found else []
            if isinstance(first, ast.FormattedValue):
                rest = expr.values[1] if len(expr.values) > 1 else None
                tail = str(rest.value) if isinstance(rest, ast.Constant) else ""
                pieces = tail.split("/")[1:-1] if tail.startswith("/") else []
                after = tuple(p for p in pieces if p not in ("", "."))[:1]
                return [(b, p + after) for b, p in self.folders(first.value, depth + 1)]
            return []
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Div):
            right = _joined(expr.right)
            return [(b, p + right) for b, p in self.folders(expr.left, depth + 1)]
        if isinstance(expr, ast.Call):
            func = expr.func
            named = isinstance(func, ast.Name | ast.Attribute)
            name = self.info.qualify_expr(func) if named else None
            if name in JOINERS and expr.args:
                added = _joined(expr.args[1]) if len(expr.args) > 1 else ()
                return [(b, p + added) for b, p in self.folders(expr.args[0], depth + 1)]
            if name in ENV and len(expr.args) > 1:
                return self.folders(expr.args[1], depth + 1)
            if isinstance(func, ast.Attribute) and func.attr in ("joinpath", "resolve", "absolute"):
                added = _joined(expr.args[0]) if expr.args else ()
                return [(b, p + added) for b, p in self.folders(func.value, depth + 1)]
            return []
        if isinstance(expr, ast.Attribute) and expr.attr == "parent":
            return self.folders(expr.value, depth + 1)
        if isinstance(expr, ast.Name) and expr.id in self.local():
            return self.folders(self.local()[expr.id], depth + 1)
        if isinstance(expr, ast.Name | ast.Attribute):
            return self._module_level(expr, depth)
        return []

    def pathish(self, expr: ast.expr, depth: int) -> bool:
        """Whether an expression is evidently a path: a literal, `Path(...)`, `a / b`, `.parent`
        of one, or a name bound to one."""
        if depth > LOCAL_DEPTH:
            return False
        if isinstance(expr, ast.Constant | ast.JoinedStr) or (
            isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Div)
        ):
            return True
        if isinstance(expr, ast.Call):
            func = expr.func
            named = isinstance(func, ast.Name | ast.Attribute)
            if named and self.info.qualify_expr(func) in JOINERS:
                return True
            return isinstance(func, ast.Attribute) and func.attr in ("joinpath", "resolve")
        if isinstance(expr, ast.Attribute) and expr.attr == "parent":
            return True
        if isinstance(expr, ast.Name) and expr.id in self.local():
            return self.pathish(self.local()[expr.id], depth + 1)
        if isinstance(expr, ast.Name):
            qualname = self.info.qualify(expr.id)
            found = self.resolver.index.resolve(qualname) if qualname else None
            value = getattr(found[1].node, "value", None) if found else None
            if found is not None and found[1].kind == "assign" and isinstance(value, ast.expr):
                return _Paths(found[0], None, self.resolver).pathish(value, depth + 1)
        return False

    def _module_level(self, expr: ast.Name | ast.Attribute, depth: int) -> list[Folder]:
        if isinstance(expr, ast.Name) and self.function is not None:
            params = self.resolver.local_bindings(self.function).get(expr.id)
            if params is not None:
                return []  # a parameter or a local bound more than once: not followed
        if (
            isinstance(expr, ast.Attribute)
            and isinstance(expr.value, ast.Name)
            and self.function is not None
            and expr.value.id in self.resolver.local_bindings(self.function)
            and PATH_FIELD.search(expr.attr)
        ):
            return [(f".{expr.attr}", ())]  # `podcast.file_location`: a path kept as data
        qualname = self.info.qualify_expr(expr)
        if qualname is None or qualname.startswith("builtins."):
            return []
        root: ast.expr = expr
        while isinstance(root, ast.Attribute):
            root = root.value
        base = self.info.qualify(root.id) if isinstance(root, ast.Name) else None
        index = self.resolver.index
        if base is None or (index.resolve(base) is None and not index.exists(base)):
            return []  # a library's name (`gzip`, `tempfile`): no folder of the app's
        out: list[Folder] = [(qualname, ())]
        found = self.resolver.index.resolve(qualname)
        if found is not None:
            info, binding = found
            value = getattr(binding.node, "value", None)
            if binding.kind == "assign" and isinstance(value, ast.expr):
                out += _Paths(info, None, self.resolver).folders(value, depth + 1)
        return out


def _joined(expr: ast.expr) -> tuple[str, ...]:
    """The folder a literal joined onto a path adds (`/ "static"`, `join(d, "pdf", name)`)."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return tuple(p for p in expr.value.split("/") if p not in ("", "."))[:1]
    return ()


def _literal(text: str, complete: bool) -> Folder | None:
    """Where a literal path starts: its first folder (two for an absolute path); `complete`
    False for the text before an f-string's first field, whose last piece runs on into it."""
    absolute = text.startswith("/")
    pieces = text.split("/")
    if not complete:
        pieces = pieces[:-1]
    parts = tuple(p for p in pieces if p not in ("", "."))
    parts = parts[:2] if absolute else parts[:1]
    return ("/" if absolute else "", parts) if parts else None
