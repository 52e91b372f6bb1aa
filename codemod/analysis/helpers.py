"""Call sites inside a helper that many code paths call (a telemetry or notification emitter): not
one request's job, and not for the tool to move."""

from __future__ import annotations

from collections import Counter

from codemod.analysis.context import Context
from codemod.analysis.reach import Callers
from codemod.model.resolve import Func
from codemod.model.summary import SiteFact

# A function called from this many functions of the program, fewer than half of them route
# handlers, is a shared helper.
MIN_CALLERS = 8


def shared_helper(fact: SiteFact, ctx: Context) -> str | None:
    """Why the site's function is a helper that many code paths call ("`track` is called from
    25 functions in 2 modules, ..."); None when it is not one (or is a route handler)."""
    function = _function_of(fact.scope_key, ctx)
    reach = ctx.reach
    if function is None or function.key in reach.route_handlers:
        return None
    search = Callers(ctx.sources, ctx.resolver, frozenset(), frozenset())
    callers = {c.key: c for c in search.callers(function)}
    if len(callers) < MIN_CALLERS:
        return None
    handlers = [key for key in callers if key in reach.route_handlers]
    if len(handlers) * 2 >= len(callers):
        return None
    program = ctx.resolver.program
    modules = Counter(program.rel(c.module) for c in callers.values())
    where = ", ".join(f"{rel} {n}" for rel, n in modules.most_common(5))
    more = f", and {len(modules) - 5} more" if len(modules) > 5 else ""
    return (
        f"`{function.display}` ({program.rel(function.module)}) is called from {len(callers)} "
        f"functions in {len(modules)} modules, {len(handlers)} of them route handlers "
        f"({where}{more}): migrating the call inside it would turn every one of those calls into "
        "a broker message, outside requests too"
    )


def _function_of(key: str | None, ctx: Context) -> Func | None:
    """The function of the site's module with this key (`module.f.inner`)."""
    if key is None:
        return None
    module = ctx.summary.module
    path = tuple(key.removeprefix(f"{module}.").split("."))
    return ctx.resolver.func(ctx.summary, path)
