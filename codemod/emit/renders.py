"""Rendering files as plain data across `-j` worker processes; an endpoint's rewrite and checks."""

from __future__ import annotations

import ast
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from functools import partial

from codemod.config import Config
from codemod.emit.edits import ModuleNames, SiteEdit
from codemod.emit.guard import check_rewrite
from codemod.emit.rewrite import rewrite_module
from codemod.model.index import ModuleInfo
from codemod.model.source import check_compiles
from codemod.model.syntax import tune_interpreter
from codemod.models import RUNNER


def module_names(info: ModuleInfo) -> ModuleNames:
    asyncio_name = logging_name = logger = partial_name = None
    has_functools = False
    for name, binding in info.bindings.items():
        if binding.kind == "import" and binding.target == "asyncio":
            asyncio_name = asyncio_name or name
        if binding.kind == "import" and binding.target == "logging":
            logging_name = logging_name or name
        if binding.kind == "import" and binding.target == "functools.partial":
            partial_name = partial_name or name
        if binding.kind == "import" and binding.target == "functools" and name == "functools":
            has_functools = True
    if partial_name is None and "partial" in info.bindings:
        partial_name = "functools.partial"  # the name is taken: spelled in full
    for stmt in info.tree.body:
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call):
            func = stmt.value.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            target = stmt.targets[0]
            if called in ("getLogger", "get_logger") and isinstance(target, ast.Name):
                logger = logger or target.id
    return ModuleNames(asyncio_name, logger, logging_name, partial_name, has_functools)


@dataclass(frozen=True)
class _EndpointJob:
    """One endpoint module to rewrite: plain data, so that a worker process can do it."""

    rel: str
    text: str
    edits: list[SiteEdit]
    first_party: str
    config: Config

    def rewrite(self, names: ModuleNames, tree: ast.Module) -> str:
        """The new text, checked: it compiles and only the call sites changed. `tree` is the
        old text's (and is changed by the check)."""
        config = self.config
        new, done = rewrite_module(
            self.text,
            self.edits,
            names,
            config.fallback,
            config.line_length,
            self.first_party,
            tree,
            f"{config.tasks_package}.{RUNNER}",
        )
        missing = [e.site.line for e in self.edits if e.site.stmt_line not in done]
        if missing:
            raise ValueError(f"cannot rewrite the call on line {missing[0]}")
        try:
            new_tree = ast.parse(new)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            raise _NotCompiling(check_compiles(new, self.rel) or "cannot parse") from None
        not_compiling = check_compiles(new_tree, self.rel)  # before the guard changes the tree
        if not_compiling:
            raise _NotCompiling(not_compiling)
        problem = check_rewrite(
            self.text,
            new,
            [(e.site.stmt_line, e.site.end_line) for e in self.edits if not e.in_place],
            {e.wrapper.name for e in self.edits},
            {e.wrapper.tasks_module for e in self.edits} | {f"{config.tasks_package}.{RUNNER}"},
            (tree, new_tree),
            [(e.site.line, e.site.column - 1) for e in self.edits if e.in_place],
        )
        if problem:
            raise ValueError(f"{problem}; file left as it was")
        return new


class _NotCompiling(Exception):
    """The rewritten text does not compile: its message is the file's error as it is."""


_REREAD = "cannot read the file again"


def _render_endpoint(job: _EndpointJob) -> Rendered:
    module = job.edits[0].site.module
    try:
        info = ModuleInfo.parse(module, job.config.root / job.rel, job.text)
    except (SyntaxError, ValueError):
        return None, _REREAD
    names = module_names(info)
    if any("partial" in e.site.shadowed for e in job.edits if e.site.after_response):
        # a parameter or a local of the site's function is called `partial`: spelled in full
        names = replace(names, partial="functools.partial")
    return _rendered(job.rel, partial(job.rewrite, names, info.tree), compiled=True)


# LibCST parses every rewritten module, black formats every generated one: worth worker
# processes from a few files on.
PARALLEL_RENDERS = 8

Rendered = tuple[str | None, str | None]


def _run_all(
    renders: list[Callable[[], Rendered]],
    config: Config,
    progress: Callable[[int], None] | None = None,
) -> list[Rendered]:
    """Each render's result, in order, across `-j` processes (each render is plain data)."""
    workers = min(config.workers, len(renders) // PARALLEL_RENDERS)
    if workers <= 1:
        return [_counted(render(), progress) for render in renders]
    with ProcessPoolExecutor(workers, initializer=tune_interpreter) as pool:
        chunk = max(1, len(renders) // (workers * 8))
        return [_counted(r, progress) for r in pool.map(_call, renders, chunksize=chunk)]


def _counted(result: Rendered, progress: Callable[[int], None] | None) -> Rendered:
    if progress:
        progress(1)
    return result


def _call(render: Callable[[], Rendered]) -> Rendered:
    return render()


def _rendered(
    rel: str, make: Callable[[], str | None], compiled: bool = False
) -> tuple[str | None, str | None]:
    """(text, None), or (None, why) when it cannot be generated or does not compile.
    `compiled`: `make` has checked that the text compiles."""
    try:
        text = make()
    except _NotCompiling as exc:
        return None, str(exc)
    except Exception as exc:  # a per-file problem: recorded, the run goes on
        return None, f"cannot generate: {type(exc).__name__}: {exc}"
    if text is None:
        return None, None
    return text, None if compiled else check_compiles(text, rel)
