"""Whether a worker can import the job's module from the project root: code written for a
sub-folder on `sys.path` (`from utils import x` for `backend/utils.py`) cannot be."""

from __future__ import annotations

import ast
import functools
import sys
from pathlib import Path

from codemod.discover import module_path, relpath
from codemod.index import ModuleInfo

HINT = (
    "the worker imports the job by its dotted name from the project root: run celery-codemod "
    "with the folder the app runs from as `--root`, or make the import absolute"
)


def sub_root_import(info: ModuleInfo, root: Path) -> str | None:
    """Why the module cannot be imported from `root`: one of its absolute imports names a
    module that does not exist from the root, but does beside one of the module's own folders
    ("`from utils import ...` (line 33) means backend/utils.py"); None when there is none."""
    folders = _folders(info, root)
    if not folders:
        return None
    for node in ast.walk(info.tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in sys.stdlib_module_names or _exists(top, root):
                continue  # the standard library's wins over a local file of the same name
            for folder in folders:
                found = _module_in(top, folder)
                if found is not None:
                    what = "import" if isinstance(node, ast.Import) else f"from {name} import"
                    return (
                        f"its module {info.module} does `{what} ...` (line {node.lineno}), which "
                        f"means {relpath(found, root)}: it runs with "
                        f"{relpath(folder, root)}/ on sys.path, and a worker importing "
                        f"{info.module} from the project root fails; run celery-codemod with "
                        f"`--root {relpath(folder, root)}`"
                    )
    return None


def _folders(info: ModuleInfo, root: Path) -> list[Path]:
    """The module's folders below the root, innermost first."""
    out: list[Path] = []
    folder = info.path.parent
    while folder != root and root in folder.parents:
        out.append(folder)
        folder = folder.parent
    return out


@functools.lru_cache(maxsize=4096)
def _exists(top: str, root: Path) -> bool:
    return module_path(top, root) is not None or (root / top).is_dir()


@functools.lru_cache(maxsize=4096)
def _module_in(top: str, folder: Path) -> Path | None:
    for candidate in (folder / f"{top}.py", folder / top / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None
