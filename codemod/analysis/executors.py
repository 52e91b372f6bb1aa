"""Whether a name that another module defines is a `concurrent.futures` executor."""

from __future__ import annotations

from codemod.model.detect import EXECUTOR_CLASSES, EXECUTOR_TYPES
from codemod.model.resolve import Resolver


def is_executor(qualname: str, resolver: Resolver) -> bool:
    """`pool = ThreadPoolExecutor(...)` (or `pool: Executor = ...`) at the top level of the
    module that defines `qualname`, followed through imports and re-exports."""
    found = resolver.assigned(qualname)
    if found is None:
        return False
    summary, value = found
    for chain, wanted in ((value.cls, EXECUTOR_CLASSES), (value.declared, EXECUTOR_TYPES)):
        name = resolver.qualify_chain(summary, chain) if chain else None
        if name is not None and resolver.canonical(name) in wanted:
            return True
    return False
