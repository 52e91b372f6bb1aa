"""A scope's nodes, the classes that names are bound to, the names of the calls summaries seek."""

from __future__ import annotations

import ast

from codemod.model.summary import Chain
from codemod.model.syntax import FunctionNode, last_name, name_chain, parse_expression

# Calls that start their argument as background work rather than run it.
STARTERS = frozenset(
    {
        "create_task",
        "ensure_future",
        "add_task",
        "run_in_executor",
        "to_thread",
        "submit",
        "start_soon",
        "spawn",
        "run_coroutine_threadsafe",
        "Thread",
        "Process",
        "delay",
        "apply_async",
    }
)
# Methods that change a container in place.
MUTATORS = frozenset(
    {
        "append",
        "appendleft",
        "extend",
        "extendleft",
        "insert",
        "remove",
        "pop",
        "popleft",
        "popitem",
        "clear",
        "update",
        "setdefault",
        "add",
        "discard",
        "put",
        "put_nowait",
        "get_nowait",
        "set",
        "sort",
        "reverse",
        "rotate",
        "difference_update",
        "intersection_update",
        "symmetric_difference_update",
        "__setitem__",
        "__delitem__",
    }
)
# Methods that fill a container (or register into a registry) in place.
FILL_METHODS = frozenset(
    {
        "append",
        "extend",
        "insert",
        "add",
        "update",
        "setdefault",
        "register",
        "__setitem__",
        "appendleft",
        "put",
    }
)
# Flask's hooks run in every request (request work, like a handler's), or before the first one
# (the app's start-up, which a worker that creates the app does not run: there is no request).
REQUEST_HOOKS = frozenset(
    {
        "before_request",
        "after_request",
        "teardown_request",
        "before_app_request",
        "after_app_request",
        "teardown_app_request",
    }
)
FIRST_REQUEST_HOOKS = frozenset({"before_first_request", "before_app_first_request"})
# The last names of the calls summarised in full (see summary.Call).
FULL_CALLS = frozenset(
    {
        "add_api_route",
        "add_route",
        "add_websocket_route",
        "add_api_websocket_route",
        "add_event_handler",
        "setattr",
        "__setattr__",
        "FastAPI",
        "Starlette",
        # Starlette's and FastAPI's route objects (`routes=[Route("/x", endpoint=f)]`)
        "Route",
        "WebSocketRoute",
        "APIRoute",
        "APIWebSocketRoute",
        # Flask: views registered by call, and the app's constructor (and its hooks, below)
        "add_url_rule",
        "Flask",
        "APIFlask",
    }
    | REQUEST_HOOKS
    | FIRST_REQUEST_HOOKS
)
APP_HOOKS = frozenset({"lifespan", "on_startup", "on_shutdown"})
# Which fields of a model were set.
FIELDS_SET = frozenset({"model_fields_set", "__fields_set__", "__pydantic_fields_set__"})


def walk(roots: list[ast.AST], stop: tuple[type, ...]) -> list[ast.AST]:
    """The nodes under `roots` (roots included), in source order (depth first), not entering the
    nodes of the `stop` types (they are listed themselves), and without the context and
    operator singletons (`Load`, `Add`, ...). ast.iter_child_nodes inlined: this walk is most
    of the summaries' cost."""
    out: list[ast.AST] = []
    stack: list[ast.AST] = list(reversed(roots))
    node_type = ast.AST
    fields_of = _CHILD_FIELDS
    while stack:
        current = stack.pop()
        out.append(current)
        if isinstance(current, stop):
            continue
        kind = type(current)
        fields = fields_of.get(kind)
        if fields is None:
            fields = fields_of[kind] = tuple(f for f in kind._fields if f not in _NO_CHILDREN)
        if not fields:
            continue
        children: list[ast.AST] = []
        for field in fields:
            value = getattr(current, field, None)
            if isinstance(value, list):
                children.extend(item for item in value if isinstance(item, node_type))
            elif isinstance(value, node_type):
                children.append(value)
        if children:
            children.reverse()
            stack.extend(children)
    return out


# Fields that hold no node worth a visit: contexts and operators are singletons, and these
# fields of some node types hold strings or numbers (a constant's value).
_NO_CHILDREN = frozenset({"ctx", "op", "ops", "type_comment", "id", "attr", "arg", "kind"})
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {ast.Constant: (), ast.Name: ()}


_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_DEFS_AND_LAMBDAS = (*_DEFS, ast.Lambda)


def body_nodes(node: FunctionNode) -> list[ast.AST]:
    """The nodes of a function's body, not those of nested defs and classes (they are functions
    of their own) nor of its decorators."""
    return walk(list(node.body), _DEFS)


def module_nodes(tree: ast.Module) -> list[ast.AST]:
    """The nodes of a module's top level: not those of its defs and classes, nor of lambdas."""
    return walk([s for s in tree.body if not isinstance(s, _DEFS)], _DEFS_AND_LAMBDAS)


def class_chain(node: ast.AST | None) -> Chain | None:
    """The class that defines a name: the constructor of `x = C(...)`, the annotation of
    `x: C = ...` or of a parameter `x: C` (a string annotation too)."""
    if isinstance(node, ast.arg):
        expr = node.annotation
    elif isinstance(node, ast.Assign | ast.AnnAssign):
        value = node.value.value if isinstance(node.value, ast.Await) else node.value
        expr = value.func if isinstance(value, ast.Call) else getattr(node, "annotation", None)
    else:
        return None
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        expr = parse_expression(expr.value)
    return name_chain(expr) if isinstance(expr, ast.Name | ast.Attribute) else None


def annotation_class(expr: ast.expr | None) -> Chain | None:
    """The one class an annotation names: `C`, `mod.C`, `"C"`, `C | None`, `Optional[C]`."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        expr = parse_expression(expr.value)
    if isinstance(expr, ast.Name | ast.Attribute):
        return name_chain(expr)
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.BitOr):
        sides = [e for e in (expr.left, expr.right) if not _is_none(e)]
        return annotation_class(sides[0]) if len(sides) == 1 else None
    if isinstance(expr, ast.Subscript) and last_name(expr.value) == "Optional":
        return annotation_class(expr.slice)
    return None


def _is_none(expr: ast.expr) -> bool:
    return isinstance(expr, ast.Constant) and expr.value is None


def value_class(node: ast.Assign | ast.AnnAssign) -> Chain | None:
    """The class of what an assignment binds: its annotation's, else its constructor's."""
    if isinstance(node, ast.AnnAssign):
        found = annotation_class(node.annotation)
        if found is not None:
            return found
    value = node.value.value if isinstance(node.value, ast.Await) else node.value
    return name_chain(value.func) if isinstance(value, ast.Call) else None


class Segment:
    """Source text of nodes, by their positions (ast.get_source_segment on pre-split lines)."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def __call__(self, node: ast.AST) -> str:
        from codemod.model.syntax import source_segment

        return source_segment(self.lines, node) or ast.unparse(node)
