"""Jobs that need the request's context (`needs-request`): Flask's `request`, `session`, the `g`
of a request, flask_login's `current_user`, `copy_current_request_context`, or an ASGI app's
per-request store (starlette_context's `context`). A worker runs a job in the app's context at
most, never in a request's."""

from __future__ import annotations

import ast
from typing import NamedTuple

from codemod.analysis.webside import JobCheck
from codemod.model.resolve import Func, Resolver
from codemod.model.summary import CALLED, STORE, Chain, ModuleSummary
from codemod.model.syntax import name_chain, parse_expression

_OUTSIDE = "a worker has no request (RuntimeError: Working outside of request context)"
# What only a request's context has, by qualified name -> (how the message names it, what
# happens in a worker).
REQUEST_GLOBALS = {
    "flask.request": ("flask's `request`", _OUTSIDE),
    "flask.globals.request": ("flask's `request`", _OUTSIDE),
    "flask.session": ("flask's `session`", _OUTSIDE),
    "flask.globals.session": ("flask's `session`", _OUTSIDE),
    "flask_login.current_user": (
        "flask_login's `current_user`",
        "a worker has no request, so no logged-in user (`current_user` is None there)",
    ),
    "flask_login.utils.current_user": (
        "flask_login's `current_user`",
        "a worker has no request, so no logged-in user (`current_user` is None there)",
    ),
    # per-request stores of ASGI apps, filled by a middleware and the handler
    "starlette_context.context": (
        "starlette_context's `context`",
        "a worker has no request, so no request context (ContextDoesNotExistError, or the "
        "default of `.get`)",
    ),
    "starlette_context.ctx.context": (
        "starlette_context's `context`",
        "a worker has no request, so no request context (ContextDoesNotExistError, or the "
        "default of `.get`)",
    ),
    "fastapi_globals.g": (
        "fastapi_globals' `g`",
        "a worker has no request, so nothing the request set in `g`",
    ),
}
# `g` lives in the app's context: what the job sets there itself, it may read back.
G_NAMES = frozenset({"flask.g", "flask.globals.g"})
# Methods of `g` that read an attribute by a name the analysis does not see.
G_READS = frozenset({"get", "pop", "__contains__", "__iter__"})
G_CONSEQUENCE = (
    "in a worker, `g` belongs to the task's own app context, where no request set anything "
    "(AttributeError, or the default)"
)
COPY_CONTEXT = frozenset(
    {"flask.copy_current_request_context", "flask.ctx.copy_current_request_context"}
)
COPY_CONSEQUENCE = (
    "a worker has no request whose context it could copy (RuntimeError: This decorator can only "
    "be used when a request context is active)"
)


class Read(NamedTuple):
    """A use of the request's context in one function."""

    text: str  # "reads `request.args`"
    what: str  # "flask's `request`"
    line: int
    consequence: str  # what happens in a worker


class NeedsRequest(JobCheck):
    """Where a job, or a function of the program it calls, uses the request's context (jobs
    asked once)."""

    def _shared(self, job: Func) -> str | None:
        walk = self.walk(job)
        sets_g = self._g_set(walk)
        program = self.resolver.program
        for function in walk:
            found = self._reads(function, sets_g)
            if found is None:
                continue
            where = f"{found.what}, {program.rel(function.module)}:{found.line}"
            if function is job:
                said = f"`{job.display}` {found.text} ({where})"
            else:
                said = f"`{job.display}` reaches `{function.display}`, which {found.text} ({where})"
            return f"{said}: {found.consequence}"
        return None

    def _qualname(
        self, chain: Chain, function: Func | None, where: Func | None = None
    ) -> str | None:
        """What `chain` names where `function` spells it (None: the top level of the module of
        `where`), as it is defined."""
        holder = function or where
        if holder is None:
            return None
        found = self.resolver.qualify_local(chain, function, holder.summary)
        return self.resolver.canonical(found) if found is not None else None

    def _g_set(self, walk: list[Func]) -> set[str]:
        """The attributes of `g` that the job's functions set (`g.x = ...`); `*` when one sets
        them by a name the analysis does not see (`g.setdefault(...)`, `setattr(g, ...)`)."""
        out: set[str] = set()
        for function in walk:
            for ref in function.fn.refs:
                rest = _g_attributes(self._qualname(ref.chain, function))
                if not rest:
                    continue
                if ref.flags & STORE and len(rest) == 1:
                    out.add(rest[0])
                elif ref.flags & CALLED and rest == ["setdefault"]:
                    out.add("*")
            for call in function.fn.calls:
                target = call.args[0].chain if call.func[-1] == "setattr" and call.args else None
                if target and _g_attributes(self._qualname(target, function)) == []:
                    out.add("*")
        return out

    def _reads(self, function: Func, sets_g: set[str]) -> Read | None:
        """The first use of the request's context in one function."""
        for decorator in function.fn.decorators:
            target = decorator.target
            name = (
                self._qualname(target, self.resolver.outer(function), function) if target else None
            )
            if name in COPY_CONTEXT:
                text = "is wrapped with `copy_current_request_context`"
                return Read(text, "flask's", function.fn.first_line, COPY_CONSEQUENCE)
        for ref in function.fn.refs:
            chain = ref.chain
            name = self._qualname(chain, function)
            if name is None:
                continue
            spelled = ".".join(chain)
            if name in COPY_CONTEXT and ref.flags & CALLED:
                return Read(f"calls `{spelled}`", "flask's", ref.line, COPY_CONSEQUENCE)
            for known, (what, consequence) in REQUEST_GLOBALS.items():
                if name == known or name.startswith(known + "."):
                    return Read(f"reads `{spelled}`", what, ref.line, consequence)
            unset = _request_g(name, sets_g) if not ref.flags & STORE else None
            if unset is not None:
                text = f"reads `{spelled}`, {unset}"
                return Read(text, "flask's `g`", ref.line, G_CONSEQUENCE)
        return None


def _request_g(name: str, sets_g: set[str]) -> str | None:
    """Whether a use of `g` reads what a request set there, said as the message says it: an
    attribute the job does not set itself (or `g` as a whole, `g.get(...)`, when the job sets
    nothing there)."""
    rest = _g_attributes(name)
    if rest is None:
        return None
    if not rest or rest[0] in G_READS:
        return None if sets_g else "and sets nothing in `g` itself"
    if rest[0] == "setdefault" or rest[0] in sets_g or "*" in sets_g:
        return None
    return "which it does not set itself"


def _g_attributes(name: str | None) -> list[str] | None:
    """The attributes read of `g` (`[]`: `g` itself), if `name` is Flask's `g` or below it."""
    for base in G_NAMES:
        if name == base:
            return []
        if name is not None and name.startswith(base + "."):
            return name[len(base) + 1 :].split(".")
    return None


# Flask's context-bound objects, which a job cannot be handed as data: name -> how it is said.
FLASK_OBJECTS = {
    "flask.current_app": "the Flask app (flask's `current_app`)",
    "flask.globals.current_app": "the Flask app (flask's `current_app`)",
    "flask.request": "the request (flask's `request`)",
    "flask.globals.request": "the request (flask's `request`)",
    "flask.session": "the session (flask's `session`)",
    "flask.globals.session": "the session (flask's `session`)",
    "flask.g": "flask's `g`",
    "flask.globals.g": "flask's `g`",
    "flask_login.current_user": "the logged-in user (flask_login's `current_user`)",
    "flask_login.utils.current_user": "the logged-in user (flask_login's `current_user`)",
}
_UNWRAPPED = "._get_current_object()"
CURRENT_APP = frozenset({"flask.current_app", "flask.globals.current_app"})


def is_current_app(text: str, summary: ModuleSummary, resolver: Resolver) -> bool:
    """Whether an argument, as spelled, is Flask's `current_app` (or the app behind it)."""
    parts = tuple(text.removesuffix(_UNWRAPPED).split("."))
    if not all(part.isidentifier() for part in parts):
        return False
    qualname = resolver.qualify_chain(summary, parts)
    return qualname is not None and resolver.canonical(qualname) in CURRENT_APP


def flask_object(text: str, summary: ModuleSummary, resolver: Resolver) -> str | None:
    """Why an argument, as spelled, is one of Flask's context-bound objects (or the object
    behind one, `current_app._get_current_object()`): no data a message can carry (None when
    it is not one). A thread is handed the app to enter its context: a worker's job runs in
    the app's context already."""
    base = text.removesuffix(_UNWRAPPED)
    parts = tuple(base.split("."))
    if not all(part.isidentifier() for part in parts):
        return None
    qualname = resolver.qualify_chain(summary, parts)
    what = FLASK_OBJECTS.get(resolver.canonical(qualname)) if qualname else None
    if what is None:
        return None
    if qualname in ("flask.current_app", "flask.globals.current_app"):
        return (
            f"is {what}, not data: a worker runs the job in the app's context already "
            "(`FlaskTask`), where the job reads it as `current_app`"
        )
    return f"is {what}, not data"


def copied_context(job: str, summary: ModuleSummary, resolver: Resolver) -> str | None:
    """Why a job given as `copy_current_request_context(job)` (a thread's target) needs the
    request, as the message says it (None for any other job expression)."""
    expr = parse_expression(job)
    if not isinstance(expr, ast.Call) or len(expr.args) != 1:
        return None
    chain = name_chain(expr.func)
    qualname = resolver.qualify_chain(summary, chain) if chain else None
    if qualname is None or resolver.canonical(qualname) not in COPY_CONTEXT:
        return None
    wrapped = ast.unparse(expr.args[0])
    return f"`{wrapped}` is wrapped with `{ast.unparse(expr.func)}`: {COPY_CONSEQUENCE}"
