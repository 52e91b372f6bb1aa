"""Whether a worker can import the job's module from the project root: code written for a
sub-folder on `sys.path` (`from utils import x` for `backend/utils.py`) cannot be."""

from __future__ import annotations

import ast
from pathlib import Path

from codemod.model.files import relpath
from codemod.model.index import ModuleInfo, sub_root_folder
from codemod.model.syntax import scope_statements

HINT = (
    "the worker imports the job by its dotted name from the project root: run celery-codemod "
    "with the folder the app runs from as `--root`, or make the import absolute"
)


def sub_root_import(info: ModuleInfo, root: Path) -> str | None:
    """Why the module cannot be imported from `root`: one of its absolute imports names a
    module that does not exist from the root, but does beside one of the module's own folders
    ("`from utils import ...` (line 33) means backend/utils.py"), and the module does not put
    a folder on `sys.path` itself before it; None when there is none."""
    tweaked = _path_tweaked_at(info)
    for node in scope_statements(info.tree.body):  # what runs when a worker imports it
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        if tweaked is not None and tweaked < node.lineno:
            continue  # the module puts the folder it needs on sys.path first (gpt-researcher)
        for name in names:
            folder = sub_root_folder(name.split(".")[0], info.path, root)
            if folder is None:
                continue
            found = relpath(folder, root)
            what = "import" if isinstance(node, ast.Import) else f"from {name} import"
            return (
                f"its module {info.module} does `{what} ...` (line {node.lineno}) for "
                f"{found}/{name.split('.')[0]}: it runs with {found}/ on sys.path, and a worker "
                f"importing {info.module} from the project root fails; run celery-codemod with "
                f"`--root {found}`"
            )
    return None


def _path_tweaked_at(info: ModuleInfo) -> int | None:
    """The first line where the module's top level changes `sys.path` (`sys.path.insert(...)`,
    `.append(...)`), if it does."""
    if "sys.path" not in info.source:
        return None
    for stmt in info.tree.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        for node in ast.walk(stmt):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("insert", "append", "extend")
                and isinstance(node.func.value, ast.Attribute)
                and node.func.value.attr == "path"
                and isinstance(node.func.value.value, ast.Name)
                and node.func.value.value.id == "sys"
            ):
                return stmt.lineno
    return None
