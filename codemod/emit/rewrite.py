"""Call sites -> delay-with-fallback, plus the task imports and the logger, with LibCST."""

from __future__ import annotations

import ast

from codemod.emit.edits import ModuleNames, SiteEdit
from codemod.emit.pieces import rewrite_pieces
from codemod.emit.whole import _Rewrite, rewrite_whole


def rewrite_module(
    source: str,
    edits: list[SiteEdit],
    names: ModuleNames,
    fallback: bool,
    line_length: int,
    first_party: str,
    tree: ast.Module | None = None,
    runner: str = "app.tasks.async_runner",
) -> tuple[str, set[int]]:
    """The rewritten source, and the statement lines of the sites that were rewritten.
    `tree`: the source already parsed by `ast`, if it is; `runner`: the runner module.

    LibCST parses and regenerates only the pieces of the module that change (the import block,
    the module-level statements holding a call site); the rest is kept as text. Where the pieces
    cannot be told apart safely, the whole module goes through LibCST: the result is the same."""
    job = _Rewrite(edits, names, fallback, line_length, first_party, runner)
    if tree is None:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError):
            return rewrite_whole(source, job, None)
    return rewrite_pieces(source, job, tree) or rewrite_whole(source, job, tree)
