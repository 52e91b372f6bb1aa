"""A site's job arguments, as the module shows them where they are built (`summary.ArgFact`)."""

from __future__ import annotations

import ast
from collections.abc import Callable

from codemod.model.detect import Candidate, lookup
from codemod.model.hostpath import HostPaths
from codemod.model.index import ModuleInfo
from codemod.model.summary import ArgFact
from codemod.model.syntax import FunctionNode, last_name, name_chain

EVIDENT_NAMES = frozenset({"request", "websocket", "self", "cls"})


class ArgFacts:
    """The arguments' part of `sites._Site`, a mixin: `_Site` gives it the candidate, the
    module and `_qualify`."""

    candidate: Candidate
    info: ModuleInfo
    _qualify: Callable[[ast.expr], str | None]

    def _arguments(self, inner: ast.Call) -> tuple[ArgFact, ...]:
        pairs: list[tuple[int | str, ast.expr]] = list(enumerate(inner.args))
        pairs += [(k.arg or "", k.value) for k in inner.keywords]
        function = self.candidate.function
        paths = HostPaths(function, self._qualify) if function is not None and pairs else None
        out: list[ArgFact] = []
        for key, expr in pairs:
            if isinstance(expr, ast.Starred):
                expr = expr.value
            annotation, arg = self._local_annotation(expr)
            depends = None
            if arg is not None and isinstance(function, FunctionNode):
                depends = _depends_of(function, arg)
            host = paths.why(expr) if paths is not None else None
            out.append(
                ArgFact(
                    key=key,
                    text=ast.unparse(expr),
                    is_name=isinstance(expr, ast.Name),
                    literal=_is_literal(expr),
                    is_lambda=isinstance(expr, ast.Lambda),
                    code=self._names_code(expr),
                    qualname=self._qualify(expr)
                    if isinstance(expr, ast.Name | ast.Attribute)
                    else None,
                    owner=self._owner(expr, annotation),
                    evident=isinstance(expr, ast.Name) and expr.id in EVIDENT_NAMES,
                    annotation=ast.unparse(annotation) if annotation is not None else None,
                    param=arg is not None,
                    depends=depends,
                    host=host,
                    built=self._built_as(expr),
                )
            )
        return tuple(out)

    def _built_as(self, expr: ast.expr) -> tuple[str, ...] | None:
        """What the call site makes evident of an argument's type: how it is built (at the
        call, or where the handler binds its name once), or the field it iterates."""
        if not isinstance(expr, ast.Name):
            return _built(expr)
        found = lookup(expr.id, self.candidate.scopes)
        function = self.candidate.function
        if found is None or found[1].kind != "assign" or function is None:
            return None
        if _stores(function, expr.id) != 1:
            return None  # bound more than once: which value reaches the call is not evident
        node = found[1].node
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            return _built(node.value)
        if (
            isinstance(node, ast.For | ast.AsyncFor)
            and isinstance(node.target, ast.Name)
            and node.target.id == expr.id
        ):
            return self._element(node.iter)
        return None

    def _element(self, iterable: ast.expr) -> tuple[str, ...] | None:
        """`for x in p.field`: the annotation of the handler's parameter `p`, and the field."""
        chain = name_chain(iterable)
        if chain is None or len(chain) < 2:
            return None
        found = lookup(chain[0], self.candidate.scopes)
        if found is None or found[1].kind != "param" or not isinstance(found[0].node, FunctionNode):
            return None
        args = found[0].node.args
        arg = next(
            (a for a in (*args.posonlyargs, *args.args, *args.kwonlyargs) if a.arg == chain[0]),
            None,
        )
        if arg is None or arg.annotation is None:
            return None
        return "element", ast.unparse(arg.annotation), ".".join(chain[1:]), ".".join(chain)

    def _local_annotation(self, expr: ast.expr) -> tuple[ast.expr | None, ast.arg | None]:
        """The annotation of a name where the enclosing function defines it, and its parameter."""
        if not isinstance(expr, ast.Name):
            return None, None
        found = lookup(expr.id, self.candidate.scopes)
        if found is None:
            return None, None
        scope, binding = found
        node = binding.node
        if binding.kind == "param" and isinstance(scope.node, FunctionNode):
            args = scope.node.args
            for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs):
                if arg.arg == expr.id:
                    return arg.annotation, arg
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            return node.annotation, None
        return None, None

    def _names_code(self, expr: ast.expr) -> bool | None:
        """Whether an argument names a function or a class defined where the call is (True),
        names a local value (False); None: it depends on what its qualified name is."""
        if isinstance(expr, ast.Name):
            found = lookup(expr.id, self.candidate.scopes)
            if found is not None and found[1].kind in ("def", "class"):
                return True
            if found is not None and found[1].kind != "import":
                return False
            return None
        return None if isinstance(expr, ast.Attribute) else False

    def _owner(self, expr: ast.expr, annotation: ast.expr | None) -> str | None:
        """`E.X`: what `E` names; a name: the class its local annotation names (for an enum
        member passed on)."""
        if isinstance(expr, ast.Attribute):
            return self._qualify(expr.value)
        if annotation is not None:
            return self.info.qualify_expr(annotation)
        return None


# Methods of a pathlib path that give a path.
_PATH_METHODS = frozenset(
    {"joinpath", "with_name", "with_suffix", "with_stem", "resolve", "absolute", "expanduser"}
)
_MODEL_BUILDERS = frozenset(
    {"model_validate", "model_validate_json", "parse_obj", "model_construct"}
)


def _built(value: ast.expr) -> tuple[str, ...] | None:
    """("class", "E") when a value is evidently built as an `E`: `E[name]`, `E(...)`,
    `E.model_validate(...)` (whether `E` is a class is the program's to tell)."""
    if isinstance(value, ast.Await):
        value = value.value
    if isinstance(value, ast.BinOp) and isinstance(value.op, ast.Div):
        value = value.left  # `base / name`: a path when `base` is one
    while (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Attribute)
        and value.func.attr in _PATH_METHODS
    ):
        value = value.func.value  # `base.joinpath(name)`: likewise
    if isinstance(value, ast.Name | ast.Attribute):
        chain = name_chain(value)
        return ("value", ".".join(chain)) if chain else None  # what the name is assigned
    if isinstance(value, ast.Subscript):
        chain = name_chain(value.value)
        if chain and chain[0] in ("request", "websocket"):
            return None  # an item of the request (`request.form["email"]`): data
        return ("class", ".".join(chain)) if chain else None
    if isinstance(value, ast.Call):
        func = value.func
        if isinstance(func, ast.Attribute) and func.attr in _MODEL_BUILDERS:
            chain = name_chain(func.value)
        else:
            chain = name_chain(func)
        return ("class", ".".join(chain)) if chain else None
    return None


def _stores(function: FunctionNode, name: str) -> int:
    """How many times a function's own body binds `name` (nested functions not counted)."""
    from codemod.model.nodes import body_nodes

    return sum(
        1
        for node in body_nodes(function)
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Store)
    )


def _depends_of(function: FunctionNode, arg: ast.arg) -> str | None:
    """The provider (as spelled) of a parameter whose default is `Depends(...)`."""
    from codemod.model.signature import DEPENDS, _defaults, provider_text

    for param, default, _ in _defaults(function):
        if param is arg and isinstance(default, ast.Call) and last_name(default.func) in DEPENDS:
            return provider_text(default)
    return None


def _is_literal(expr: ast.expr) -> bool:
    if isinstance(expr, ast.JoinedStr):
        return True
    try:
        ast.literal_eval(expr)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return not any(isinstance(n, ast.Set) for n in ast.walk(expr)) and not any(
        isinstance(n, ast.Constant) and isinstance(n.value, bytes | complex) for n in ast.walk(expr)
    )
