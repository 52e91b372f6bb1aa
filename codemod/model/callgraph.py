"""Calls between the program's functions: what a function calls (or hands on, or reads as a
property), what a set of roots reaches, and who calls a function."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from codemod.model.resolve import Func, Resolver
from codemod.model.summary import CALLED, PASSED

CALLS = CALLED | PASSED


def callees(
    function: Func, resolver: Resolver, name: str | None = None, properties: bool = False
) -> Iterator[Func]:
    """The functions a function calls, or hands on as an argument (to `add_task`, `to_thread`,
    a registry, ...), and with `properties` those it runs by reading a property, as far as
    they resolve; only those spelled `name` when it is given. (Following properties means
    resolving every attribute chain: what a job does is worth it, what every handler and the
    start-up reach is not.)"""
    summary = function.summary
    for ref in function.fn.refs:
        chain = ref.chain
        if name is not None and name not in chain:
            continue
        if ref.flags & CALLS and (name is None or chain[-1] == name):
            found = resolver.callee(chain, function, summary)
            if found is not None:
                yield found
        if not properties:
            continue
        # reading `holder.prop` (or `holder.prop.x`) runs the property's body
        for cut in range(2, len(chain) + (0 if ref.flags & CALLED else 1)):
            if name is not None and chain[cut - 1] != name:
                continue
            found = resolver.callee(chain[:cut], function, summary)
            if found is not None and found.fn.is_property:
                yield found


def reached_from(
    roots: Iterable[tuple[Func, str]],
    resolver: Resolver,
    depth: int,
    budget: int | None = None,
    properties: bool = False,
) -> dict[str, tuple[Func, str]]:
    """Every function reached from the roots by calls (and functions passed as arguments),
    breadth first, at most `depth` calls deep and `budget` functions in all: key -> (function,
    the root's description), in the order reached."""
    seen: dict[str, tuple[Func, str]] = {}
    layer: list[tuple[Func, str]] = []
    for function, why in roots:
        if function.key not in seen:
            seen[function.key] = (function, why)
            layer.append((function, why))
    for _ in range(depth):
        following: list[tuple[Func, str]] = []
        for function, why in layer:
            for called in callees(function, resolver, properties=properties):
                if called.key not in seen and (budget is None or len(seen) < budget):
                    seen[called.key] = (called, why)
                    following.append((called, why))
        if not following:
            break
        layer = following
    return seen
