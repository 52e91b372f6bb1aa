"""A unified diff of a file before and after, as `migrate --diff` prints it."""

from __future__ import annotations

import difflib

from codemod.model.source import SourceFile


def unified_diff(rel: str, before: bytes | None, after: bytes) -> str:
    def lines(data: bytes | None) -> list[str]:
        if data is None:
            return []
        return SourceFile.from_bytes(data).text.splitlines(keepends=True)

    old, new = lines(before), lines(after)
    diff = difflib.unified_diff(old, new, "/dev/null" if before is None else f"a/{rel}", f"b/{rel}")
    out = []
    for line in diff:
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)
