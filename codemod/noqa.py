"""`# noqa` and `# noqa: CODE, ...` comments, read from the comment only (never from a string)."""

from __future__ import annotations

import io
import re
import tokenize

NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*))?", re.I)


def _comment(line: str) -> str | None:
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
    comment = _comment(line)
    match = NOQA.search(comment) if comment else None
    if match is None:
        return False
    codes = match.group("codes")
    return codes is None or code in re.split(r"[\s,]+", codes.upper())
