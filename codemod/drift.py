"""Generated code already in the tasks package: its wrappers and runner, and how they drifted."""

from __future__ import annotations

import ast
from dataclasses import replace

from codemod.analysis.enums import enum_class
from codemod.analysis.fieldsset import mark_fields_set
from codemod.analysis.jsonsafe import PATH_CLASSES
from codemod.analysis.schemas import with_params
from codemod.analysis.signatures import implementation
from codemod.config import Config
from codemod.model.files import relpath
from codemod.model.index import ModuleInfo, RepoIndex, signature_of
from codemod.model.resolve import Resolver
from codemod.model.signature import wraps_implementation
from codemod.model.syntax import FunctionNode, first_line
from codemod.models import (
    FLASK_TASK,
    RUN_WITH_DEPENDENCIES,
    RUNNER,
    Drift,
    Param,
    Signature,
    fields_set_name,
)

# The runner's function that hands a soft time limit to the job's coroutine (`time-limits`).
DELIVERING = "_delivering"


def _param_key(params: tuple[Param, ...]) -> list[tuple[str, str, str, str]]:
    """Parameters compared by meaning, not by spelling (black may have re-spaced them)."""

    def norm(text: str | None) -> str:
        return ast.dump(ast.parse(text, mode="eval")) if text else ""

    return [(p.name, p.kind, norm(p.annotation), norm(p.default)) for p in params]


def _tasks_modules_on_disk(config: Config, index: RepoIndex) -> list[ModuleInfo]:
    # The package's folder, with or without an __init__.py (a namespace package works too).
    parts = config.tasks_package.split(".")
    folders = [base.joinpath(*parts) for base in (config.root, config.root / "src")]
    folder = next((f for f in folders if f.is_dir()), None)
    if folder is None:
        return []
    names = sorted(p.stem for p in folder.glob("*.py") if p.stem != "__init__")
    infos = [index.module(f"{config.tasks_package}.{name}") for name in names]
    return [info for info in infos if info is not None]


def scan_wrappers(
    config: Config, index: RepoIndex, resolver: Resolver
) -> tuple[list[Drift], list[ModuleInfo]]:
    """Generated wrappers that drifted from their implementation; tasks modules holding any."""
    drifts: list[Drift] = []
    holding: list[ModuleInfo] = []
    for info in _tasks_modules_on_disk(config, index):
        wrappers = [
            (node, impl)
            for node in info.tree.body
            if isinstance(node, FunctionNode) and (impl := wraps_implementation(node))
        ]
        if wrappers:
            holding.append(info)
        for node, impl in wrappers:
            drift = _drift(info, node, impl, config, resolver)
            if drift is not None:
                drifts.append(drift)
    return drifts, holding


def _drift(
    info: ModuleInfo, node: FunctionNode, impl: str, config: Config, resolver: Resolver
) -> Drift | None:
    found = implementation(impl, resolver)
    first = first_line(node)
    path = relpath(info.path, config.root)

    def drift(message: str, signature: Signature | None) -> Drift:
        end = node.end_lineno or node.lineno
        return Drift(
            path,
            info.module,
            node.name,
            node.lineno,
            node.col_offset + 1,
            first,
            end,
            impl,
            message,
            signature,
        )

    if found is None:
        return drift(f"its implementation `{impl}` is gone", None)
    signature = found
    providers = injected_providers(node)
    if providers:  # the parameters it re-creates are none of the wrapper's
        signature = with_params(
            signature,
            tuple(replace(p, provider=providers.get(p.name)) for p in signature.params),
        )
    signature = _rebuilt_as_on_disk(signature, node, resolver)
    params = signature_of(info, node).params[1:]  # after `self`
    # A carrier of a model's set fields stays once the wrapper has it: call sites migrated
    # earlier send it, whether or not the job still reads them.
    signature = mark_fields_set(signature, resolver)
    on_disk = {p.name for p in params}
    signature = with_params(
        signature,
        tuple(
            replace(p, fields_set=True)
            if p.model and fields_set_name(p, signature.params) in on_disk
            else p
            for p in signature.params
        ),
    )
    declared = signature.wrapper_params()
    late = (
        _keyword(node, "acks_late") == "True" and _keyword(node, "reject_on_worker_lost") == "True"
    )
    if late != config.acks_late:
        was = "at-least-once" if late else "at-most-once"
        return drift(f"has {was} delivery, but `delivery` is {config.delivery}", signature)
    if _keyword(node, "queue") is not None:
        return drift(
            "sets the `queue` task attribute, which Celery 5 deprecates (gone in 6.0): its "
            "route belongs in the app's `task_routes`",
            signature,
        )
    flask = _base(node) == FLASK_TASK
    if flask != bool(config.flask_app):
        return drift(
            f"runs its job inside the Flask app's context (`base={FLASK_TASK}`), but the project "
            "has no Flask app (`flask-app`)"
            if flask
            else f"runs its job outside the Flask app's context, but the project's jobs run in "
            f"`{config.flask_app}` (`base={FLASK_TASK}`)",
            signature,
        )
    limits = config.time_limits_for(info.module, node.name)
    has = (_keyword(node, "soft_time_limit"), _keyword(node, "time_limit"))
    if has != ((str(limits[0]), str(limits[1])) if limits else (None, None)):
        was = f"soft_time_limit={has[0]}, time_limit={has[1]}" if any(has) else "no time limit"
        now = f"a soft limit of {limits[0]} s" if limits else "none"
        return drift(f"has {was}, but `time-limits` gives it {now}", signature)
    plain_sync = not signature.is_async and not providers  # `run_with_dependencies` starts up
    if plain_sync and _calls(node, "run_sync") != bool(config.worker_startup):
        return drift(
            "calls its implementation "
            + ("without" if config.worker_startup else "after")
            + " the worker start-up, but `worker-startup` is "
            + ("set" if config.worker_startup else "empty"),
            signature,
        )
    if _param_key(params) == _param_key(declared):
        return None
    now = ", ".join(p.name for p in signature.params)
    was = ", ".join(p.name for p in params)
    detail = f"({was}) vs ({now})" if was != now else "(annotations or defaults differ)"
    return drift(f"no longer matches the signature of `{impl}` {detail}", signature)


def _rebuilt_as_on_disk(signature: Signature, node: FunctionNode, resolver: Resolver) -> Signature:
    """The signature with the enums and models that the wrapper on disk rebuilds for parameters
    without an annotation (what a call site showed when it was generated): they stay, as the
    sites migrated then send them so."""
    rebuilt = rebuilt_params(node)
    if not rebuilt:
        return signature
    params = []
    for p in signature.params:
        found = rebuilt.get(p.name) if not p.annotation and not (p.model or p.enum) else None
        if found is not None and found[0] == "enum" and found[1] in PATH_CLASSES:
            p = replace(p, enum=found[1], enum_value="str", path=True)
        elif found is not None and found[0] == "enum":
            values = enum_class(found[1], resolver)
            p = replace(p, enum=found[1], enum_value=values) if values else p
        elif found is not None:
            p = replace(p, model=found[1])
        params.append(p)
    return with_params(signature, tuple(params))


def rebuilt_params(node: FunctionNode) -> dict[str, tuple[str, str]]:
    """The parameters a generated wrapper rebuilds before it runs the job: name -> ("enum",
    the class) for `Phase(phase)`, ("model", the class) for `Item.model_validate(item)`, the
    class found by its import in the wrapper's body."""
    imported = {
        alias.asname or alias.name: f"{stmt.module}.{alias.name}"
        for stmt in ast.walk(node)
        if isinstance(stmt, ast.ImportFrom) and stmt.module and stmt.level == 0
        for alias in stmt.names
    }
    params = {a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)}
    found: dict[str, tuple[str, str]] = {}
    for call in ast.walk(node):
        if not (isinstance(call, ast.Call) and len(call.args) == 1):
            continue
        arg = call.args[0]
        if not (isinstance(arg, ast.Name) and arg.id in params):
            continue
        func = call.func
        if isinstance(func, ast.Name) and func.id in imported:
            found.setdefault(arg.id, ("enum", imported[func.id]))
        elif (
            isinstance(func, ast.Attribute)
            and func.attr == "model_validate"
            and isinstance(func.value, ast.Name)
            and func.value.id in imported
        ):
            found.setdefault(arg.id, ("model", imported[func.value.id]))
    return found


def injected_providers(node: FunctionNode) -> dict[str, str]:
    """The dependencies a generated wrapper re-creates: the dict it hands the runner's
    `run_with_dependencies(job, {"db": get_db}, ...)`, each provider as `module:function`
    (found by the import in the wrapper's body)."""
    imported = {
        alias.asname or alias.name: f"{stmt.module}:{alias.name}"
        for stmt in ast.walk(node)
        if isinstance(stmt, ast.ImportFrom) and stmt.module and stmt.level == 0
        for alias in stmt.names
    }
    for call in ast.walk(node):
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Name)
            and call.func.id == RUN_WITH_DEPENDENCIES
            and len(call.args) > 1
            and isinstance(call.args[1], ast.Dict)
        ):
            found = {}
            for key, value in zip(call.args[1].keys, call.args[1].values, strict=True):
                if isinstance(key, ast.Constant) and isinstance(value, ast.Name):
                    found[str(key.value)] = imported.get(value.id, value.id)
            return found
    return {}


def _keyword(node: FunctionNode, name: str) -> str | None:
    """A string keyword of the wrapper's `@app.task(...)` decorator."""
    for decorator in node.decorator_list:
        if isinstance(decorator, ast.Call):
            for keyword in decorator.keywords:
                value = keyword.value
                if keyword.arg == name and isinstance(value, ast.Constant):
                    return str(value.value)
    return None


def _base(node: FunctionNode) -> str | None:
    """The `base=` class of the wrapper's `@app.task(...)` decorator, as spelled."""
    for decorator in node.decorator_list:
        if isinstance(decorator, ast.Call):
            for keyword in decorator.keywords:
                if keyword.arg == "base" and isinstance(keyword.value, ast.Name | ast.Attribute):
                    return ast.unparse(keyword.value).rpartition(".")[2]
    return None


def _calls(node: FunctionNode, name: str) -> bool:
    return any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name
        for n in ast.walk(node)
    )


def worker_startup_of(tree: ast.Module) -> tuple[str, ...] | None:
    """The `WORKER_STARTUP` a generated runner module runs (None: it has no such section)."""
    value = _module_value(tree, "WORKER_STARTUP")
    if isinstance(value, ast.Tuple | ast.List):
        return tuple(
            e.value for e in value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
        )
    return None


def flask_app_of(tree: ast.Module) -> str | None:
    """The `FLASK_APP` a generated runner module creates (None: it has no Flask section)."""
    value = _module_value(tree, "FLASK_APP")
    return value.value if isinstance(value, ast.Constant) and isinstance(value.value, str) else None


def _module_value(tree: ast.Module, name: str) -> ast.expr | None:
    for node in tree.body:
        target: ast.expr | None = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        if isinstance(target, ast.Name) and target.id == name:
            value = getattr(node, "value", None)
            return value if isinstance(value, ast.expr) else None
    return None


def runner_drift(config: Config, index: RepoIndex) -> str | None:
    """Why the runner module on disk does not run the configured `worker-startup`, if it does
    not (None when it does, or when there is no runner yet)."""
    info = index.module(f"{config.tasks_package}.{RUNNER}")
    if info is None:
        return None
    delivers = any(isinstance(s, FunctionNode) and s.name == DELIVERING for s in info.tree.body)
    if config.time_limits and not delivers:
        return (
            "the runner module does not hand a soft time limit to the job's coroutine, but "
            "`time-limits` is set"
        )
    made = flask_app_of(info.tree)
    if made != config.flask_app:
        if made is None:
            return (
                "the runner module runs jobs outside a Flask app's context, but the project's "
                f"jobs run in `{config.flask_app}` (`flask-app`)"
            )
        now = f"`flask-app` is `{config.flask_app}`" if config.flask_app else "there is none"
        return f"the runner module creates the Flask app `{made}`, but {now}"
    runs = worker_startup_of(info.tree) or ()
    if runs == config.worker_startup:
        return None

    def listed(specs: tuple[str, ...]) -> str:
        return ", ".join(f"`{s}`" for s in specs) or "nothing"

    return (
        f"the runner module runs {listed(runs)} at worker start-up, but `worker-startup` "
        f"lists {listed(config.worker_startup)}"
    )
