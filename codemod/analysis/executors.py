"""Whether a name that another module defines is a `concurrent.futures` executor."""

from __future__ import annotations

from codemod.model.detect import EXECUTOR_CLASSES, EXECUTOR_TYPES
from codemod.model.resolve import Resolver

MAX_IMPORTS = 8  # re-exports followed before giving up


def is_executor(qualname: str, resolver: Resolver) -> bool:
    """`pool = ThreadPoolExecutor(...)` (or `pool: Executor = ...`) at the top level of the
    module that defines `qualname`, followed through imports and re-exports."""
    for _ in range(MAX_IMPORTS):
        found = resolver.split(qualname)
        if found is None:
            return False
        summary, rest = found
        binding = summary.bindings.get(rest)
        if binding is None:
            return False
        if binding.kind == "import":
            qualname = binding.target
            continue
        value = binding.value
        if binding.kind != "assign" or value is None:
            return False
        for chain, wanted in ((value.cls, EXECUTOR_CLASSES), (value.declared, EXECUTOR_TYPES)):
            name = resolver.qualify_chain(summary, chain) if chain else None
            if name is not None and resolver.canonical(name) in wanted:
                return True
        return False
    return False
