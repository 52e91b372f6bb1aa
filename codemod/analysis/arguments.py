"""Whether a job's arguments can cross the broker as JSON and be read by a worker: models sent as
their JSON form, enum members as their value, dependencies re-created in the worker, and the
arguments that only a run-time check can vouch for."""

from __future__ import annotations

from dataclasses import dataclass

from codemod.analysis.context import Context
from codemod.analysis.dependencies import (
    Dependency,
    dependency_of,
    needs_the_request,
    provider_spec,
)
from codemod.analysis.evident import Evident, evident_type
from codemod.analysis.fieldsset import reads_fields_set
from codemod.analysis.jsonsafe import SAFE, UNKNOWN, UNSAFE, annotation_safety, text_safety
from codemod.analysis.request_context import flask_object, is_current_app
from codemod.analysis.schemas import V1, annotation_model, round_trip_problem
from codemod.analysis.skip import Skip
from codemod.model.resolve import Func
from codemod.model.summary import ArgFact, SiteFact
from codemod.model.syntax import parse_expression
from codemod.models import FLASK_APP_PROVIDER, Param, Reason, Signature, fields_set_name


@dataclass(frozen=True)
class Arguments:
    """What the arguments check found about a site that may migrate."""

    models: tuple[int | str, ...] = ()  # the arguments that pass a Pydantic model
    enums: tuple[int | str, ...] = ()  # those that pass an enum member (sent as its value)
    shared_path: str | None = None  # why one is a path on the web host (shared-filesystem)
    guarded: bool = False  # unverified ones: the call site checks them at run time
    # dependencies the worker re-creates: (argument, job parameter, "module:provider")
    injected: tuple[tuple[int | str, str, str], ...] = ()
    # models whose set fields travel beside them: (argument, the wrapper parameter for them)
    fields_set: tuple[tuple[int | str, str], ...] = ()
    # parameters without an annotation that the call site shows an enum member, a model or a
    # path is passed to: (parameter, "enum", "model" or "path", the class, the type of values)
    evident: tuple[tuple[str, str, str, str | None], ...] = ()
    paths: tuple[int | str, ...] = ()  # those that pass a pathlib path (sent as a str)


# What a Starlette or FastAPI handler is given as its request or websocket.
REQUEST_CLASSES = frozenset(
    {
        "starlette.requests.Request",
        "starlette.requests.HTTPConnection",
        "starlette.websockets.WebSocket",
        "fastapi.Request",
        "fastapi.requests.Request",
        "fastapi.WebSocket",
        "fastapi.websockets.WebSocket",
    }
)


def _request_params(fact: SiteFact, ctx: Context) -> frozenset[str]:
    """The parameters of the site's function annotated as a Starlette or FastAPI request."""
    found = ctx.resolver.target(fact.scope_key) if fact.scope_key else None
    if not isinstance(found, Func):
        return frozenset()
    names = set()
    for param in found.fn.params:
        chain = param.annotation_chain
        qualname = ctx.resolver.qualify_chain(found.summary, chain) if chain else None
        if qualname is not None and ctx.resolver.canonical(qualname) in REQUEST_CLASSES:
            names.add(param.name)
    return frozenset(names)


def check_arguments(fact: SiteFact, signature: Signature, ctx: Context) -> Arguments:
    """Raise unless every argument can cross the broker as JSON and be read by a worker; the
    arguments that pass a Pydantic v2 model (sent as its JSON form), and why one is a path on
    the web host when `shared-filesystem` lets it through; whether the call site must check
    at run time that the arguments survive the serializer (`unverified-args = "guard"`)."""
    resolver = ctx.resolver
    impl = resolver.program.module(signature.module)
    positional = [p for p in signature.params if p.kind in ("posonly", "normal")]
    vararg = next((p for p in signature.params if p.kind == "vararg"), None)
    kwarg = next((p for p in signature.params if p.kind == "kwarg"), None)
    by_name = {p.name: p for p in signature.params if p.kind in ("normal", "kwonly")}

    def param_of(arg: ArgFact) -> Param | None:
        if isinstance(arg.key, int):
            return positional[arg.key] if arg.key < len(positional) else vararg
        return by_name.get(arg.key, kwarg)

    where = next((arg.host for arg in fact.args if arg.host), None)
    if where is not None and not ctx.config.shared_filesystem:
        raise Skip(Reason.HOST_PATH, where)
    unverified: list[str] = []
    models: list[int | str] = []
    fields_set: list[tuple[int | str, str]] = []
    enums: list[int | str] = []
    paths: list[int | str] = []
    injected: list[tuple[int | str, str, str]] = []
    evident: list[tuple[str, str, str, str | None]] = []
    requests = _request_params(fact, ctx)
    for arg in fact.args:
        param = param_of(arg)
        key = arg.key
        if param is not None and param.model is not None:
            problem = round_trip_problem(param.model, resolver)
            if problem:
                raise Skip(
                    Reason.UNSERIALIZABLE_ARGS,
                    f"parameter `{param.name}` is a Pydantic model {problem}",
                )
            if param.fields_set:
                fields_set.append((key, fields_set_name(param, signature.params)))
            models.append(key)  # validated back into the model by the wrapper
            continue
        if param is not None and param.path and param.enum is not None:
            if arg.literal or _is_member(arg, param.enum, ctx) or _built_path(arg, ctx):
                paths.append(key)  # sent as `str(...)`, made a path again by the wrapper
                continue
            # a value the call site does not show is a path: judged by what it is
        elif param is not None and param.enum is not None:
            if arg.literal:
                continue  # the wrapper makes the member of it
            if _is_member(arg, param.enum, ctx) or _built_member(arg, param.enum, ctx):
                enums.append(key)  # sent as its `.value`, made a member again by the wrapper
                continue
            # a value of another type (a plain str given to an enum parameter): `.value` would
            # fail in the handler, so it is judged by what it is, like any argument
        if param is not None and param.annotation and impl is not None:
            model = annotation_model(param.annotation, impl, resolver)
            if model is not None and model[1] == V1:
                raise Skip(
                    Reason.UNSERIALIZABLE_ARGS,
                    f"parameter `{param.name}: {param.annotation}` is a Pydantic v1-style "
                    "model, which has no `model_dump`",
                )
        impl_safety = UNKNOWN
        if param is not None and param.annotation and impl is not None:
            # `*args: int` annotates each element, so the same test holds for varargs.
            impl_safety = text_safety(param.annotation, impl, resolver)
        dependency = _argument_dependency(arg, ctx)
        data = dependency is not None and _is_data(dependency, ctx)
        if dependency is not None and not data:
            provider = _recreated(arg, dependency, param, ctx)
            assert param is not None
            injected.append((key, param.name, provider))
            continue
        if param is not None and param.kind in ("normal", "kwonly") and _worker_app(arg, ctx):
            # the Flask app handed to a thread: the worker hands the job its own app
            injected.append((key, param.name, f"{ctx.program_root_runner}:{FLASK_APP_PROVIDER}"))
            continue
        unsafe = _evidently_unsafe(arg, ctx, data, requests)
        if unsafe:
            raise Skip(Reason.UNSERIALIZABLE_ARGS, f"argument `{arg.text}` {unsafe}")
        shown = _shown(arg, param, ctx)
        if shown is not None and param is not None:
            if shown.kind == "unsafe":
                raise Skip(Reason.UNSERIALIZABLE_ARGS, f"argument `{arg.text}` {shown.why}")
            if shown.kind == "path" and shown.qualname is not None:
                paths.append(key)
                evident.append((param.name, "path", shown.qualname, "str"))
                continue
            if shown.kind in ("enum", "model") and shown.qualname is not None:
                if shown.kind == "model":
                    problem = round_trip_problem(shown.qualname, resolver)
                    if problem:
                        raise Skip(
                            Reason.UNSERIALIZABLE_ARGS,
                            f"argument `{arg.text}` is a Pydantic model {problem}",
                        )
                (models if shown.kind == "model" else enums).append(key)
                evident.append((param.name, shown.kind, shown.qualname, shown.value_type))
                if shown.kind == "model" and _reads_fields_set(signature, param, ctx):
                    fields_set.append((key, fields_set_name(param, signature.params)))
            continue  # "safe" too: what the call site shows it is needs no check at run time
        if impl_safety == UNSAFE and param is not None and param.path:
            raise Skip(
                Reason.UNSERIALIZABLE_ARGS,
                f"argument `{arg.text}` goes to `{param.name}: {param.annotation}`, and the call "
                "site does not show it is a path: a path it shows (`Path(...)`, `BASE / name` "
                "of a module-level path, a name annotated `Path`, a str literal) travels as its "
                "str and is rebuilt in the worker; build it so at the call",
            )
        if impl_safety == UNSAFE:
            assert param is not None
            raise Skip(
                Reason.UNSERIALIZABLE_ARGS,
                f"parameter `{param.name}: {param.annotation}` is not a JSON-safe type",
            )
        if impl_safety == SAFE or arg.literal or _locally_safe(arg, ctx):
            continue
        unverified.append(arg.text)
    if unverified and ctx.config.unverified_mode == "skip":
        names = ", ".join(f"`{u}`" for u in unverified)
        raise Skip(Reason.UNVERIFIED_ARGS, f"cannot prove {names} JSON-serialisable")
    guarded = bool(unverified) and ctx.config.unverified_mode == "guard"
    return Arguments(
        tuple(models),
        tuple(enums),
        where,
        guarded,
        tuple(injected),
        tuple(fields_set),
        tuple(evident),
        tuple(paths),
    )


def _reads_fields_set(signature: Signature, param: Param, ctx: Context) -> bool:
    function = ctx.resolver.target(signature.dotted)
    return isinstance(function, Func) and bool(reads_fields_set(function, param.name, ctx.resolver))


def _shown(arg: ArgFact, param: Param | None, ctx: Context) -> Evident | None:
    """What the call site shows of an argument's type, where the job's parameter (a plain one,
    not `*args` or `**kwargs`) has no annotation to say it."""
    if param is None or param.annotation or param.kind not in ("posonly", "normal", "kwonly"):
        return None
    return evident_type(arg, ctx.summary, ctx.resolver)


def _evidently_unsafe(
    arg: ArgFact, ctx: Context, data: bool, requests: frozenset[str] = frozenset()
) -> str:
    """Why an argument is evidently no data ("" when it is not evidently so); `data`: it is a
    dependency whose value is data."""
    if arg.is_lambda or _names_code(arg, ctx):
        return "is a function or a class, not data"
    flask = flask_object(arg.text, ctx.summary, ctx.resolver)
    if flask is not None:
        return flask
    part = _request_part(arg, requests)
    if part:
        return part
    if not arg.is_name:
        return ""
    if arg.evident:
        return "is a request, connection or object, not data"
    if data:
        return ""  # a dependency whose value is data travels like any other argument
    if arg.annotation is not None and text_safety(arg.annotation, ctx.summary, ctx.resolver) == (
        UNSAFE
    ):
        return f"is annotated `{arg.annotation}`, not a JSON-safe type"
    return ""


# The parts of a Starlette request that are objects, not data (`request.X`, `await
# request.X()`), with the way to hand on their data instead.
_REQUEST_PARTS = {
    "query_params": ("a `QueryParams`", "dict({})"),
    "headers": ("a `Headers`", "dict({})"),
    "url": ("a `URL`", "str({})"),
    "state": ("the request's `State`", "its values"),
    "scope": ("the ASGI scope", "the values the job needs"),
    "app": ("the application", "the values the job needs"),
    "client": ("an `Address`", "{}.host"),
}
_REQUEST_READS = {
    "form": ("a `FormData`", "dict({})"),
    "body": ("bytes", "{}.decode()"),
    "stream": ("a stream", "the bytes it yields"),
}


def _request_part(arg: ArgFact, requests: frozenset[str]) -> str:
    """Why an argument that is a part of the request (`request.query_params`, `await
    request.form()`, or a name bound once to one) is no data ("" when it is not one).
    `requests`: the handler's parameters annotated as a Starlette or FastAPI request or
    websocket (Flask's `request.url` is a str; a body model may be called `request`)."""
    built = arg.built or ()
    if arg.is_name and "." in arg.text:
        built = ("value", arg.text)
    if len(built) != 2:
        return ""
    root, _, attr = built[1].partition(".")
    if root not in requests:
        return ""
    parts = _REQUEST_PARTS if built[0] == "value" else _REQUEST_READS
    if attr not in parts:
        return ""
    what, instead = parts[attr]
    shown = f"{built[1]}" if built[0] == "value" else f"await {built[1]}()"
    hand_on = f"`{instead.format(arg.text)}`" if "{}" in instead else instead
    return f"is `{shown}`, {what}, not data: pass {hand_on}"


def _names_code(arg: ArgFact, ctx: Context) -> bool:
    """Whether an argument names a function or a class: one defined where the call is, or one
    of the program's (khoj passes `configure_content` itself to a helper that runs it)."""
    if arg.code is not None:
        return arg.code
    qualname = ctx.rebased(arg.qualname)
    resolved = ctx.resolver.resolve(qualname) if qualname else None
    return resolved is not None and resolved[1].kind in ("def", "class")


def _argument_dependency(arg: ArgFact, ctx: Context) -> Dependency | None:
    """The FastAPI dependency an argument is: a parameter of the handler declared so."""
    if not arg.param:
        return None
    return dependency_of(arg.depends, arg.annotation, ctx.summary, ctx.resolver)


def _recreated(arg: ArgFact, dependency: Dependency, param: Param | None, ctx: Context) -> str:
    """The provider ("module:function") a worker runs to re-create a dependency argument whose
    value is no data (a session, a client), as FastAPI did for the request. Raises when it
    cannot be re-created, saying why and what to do."""
    name = f"argument `{arg.text}` is the FastAPI dependency `{dependency.provider}`"
    if param is None or param.kind not in ("normal", "kwonly"):
        raise Skip(Reason.UNSERIALIZABLE_ARGS, f"{name}, which the job takes through *args")
    spec = provider_spec(dependency, ctx.resolver)
    if spec is not None and spec in ctx.config.dependencies:
        return ctx.config.dependencies[spec]
    why = (
        needs_the_request(spec, ctx.resolver) if spec else "it is not a function of the repository"
    )
    if why is None:
        assert spec is not None
        return spec
    given = spec or f"module:{dependency.provider}"
    mapping = f'"{given}" = "yourapp.worker:{dependency.provider}"'
    raise Skip(
        Reason.UNSERIALIZABLE_ARGS,
        f"{name}, which a worker cannot re-create ({why}); give the worker a provider of its "
        f"own in [tool.celery-codemod] dependencies = {{ {mapping} }}",
    )


def _is_data(dependency: Dependency, ctx: Context) -> bool:
    """Whether a dependency's value is data (a JSON-safe type, a Pydantic v2 model)."""
    value = dependency.value_type
    if value is None:
        return False
    model = annotation_model(value, dependency.summary, ctx.resolver)
    return annotation_safety(value, dependency.summary, ctx.resolver) == SAFE or (
        model is not None and model[1] != V1
    )


def _is_member(arg: ArgFact, enum: str, ctx: Context) -> bool:
    """Whether an argument is evidently a member of the enum class: `Enum.MEMBER`, or a name
    annotated with the class where it is defined (a handler's parameter)."""
    owner = ctx.rebased(arg.owner)
    canonical = ctx.resolver.canonical
    return owner is not None and canonical(owner) == canonical(enum)


def _worker_app(arg: ArgFact, ctx: Context) -> bool:
    """An argument that is the Flask app (`current_app._get_current_object()`, `current_app`),
    in a project whose app a worker creates: the wrapper gives the job the worker's app."""
    if ctx.reach.flask.chosen is None:
        return False
    return is_current_app(arg.text, ctx.summary, ctx.resolver)


def _built_member(arg: ArgFact, enum: str, ctx: Context) -> bool:
    """Whether the call site builds the argument as a member of the enum (`E(value)`, `E[name]`)."""
    shown = evident_type(arg, ctx.summary, ctx.resolver)
    canonical = ctx.resolver.canonical
    return (
        shown is not None
        and shown.kind == "enum"
        and shown.qualname is not None
        and canonical(shown.qualname) == canonical(enum)
    )


def _built_path(arg: ArgFact, ctx: Context) -> bool:
    """Whether the call site shows an argument is a pathlib path (`Path(...)`)."""
    shown = evident_type(arg, ctx.summary, ctx.resolver)
    return shown is not None and shown.kind == "path"


def _locally_safe(arg: ArgFact, ctx: Context) -> bool:
    parsed = parse_expression(arg.annotation) if arg.annotation else None
    return parsed is not None and annotation_safety(parsed, ctx.summary, ctx.resolver) == SAFE
