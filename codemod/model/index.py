"""Lazy repository index: module-level bindings and signatures, parsed with `ast` on demand."""

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
from dataclasses import dataclass, field
from pathlib import Path

from codemod.model.files import module_name, module_path, relpath
from codemod.models import Param, Signature

BUILTIN_NAMES = frozenset(dir(builtins))
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


def scope_bindings(body: list[ast.stmt], module: str, is_package: bool) -> dict[str, Binding]:
    """Names bound by the statements of one scope (not nested scopes), the last binding winning."""
    out: dict[str, Binding] = {}
    for node in scope_statements(body):
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


@dataclass
class ModuleInfo:
    module: str
    path: Path
    tree: ast.Module
    source: str
    is_package: bool
    bindings: dict[str, Binding] = field(default_factory=dict)
    _line_cache: list[str] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def parse(cls, module: str, path: Path, source: str) -> ModuleInfo:
        tree = ast.parse(source, filename=str(path))
        # The tree lives as long as the run and holds no cycles: out of the collector's sight, or
        # every collection rescans every tree parsed so far (parsing the standard library: 3.0 s
        # with the tree scanned, 1.7 s frozen).
        gc.freeze()
        is_package = path.name == "__init__.py"
        info = cls(module, path, tree, source, is_package)
        info.bindings = scope_bindings(tree.body, module, is_package)
        return info

    def qualify(self, name: str) -> str | None:
        """The qualified name that a module-level name refers to."""
        binding = self.bindings.get(name)
        if binding is None:
            return f"builtins.{name}" if name in BUILTIN_NAMES else None
        if binding.kind == "import":
            return binding.target
        return f"{self.module}.{name}"

    def qualify_expr(self, expr: ast.expr) -> str | None:
        """The qualified name a module-level name or dotted attribute refers to."""
        if isinstance(expr, ast.Name):
            return self.qualify(expr.id)
        if isinstance(expr, ast.Attribute):
            base = self.qualify_expr(expr.value)
            return f"{base}.{expr.attr}" if base else None
        return None

    def line(self, number: int) -> str:
        """Line `number` (1-based) as `ast` numbers lines, without its line break."""
        lines = self._lines()
        return lines[number - 1].rstrip("\r\n") if 0 < number <= len(lines) else ""

    def segment(self, node: ast.AST) -> str:
        return source_segment(self._lines(), node) or ast.unparse(node)

    def _lines(self) -> list[str]:
        # Split once per module: ast.get_source_segment splits the whole source on every call.
        if self._line_cache is None:
            self._line_cache = split_lines(self.source)
        return self._line_cache


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


def rebase_imports(info: ModuleInfo, root: Path) -> None:
    """Module-level imports written for a sub-folder on `sys.path` (`from utils import f` in
    backend/server/app.py, for backend/utils.py) name what Python would import there: the
    binding's target becomes `backend.utils.f`. Only names that no module of the root and no
    standard library module has are looked for, beside each of the module's own folders."""
    for name, binding in list(info.bindings.items()):
        if binding.kind != "import":
            continue
        top = binding.target.partition(".")[0]
        folder = sub_root_folder(top, info.path, root)
        if folder is not None:
            prefix = module_name(relpath(folder / "__init__.py", root))
            target = f"{prefix}.{binding.target}" if prefix else binding.target
            info.bindings[name] = Binding("import", target, binding.line, binding.node)


def sub_root_folder(top: str, path: Path, root: Path) -> Path | None:
    """The folder above `path` (below `root`) that has a module `top`, when neither the root
    nor the standard library has one: what `import top` means with that folder on sys.path."""
    if top in sys.stdlib_module_names or _at_root(top, root):
        return None
    folder = path.parent
    if (folder / "__init__.py").is_file():
        # a package's own siblings are not importable by their bare name (`import redis` in
        # app/services/cache.py means the library even beside app/services/redis.py)
        folder = folder.parent
    while folder != root and root in folder.parents:
        if _has_module(top, folder):
            return folder
        folder = folder.parent
    return None


@functools.lru_cache(maxsize=8192)
def _at_root(top: str, root: Path) -> bool:
    return module_path(top, root) is not None or (root / top).is_dir()


@functools.lru_cache(maxsize=8192)
def _has_module(top: str, folder: Path) -> bool:
    return (folder / f"{top}.py").is_file() or (folder / top / "__init__.py").is_file()


class RepoIndex:
    """Modules of the repository under root, parsed lazily and cached."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._modules: dict[str, ModuleInfo | None] = {}
        self._analysing: str | None = None
        self._needed: set[str] = set()  # looked up while analysing another module

    def add(self, info: ModuleInfo) -> None:
        """A module parsed for its own analysis (which `release` ends)."""
        rebase_imports(info, self.root)
        self._modules[info.module] = info
        self._analysing = info.module

    def release(self, info: ModuleInfo) -> None:
        """Forget a module whose analysis is over, unless another module's analysis looked it up:
        a tree freed right away costs far less than a run's worth of trees kept to its end (the
        all-hit benchmark with -j 1: 351 MB and 4.4 s kept, 31 MB and 3.3 s freed). Looked up
        again later, it is parsed again, then kept."""
        self._analysing = None
        if info.module not in self._needed and self._modules.get(info.module) is info:
            del self._modules[info.module]

    def module(self, name: str) -> ModuleInfo | None:
        if name != self._analysing:
            self._needed.add(name)
        if name not in self._modules:
            self._modules[name] = self._load(name)
        return self._modules[name]

    def _load(self, name: str) -> ModuleInfo | None:
        path = module_path(name, self.root) if name else None
        if path is None:
            return None
        try:
            info = ModuleInfo.parse(name, path, decode_source(path.read_bytes()))
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            return None
        rebase_imports(info, self.root)
        return info

    def parsed(self, name: str, path: Path, source: str) -> ModuleInfo | None:
        """The module's tree if it is parsed already, from this very file and text."""
        info = self._modules.get(name)
        if info is not None and info.path == path and info.source == source:
            return info
        return None

    def exists(self, name: str) -> bool:
        """Whether the repository has a module of that name (without parsing it)."""
        if name in self._modules:
            return self._modules[name] is not None
        return module_path(name, self.root) is not None

    def loaded(self, name: str) -> bool:
        """Whether a module has been looked up already (found or not)."""
        return name in self._modules

    def split(self, qualname: str) -> tuple[ModuleInfo, str] | None:
        """Longest repository module prefix of a qualified name, and the rest."""
        parts = qualname.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            info = self.module(".".join(parts[:cut]))
            if info is not None:
                return info, ".".join(parts[cut:])
        return None

    def resolve(self, qualname: str, depth: int = 0) -> tuple[ModuleInfo, Binding] | None:
        """The module-level binding that a qualified name ends at, following re-exports."""
        found = self.split(qualname)
        if found is None or depth > 10:
            return None
        info, rest = found
        binding = info.bindings.get(rest)
        if binding is None or "." in rest:
            return None
        if binding.kind == "import":
            if binding.target == qualname:
                return None
            return self.resolve(binding.target, depth + 1) or (info, binding)
        return info, binding


def defaults_of(node: FunctionNode) -> list[tuple[ast.arg, ast.expr | None]]:
    """Each named parameter (positional-only, positional, keyword-only) with its default."""
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults.extend(args.defaults)
    return [
        *zip(positional, defaults, strict=True),
        *zip(args.kwonlyargs, args.kw_defaults, strict=True),
    ]


def signature_of(info: ModuleInfo, node: FunctionNode) -> Signature:
    """The parameters of a module-level function, with the imports its annotations need."""
    args = node.args
    params: list[Param] = []
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults.extend(args.defaults)
    for i, arg in enumerate(positional):
        kind = "posonly" if i < len(args.posonlyargs) else "normal"
        params.append(_param(info, arg, kind, defaults[i]))
    if args.vararg:
        params.append(_param(info, args.vararg, "vararg", None))
    for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        params.append(_param(info, arg, "kwonly", default))
    if args.kwarg:
        params.append(_param(info, args.kwarg, "kwarg", None))
    needed: dict[tuple[str, str | None, str | None], None] = {}
    exprs = [a.annotation for a in (*positional, *args.kwonlyargs) if a.annotation]
    exprs += [d for d in (*args.defaults, *args.kw_defaults) if d is not None]
    for expr in exprs:
        for name in _root_names(expr):
            spec = _import_spec(info, name)
            if spec is not None:
                needed[spec] = None
    return Signature(
        info.module,
        node.name,
        isinstance(node, ast.AsyncFunctionDef),
        tuple(params),
        tuple(sorted(needed, key=lambda s: (s[0], s[1] or "", s[2] or ""))),
    )


def _param(info: ModuleInfo, arg: ast.arg, kind: str, default: ast.expr | None) -> Param:
    annotation = info.segment(arg.annotation) if arg.annotation else None
    return Param(arg.arg, kind, annotation, info.segment(default) if default is not None else None)


def _root_names(expr: ast.expr) -> list[str]:
    names = [n.id for n in ast.walk(expr) if isinstance(n, ast.Name)]
    for node in ast.walk(expr):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            inner = parse_expression(node.value)
            if inner is not None:
                names += _root_names(inner)
    return names


def _import_spec(info: ModuleInfo, name: str) -> tuple[str, str | None, str | None] | None:
    """How a wrapper imports a name that an implementation's annotation or default uses."""
    binding = info.bindings.get(name)
    if binding is None:
        return None  # a builtin, or a name the wrapper cannot see either way
    if binding.kind != "import":
        return (info.module, name, None)
    node = binding.node
    if isinstance(node, ast.Import):
        module = binding.target
        return (module, None, name if name != module else None)
    module, _, attr = binding.target.rpartition(".")
    return (module, attr, name if name != attr else None)


def wrapped_implementation(node: FunctionNode) -> str | None:
    """The implementation a task generated by this tool runs (explicit name=, ignore_result,
    autoretry_for; the implementation imported in its body); None for any other function."""
    generated = any(
        isinstance(d, ast.Call)
        and {"name", "ignore_result", "autoretry_for"} <= {k.arg for k in d.keywords}
        for d in node.decorator_list
    )
    if not generated:
        return None
    for sub in ast.walk(node):
        if isinstance(sub, ast.ImportFrom) and sub.module and sub.level == 0:
            return f"{sub.module}.{sub.names[0].name}"
    return None


def tune_interpreter() -> None:
    """For a run over many modules, in the main process and in each worker process."""
    # LibCST and ast need deep recursion on deeply nested expressions (stdlib pydoc_data).
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    # Syntax trees are millions of small objects and free of cycles: with the default thresholds
    # the cyclic collector rescans them every 700 allocations, which made parsing 3-4x slower
    # (ast over the standard library: 8.6 s -> 2.4 s). Memory is still bounded: see the benchmark.
    gc.set_threshold(200_000, 30, 30)
