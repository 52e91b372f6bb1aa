"""One module's source -> its summary (`summary.ModuleSummary`): parsed once, walked once, and
reduced to the plain data that every analysis reads instead of the tree."""

from __future__ import annotations

import ast
import functools
import hashlib
import sys
from pathlib import Path

from codemod.model.detect import markers as marker_names
from codemod.model.detect import may_have_sites
from codemod.model.functions import summarise_function, summarise_top_level
from codemod.model.index import ModuleInfo
from codemod.model.nodes import Segment, annotation_class, class_chain, value_class
from codemod.model.paths import Paths
from codemod.model.sites import site_facts
from codemod.model.summary import (
    MAIN_BLOCK,
    Binding,
    Chain,
    Class,
    Field,
    Import,
    ModuleSummary,
    Value,
    dumps,
)
from codemod.model.syntax import Binding as TreeBinding
from codemod.model.syntax import (
    FunctionNode,
    decode_source,
    last_name,
    name_chain,
    newer_python_may_parse,
    resolve_relative,
    scope_bindings,
    scope_statements,
    split_lines,
    syntax_message,
    without_type_parameters,
)

CONTAINER_NODES = (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)
NEWTYPES = frozenset({"NewType"})
_V1_DECORATORS = frozenset({"validator", "root_validator"})
_INIT = frozenset({"__init__", "__post_init__", "__new__", "__init_subclass__"})
# What an alias of a type may be: its value is one of these.
_TYPE_LIKE = (ast.Name, ast.Attribute, ast.Subscript, ast.BinOp, ast.Constant)

# The modules whose code decides what a summary holds: their text is part of every cache key,
# so that a summary made by other code (another version, a change during development) is
# never read back.
_SUMMARISERS = (
    "summary",
    "summarise",
    "scan",
    "nodes",
    "signature",
    "loops",
    "functions",
    "paths",
    "sites",
    "task_handle",
    "arg_facts",
    "detect",
    "hostpath",
    "syntax",
    "noqa",
    "index",
)


@functools.cache
def summary_version() -> str:
    """A fingerprint of the code that makes summaries (computed once, when the cache is used)."""
    digest = hashlib.blake2b(digest_size=12)
    folder = Path(__file__).parent
    for name in _SUMMARISERS:
        digest.update((folder / f"{name}.py").read_bytes())
    digest.update((folder.parent / "models.py").read_bytes())
    return digest.hexdigest()


def summarise(module: str, path: Path, data: bytes) -> ModuleSummary:
    """Never raises for a problem of the file: it becomes the summary's error."""
    is_package = path.name == "__init__.py"
    try:
        source = decode_source(data)
        tree, newer = _parse(source, path)
    except SyntaxError as exc:
        if exc.lineno is None:  # from the encoding detection: undecodable first lines, bad cookie
            return failed(module, is_package, f"cannot decode: {exc.msg}")
        return failed(module, is_package, syntax_message(exc))
    except (UnicodeDecodeError, LookupError) as exc:
        return failed(module, is_package, f"cannot decode: {exc}")
    except (ValueError, RecursionError, MemoryError) as exc:
        return failed(module, is_package, f"cannot parse: {exc}")
    info = ModuleInfo(module, path, tree, source, is_package)
    info.bindings = scope_bindings(tree.body, module, is_package)
    try:
        summary = _Summariser(info, data).summary()
    except RecursionError:
        return failed(module, is_package, "too deeply nested to analyse")
    return summary._replace(newer=newer) if newer else summary


def _parse(source: str, path: Path) -> tuple[ast.Module, str | None]:
    """The module's tree; for a module written for a newer Python (PEP 695's type parameters,
    `type X = ...`), the tree of it made older, line for line (the summary is what the other
    modules' analyses read: a site of such a module is still refused by the rewrite)."""
    try:
        return ast.parse(source, filename=str(path)), None
    except SyntaxError as exc:
        older = without_type_parameters(source) if newer_python_may_parse(exc, _VERSION) else None
        if older is None:
            raise
        try:
            return ast.parse(older, filename=str(path)), syntax_message(exc)
        except SyntaxError:
            raise exc from None


_VERSION = (sys.version_info[0], sys.version_info[1])


def failed(module: str, is_package: bool, error: str) -> ModuleSummary:
    return ModuleSummary(
        module, is_package, error, {}, (), (), None, frozenset(), {}, {}, None, frozenset()
    )


class _Summariser:
    def __init__(self, info: ModuleInfo, data: bytes) -> None:
        self.info = info
        self.data = data
        self.segment = Segment(split_lines(info.source))
        self.paths = Paths(info.module, info.bindings)
        self.starters = marker_names(info.source)[1]

    def summary(self) -> ModuleSummary:
        info = self.info
        functions: dict[tuple[str, ...], bytes] = {}
        changing: set[tuple[str, ...]] = set()  # functions that change `self` in place
        attributes: dict[tuple[str, ...], list[tuple[str, Chain]]] = {}  # by class
        declared: set[str] = set()
        classes: dict[tuple[str, ...], Class] = {}
        names: set[str] = set()
        top = summarise_top_level(info.tree, self.starters, self.segment, self.paths)
        functions[()] = dumps(top)
        main = summarise_top_level(info.tree, self.starters, self.segment, self.paths, True)
        if main is not None:
            functions[MAIN_BLOCK] = dumps(main)
        stack: list[tuple[list[ast.stmt], tuple[str, ...], tuple[str, ...] | None]] = [
            (info.tree.body, (), None)
        ]
        while stack:
            body, path, owner = stack.pop()
            for stmt in scope_statements(body):
                if isinstance(stmt, FunctionNode):
                    here = (*path, stmt.name)
                    function = summarise_function(
                        stmt,
                        here,
                        owner,
                        info.module,
                        info.is_package,
                        self.starters,
                        self.segment,
                        self.paths,
                    )
                    functions[here] = dumps(function)
                    names.add(stmt.name)
                    declared |= function.globals
                    if function.changes_self:
                        changing.add(here)
                    if function.self_attrs and owner is not None:
                        attributes.setdefault(owner, []).extend(function.self_attrs)
                    stack.append((stmt.body, here, None))
                elif isinstance(stmt, ast.ClassDef):
                    here = (*path, stmt.name)
                    classes[here] = self._class(stmt, here)
                    stack.append((stmt.body, here, here))
        for path, cls in classes.items():
            methods = frozenset(
                name
                for name, method in cls.methods.items()
                if name not in _INIT
                and any(f[: len(method)] == method for f in changing if len(f) >= len(method))
            )
            known = dict(cls.attributes)
            for name, chain in attributes.get(path, ()):
                known.setdefault(name, chain)
            classes[path] = cls._replace(changing_methods=methods, attributes=known)
        sites = dumps(site_facts(info)) if may_have_sites(self.data) else None
        return ModuleSummary(
            module=info.module,
            is_package=info.is_package,
            error=None,
            bindings=self._bindings(),
            star_imports=self._star_imports(),
            imports=self._imports(),
            sys_path_line=self._sys_path_line(),
            global_names=frozenset(declared),
            classes=classes,
            functions=functions,
            sites=sites,
            names=frozenset(names),
        )

    # --- module level ----------------------------------------------------------------------

    def _bindings(self) -> dict[str, Binding]:
        """The module-level bindings, each assignment with the class an annotation of its name
        declares anywhere at the top level (under `if TYPE_CHECKING:` too)."""
        declared: dict[str, Chain] = {}
        for stmt in scope_statements(self.info.tree.body):
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                cls = annotation_class(stmt.annotation)
                if cls is not None:
                    declared.setdefault(stmt.target.id, cls)
        out: dict[str, Binding] = {}
        for name, binding in self.info.bindings.items():
            found = self._binding(binding)
            if found.value is not None and name in declared:
                found = found._replace(value=found.value._replace(declared=declared[name]))
            out[name] = found
        return out

    def _binding(self, binding: TreeBinding) -> Binding:
        node = binding.node
        value = self._value(node) if binding.kind == "assign" else None
        return Binding(
            binding.kind, binding.target, binding.line, isinstance(node, ast.ImportFrom), value
        )

    def _value(self, node: ast.AST | None) -> Value | None:
        if not isinstance(node, ast.Assign | ast.AnnAssign):
            return None
        value = node.value
        alias: tuple[str, str | None, str | None] | None = None
        single = isinstance(node, ast.AnnAssign) or (
            len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
        )
        if single and value is not None:
            if isinstance(value, ast.Call):
                func = name_chain(value.func)
                second = ast.unparse(value.args[1]) if len(value.args) >= 2 else None
                alias = ("call", ".".join(func) if func else None, second)
            elif isinstance(value, _TYPE_LIKE):
                alias = ("expr", ast.unparse(value), None)
        return Value(
            cls=class_chain(node),
            call=name_chain(value.func) if isinstance(value, ast.Call) else None,
            container=isinstance(value, CONTAINER_NODES),
            attribute=name_chain(value) if isinstance(value, ast.Attribute) else None,
            alias=alias,
            path=self.paths.scope(None, {}).expr(value, 1) if value is not None else None,
            none=value is None or (isinstance(value, ast.Constant) and value.value is None),
        )

    def _star_imports(self) -> tuple[str, ...]:
        info = self.info
        return tuple(
            resolve_relative(info.module, info.is_package, stmt.level, stmt.module)
            for stmt in info.tree.body
            if isinstance(stmt, ast.ImportFrom) and any(a.name == "*" for a in stmt.names)
        )

    def _imports(self) -> tuple[Import, ...]:
        out: list[Import] = []
        for node in scope_statements(self.info.tree.body):
            if isinstance(node, ast.Import):
                out.append(Import(node.lineno, tuple(a.name for a in node.names), False))
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                out.append(Import(node.lineno, (node.module,), True))
        return tuple(out)

    def _sys_path_line(self) -> int | None:
        """The first line where the module's top level changes `sys.path`."""
        if b"sys.path" not in self.data:
            return None
        for stmt in self.info.tree.body:
            if isinstance(stmt, FunctionNode | ast.ClassDef):
                continue
            for node in ast.walk(stmt):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("insert", "append", "extend")
                    and isinstance(node.func.value, ast.Attribute)
                    and node.func.value.attr == "path"
                    and isinstance(node.func.value.value, ast.Name)
                    and node.func.value.value.id == "sys"
                ):
                    return stmt.lineno
        return None

    # --- classes ---------------------------------------------------------------------------

    def _class(self, node: ast.ClassDef, path: tuple[str, ...]) -> Class:
        methods: dict[str, tuple[str, ...]] = {}
        for stmt in scope_statements(node.body):
            if isinstance(stmt, FunctionNode):
                methods[stmt.name] = (*path, stmt.name)
        fields: list[Field] = []
        computed: list[str] = []
        config: list[tuple[str, str]] = []
        v1 = False
        attributes: dict[str, Chain] = {}
        for stmt in node.body:
            if isinstance(stmt, ast.AnnAssign | ast.Assign):
                target = stmt.target if isinstance(stmt, ast.AnnAssign) else stmt.targets[0]
                cls_chain = value_class(stmt)
                if isinstance(target, ast.Name) and cls_chain is not None:
                    attributes.setdefault(target.id, cls_chain)
            if isinstance(stmt, ast.ClassDef) and stmt.name == "Config":
                v1 = True
            if isinstance(stmt, FunctionNode):
                targets = [d.func if isinstance(d, ast.Call) else d for d in stmt.decorator_list]
                v1 = v1 or any(last_name(t) in _V1_DECORATORS for t in targets)
                if any(last_name(t) == "computed_field" for t in targets):
                    computed.append(stmt.name)
                continue
            if isinstance(stmt, ast.AnnAssign | ast.Assign):
                field = _field(stmt)
                if field.name == "model_config":
                    config += _config_of(stmt.value)
                else:
                    fields.append(field)
        return Class(
            path=path,
            line=node.lineno,
            bases=tuple(name_chain(b) for b in node.bases),
            keywords=tuple((k.arg, keyword_value(k.value)) for k in node.keywords if k.arg),
            methods=methods,
            v1_style=v1,
            changing_methods=frozenset(),  # filled once its methods are summarised
            fields=tuple(fields),
            computed=tuple(computed),
            config=tuple(config),
            attributes=attributes,
        )


def keyword_value(expr: ast.expr) -> str:
    """A keyword's value as the class facts read it: "True", "False", "None", "str:<text>",
    "attr:<name>" (the last name of an attribute), "name:<name>", or "?" for anything else."""
    if isinstance(expr, ast.Constant):
        if isinstance(expr.value, str):
            return f"str:{expr.value}"
        if expr.value is None or isinstance(expr.value, bool):
            return str(expr.value)
        return "?"
    if isinstance(expr, ast.Attribute):
        return f"attr:{expr.attr}"
    if isinstance(expr, ast.Name):
        return f"name:{expr.id}"
    return "?"


def _field(stmt: ast.AnnAssign | ast.Assign) -> Field:
    annotation: str | None = None
    if isinstance(stmt, ast.AnnAssign):
        target: ast.expr = stmt.target
        kind = "ann"
        annotation = ast.unparse(stmt.annotation)
        names = tuple(
            chain
            for n in ast.walk(stmt.annotation)
            if isinstance(n, ast.Name | ast.Attribute) and (chain := name_chain(n)) is not None
        )
    else:
        target = stmt.targets[0]
        kind = "assign" if len(stmt.targets) == 1 else "multi"
        names = ()
    value = stmt.value
    const: str | None = None
    if isinstance(value, ast.Constant):
        const = {str: "str", int: "int", float: "float"}.get(type(value.value), "other")
    call = value if isinstance(value, ast.Call) else None
    return Field(
        name=target.id if isinstance(target, ast.Name) else "",
        kind=kind,
        annotation_names=names,
        annotation=annotation,
        value_call=name_chain(call.func) if call is not None else None,
        value_const=const,
        keywords=tuple((k.arg, keyword_value(k.value)) for k in call.keywords if k.arg)
        if call is not None
        else (),
    )


def _config_of(value: ast.expr | None) -> list[tuple[str, str]]:
    """The keywords of `model_config = ConfigDict(...)` or `{...}`."""
    if isinstance(value, ast.Call):
        return [(k.arg, keyword_value(k.value)) for k in value.keywords if k.arg]
    if isinstance(value, ast.Dict):
        return [
            (k.value, keyword_value(v))
            for k, v in zip(value.keys, value.values, strict=True)
            if isinstance(k, ast.Constant) and isinstance(k.value, str)
        ]
    return []
