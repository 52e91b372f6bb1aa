"""Which Pydantic model parameters of a job must arrive with the request's `model_fields_set`."""

from __future__ import annotations

from dataclasses import replace

from codemod.model.resolve import Func, Resolver
from codemod.model.summary import Handed
from codemod.models import Signature

DEPTH = 3  # how many calls deep a model handed on is followed
WIDTH = 50  # how many (function, parameter) pairs one layer follows
# Calls that take a model and cannot tell its set fields from its defaults: handing it to them
# is no escape. Anything else outside the program (a library's update helper, a method of an
# object some service returned) may read them.
HARMLESS = frozenset(
    {
        "print",
        "len",
        "str",
        "repr",
        "isinstance",
        "id",
        "type",
        "debug",
        "info",
        "warning",
        "warn",
        "error",
        "exception",
        "critical",
        "log",
    }
)


def mark_fields_set(signature: Signature, resolver: Resolver) -> Signature:
    """The signature with `fields_set` marked on each model parameter whose set fields the job
    may read: the call site then sends them beside the model's JSON form, and the wrapper puts
    them back."""
    if not any(p.model for p in signature.params):
        return signature
    function = resolver.target(signature.dotted)
    if not isinstance(function, Func):
        return signature
    params = tuple(
        replace(p, fields_set=True)
        if p.model and reads_fields_set(function, p.name, resolver)
        else p
        for p in signature.params
    )
    return replace(signature, params=params)


def reads_fields_set(function: Func, name: str, resolver: Resolver) -> str:
    """How the job may tell the set fields of its model parameter `name` from defaults: it reads
    `name.model_fields_set`, calls `name.model_dump(exclude_unset=True)` or any call with
    `exclude_unset=True` that it hands `name` to, or hands `name` to code the analysis cannot
    see into; followed into the functions it hands `name` on to, a few calls deep. "" when it
    evidently does not."""
    seen = {(function.key, name)}
    layer = [(function, name)]
    for _ in range(DEPTH):
        following: list[tuple[Func, str]] = []
        for current, param in layer:
            for root, text in current.fn.fields_set_reads:
                if root == param:
                    return f"`{current.display}` reads `{text}`"
            for handed in current.fn.handed:
                if handed.param != param:
                    continue
                why = _call_reads(handed, current, resolver, following, seen)
                if why:
                    return why
        layer = following[:WIDTH]
    # Deeper than followed: the model may still be read there.
    return f"`{layer[0][0].display}` hands it on further" if layer else ""


def _call_reads(
    handed: Handed,
    function: Func,
    resolver: Resolver,
    following: list[tuple[Func, str]],
    seen: set[tuple[str, str]],
) -> str:
    text = handed.text
    param = handed.param
    if handed.on_param:
        return f"`{function.display}` calls `{text}(exclude_unset=...)`" if handed.unset else ""
    if handed.unset:
        return f"`{function.display}` calls `{text}({param}, exclude_unset=...)`"
    called = resolver.callee(handed.func, function, function.summary)
    if called is None:
        if handed.func and handed.func[-1] in HARMLESS:
            return ""
        return f"`{function.display}` hands it to `{text}`"
    arrives_as = _arrives_as(handed, called)
    if arrives_as is not None and (called.key, arrives_as) not in seen:
        seen.add((called.key, arrives_as))
        following.append((called, arrives_as))
    return ""


def _arrives_as(handed: Handed, called: Func) -> str | None:
    """The parameter of `called` that a call hands the model to."""
    params = called.fn.params
    positional = [p for p in params if p.kind in ("posonly", "normal")]
    if called.fn.owner is not None and positional:
        positional = positional[1:]  # self
    vararg = next((p.name for p in params if p.kind == "vararg"), None)
    kwarg = next((p.name for p in params if p.kind == "kwarg"), None)
    at = handed.at
    if isinstance(at, int):
        return positional[at].name if at < len(positional) else vararg
    if isinstance(at, str):
        known = {p.name for p in params if p.kind in ("posonly", "normal", "kwonly")}
        return at if at in known else kwarg
    return None
