"""Whether a worker can import the job's module from the project root: code written for a
sub-folder on `sys.path` (`from utils import x` for `backend/utils.py`) cannot be."""

from __future__ import annotations

from codemod.model.files import relpath, sub_root_folder
from codemod.model.program import Program

HINT = (
    "the worker imports the job by its dotted name from the project root: run celery-codemod "
    "with the folder the app runs from as `--root`, or make the import absolute"
)


def sub_root_import(module: str, program: Program) -> str | None:
    """Why the module cannot be imported from the root: one of its absolute imports names a
    module that does not exist from the root, but does beside one of the module's own folders
    ("`from utils import ...` (line 33) means backend/utils.py"), and the module does not put
    a folder on `sys.path` itself before it; None when there is none."""
    summary = program.module(module)
    path = program.path(module)
    if summary is None or path is None:
        return None
    root = program.root
    tweaked = summary.sys_path_line
    for node in summary.imports:  # what runs when a worker imports it
        if tweaked is not None and tweaked < node.line:
            continue  # the module puts the folder it needs on sys.path first (gpt-researcher)
        for name in node.names:
            folder = sub_root_folder(name.split(".")[0], path, root)
            if folder is None:
                continue
            found = relpath(folder, root)
            what = f"from {name} import" if node.from_import else "import"
            return (
                f"its module {module} does `{what} ...` (line {node.line}) for "
                f"{found}/{name.split('.')[0]}: it runs with {found}/ on sys.path, and a worker "
                f"importing {module} from the project root fails; run celery-codemod with "
                f"`--root {found}`"
            )
    return None
