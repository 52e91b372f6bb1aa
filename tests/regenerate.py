"""Rewrite the after/ tree of golden fixtures from the tool's current output, showing what changed.

    python -m tests.regenerate seed_app detect_import_alias ...

Read every diff it prints as a reviewer would before committing it.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from tests.golden import all_cases, diff_trees, tree
from tests.test_golden import _migrate


def main(names: list[str]) -> None:
    for case in all_cases():
        if names and case.name not in names:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            _, actual = _migrate(case, Path(tmp))
        expected = tree(case.after) if case.after.is_dir() else {}
        problems = diff_trees(actual, expected)
        if not problems:
            continue
        print(f"=== {case.name}\n{problems}")
        shutil.rmtree(case.after, ignore_errors=True)
        for name, data in actual.items():
            target = case.after / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)


if __name__ == "__main__":
    main(sys.argv[1:])
