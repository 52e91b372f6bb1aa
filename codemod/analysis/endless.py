"""Whether a job never finishes: a loop nothing leaves, or a decorator that repeats it for ever."""

from __future__ import annotations

from codemod.model.resolve import Func, Resolver
from codemod.model.summary import CALLED

# Decorators that re-run a function for ever (fastapi-utils, fastapi-utilities), by name.
REPEATERS = frozenset({"repeat_every", "repeat_at"})


def never_ends(function: Func, resolver: Resolver) -> str | None:
    """Why the job never finishes (the function itself, or a function of the program it calls
    or awaits directly), or None."""
    why = _own(function, resolver)
    if why is not None:
        return why
    for ref in function.fn.refs:
        if ref.flags & CALLED:
            called = resolver.callee(ref.chain, function, function.summary)
            if called is not None and called.key != function.key:
                why = _own(called, resolver)
                if why is not None:
                    return f"it calls `{called.display}`, which {why.removeprefix('it ')}"
    return None


def _own(function: Func, resolver: Resolver) -> str | None:
    for decorator in function.fn.decorators:
        target = decorator.target
        name = target[-1] if target else ""
        if name in REPEATERS:
            return f"it is decorated by `@{name}`, which repeats it for ever"
        found = resolver.callee(target, None, function.summary)
        if found is not None and name and _repeats(found, resolver):
            return f"it is decorated by `@{name}`, whose wrapper runs it in a loop for ever"
    loop = function.fn.endless
    if loop is not None:
        line, test = loop
        return f"it holds a `while {test}:` loop (line {line}) that no break or return leaves"
    return None


def _repeats(decorator: Func, resolver: Resolver) -> bool:
    """A decorator whose wrapper loops for ever: an endless loop, or a loop that sleeps and
    that no break or return leaves, anywhere in it (nested wrappers included)."""
    if decorator.fn.repeats:
        return True
    size = len(decorator.path)
    return any(
        inner.fn.repeats
        for inner in resolver.functions(decorator.summary)
        if len(inner.path) > size and inner.path[:size] == decorator.path
    )
