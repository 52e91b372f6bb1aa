"""A job's signature as the wrapper mirrors it: its parameters (with the models and enums they
take) and the imports its annotations and defaults need."""

from __future__ import annotations

from codemod.analysis.schemas import with_models
from codemod.model.resolve import Func, Resolver
from codemod.models import Param, Signature


def implementation(qualname: str, resolver: Resolver) -> Signature | None:
    """The signature of the module-level function a qualified name ends at (None: there is
    none), with the Pydantic models and enums its parameters take."""
    resolved = resolver.resolve(qualname)
    if resolved is None or resolved[1].kind != "def":
        return None
    function = resolver.func(resolved[0], (resolved[1].target,))
    return with_models(signature_of(function, resolver), resolver) if function else None


def signature_of(function: Func, resolver: Resolver) -> Signature:
    """The parameters of a module-level function, with the imports its annotations need."""
    summary = function.summary
    params = tuple(Param(p.name, p.kind, p.annotation, p.default) for p in function.fn.params)
    needed: dict[tuple[str, str | None, str | None], None] = {}
    for name in function.fn.annotation_names:
        binding = summary.bindings.get(name)
        if binding is None:
            continue  # a builtin, or a name the wrapper cannot see either way
        if binding.kind != "import":
            needed[(summary.module, name, None)] = None
        elif not binding.from_import:
            module = binding.target
            needed[(module, None, name if name != module else None)] = None
        else:
            module, _, attr = binding.target.rpartition(".")
            needed[(module, attr, name if name != attr else None)] = None
    return Signature(
        summary.module,
        function.name,
        function.fn.is_async,
        params,
        tuple(sorted(needed, key=lambda s: (s[0], s[1] or "", s[2] or ""))),
    )
