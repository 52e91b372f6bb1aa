"""`check --add-noqa`: `# noqa: CODE` written on the lines of current problems."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

from codemod.model.noqa import NOQA, comment_of, suppressed
from codemod.model.source import SourceFile, atomic_write
from codemod.model.syntax import split_lines


def with_noqa(line: str, codes: list[str]) -> str | None:
    """The line (without its line break) with `# noqa: CODES` added, merged into a `# noqa:`
    comment it has; None when nothing is to add (a bare `# noqa` covers every code)."""
    comment = comment_of(line)
    match = NOQA.search(comment) if comment else None
    if comment is not None and match is not None:
        have = match.group("codes")
        if have is None:
            return None
        known = re.split(r"[\s,]+", have.upper())
        new = [c for c in codes if c not in known]
        if not new:
            return None
        start = line.rindex(comment) + match.start("codes")
        end = start + len(have)
        return f"{line[:end]}, {', '.join(new)}{line[end:]}"
    return f"{line.rstrip()}  # noqa: {', '.join(codes)}"


def add_noqa(root: Path, wanted: dict[str, dict[int, list[str]]]) -> tuple[int, list[str]]:
    """Write `# noqa: CODES` on the given lines (path relative to root -> line -> codes), each
    file through the atomic writer with its encoding, BOM and line endings kept: how many lines
    changed, and one message per file that could not be written. A line that ends inside a
    string or with a backslash cannot take a comment: it is left as it is."""

    added = 0
    problems: list[str] = []
    for rel, numbers in sorted(wanted.items()):
        path = root / rel
        try:
            data = path.read_bytes()
            source = SourceFile.from_bytes(data)
        except (OSError, SyntaxError, UnicodeDecodeError, LookupError) as exc:
            problems.append(f"{rel}: cannot read: {exc}")
            continue
        lines = split_lines(source.text)
        closed = _lines_that_can_end_in_acomment_of(source.text)
        changed = 0
        for number, codes in sorted(numbers.items()):
            if not (0 < number <= len(lines)) or number not in closed:
                continue
            line = lines[number - 1]
            body = line.rstrip("\r\n")
            ending = line[len(body) :]
            if body.rstrip().endswith("\\"):
                continue
            new = with_noqa(body, sorted(set(codes)))
            if new is not None and all(suppressed(new, c) for c in codes):
                lines[number - 1] = new + ending
                changed += 1
        if changed:
            try:
                atomic_write(path, source.encode("".join(lines)))
            except OSError as exc:
                problems.append(f"{rel}: cannot write: {exc.strerror or exc}")
                continue
            added += changed
    return added, problems


def _lines_that_can_end_in_acomment_of(text: str) -> set[int]:
    """The lines whose end is not inside a string (nor the file unreadable to the tokenizer)."""
    inside: set[int] = set()
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.STRING or token.type == getattr(
                tokenize, "FSTRING_MIDDLE", -1
            ):
                inside.update(range(token.start[0], token.end[0]))
    except (tokenize.TokenError, SyntaxError):
        return set()
    total = text.count("\n") + 2
    return {n for n in range(1, total + 1) if n not in inside}
