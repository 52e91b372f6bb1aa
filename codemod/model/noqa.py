"""`# noqa` and `# noqa: CODE, ...` comments, read from the comment only (never from a string)."""

from __future__ import annotations

import io
import re
import tokenize

NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*))?", re.I)


def comment_of(line: str) -> str | None:
    """The comment that ends a source line, found by the tokenizer so that a `#` inside a
    string does not count; the line may open brackets it does not close."""
    if "#" not in line:
        return None
    try:
        for token in tokenize.generate_tokens(io.StringIO(line.lstrip() + "\n").readline):
            if token.type == tokenize.COMMENT:
                return token.string
    except (tokenize.TokenError, SyntaxError):
        pass  # an unclosed bracket or string: the tokens before it were seen
    return None


def suppressed(line: str, code: str) -> bool:
    """True if the line's `# noqa` is bare or names the code."""
    comment = comment_of(line)
    match = NOQA.search(comment) if comment else None
    if match is None:
        return False
    codes = match.group("codes")
    return codes is None or code in re.split(r"[\s,]+", codes.upper())


def noqa_codes(data: bytes) -> tuple[tuple[int, tuple[str, ...]], ...]:
    """The lines (1-based) whose `# noqa: ...` names CCM codes, with those codes: what CCM100
    checks. Most files spell neither word: two byte scans."""
    if b"noqa" not in data or b"CCM" not in data:
        return ()
    from codemod.model.syntax import split_lines

    text = data.decode("utf-8", errors="replace")
    out: list[tuple[int, tuple[str, ...]]] = []
    for number, line in enumerate(split_lines(text), start=1):
        if "CCM" not in line or "noqa" not in line.lower():
            continue
        comment = comment_of(line)
        match = NOQA.search(comment) if comment else None
        codes = match.group("codes") if match else None
        if codes:
            ours = tuple(c for c in re.split(r"[\s,]+", codes.upper()) if c.startswith("CCM"))
            if ours:
                out.append((number, ours))
    return tuple(out)
