"""Lazy repository index: module-level bindings and signatures, parsed with `ast` on demand."""

from __future__ import annotations

import ast
import gc
from dataclasses import dataclass, field
from pathlib import Path

from codemod.model.files import module_name, module_path, relpath, sub_root_folder
from codemod.model.syntax import (
    BUILTIN_NAMES,
    Binding,
    FunctionNode,
    decode_source,
    parse_expression,
    scope_bindings,
    source_segment,
    split_lines,
)
from codemod.models import Param, Signature


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
