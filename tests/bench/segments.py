"""Would `check` get faster by validating modules with CPython's parser alone and building `ast`
trees only for the statements it needs? Measures that design (not built) against `ast.parse`.

    python -m tests.bench.segments CORPUS [--repeat N]

CORPUS: a folder of modules, e.g. the all-hit corpus that `python -m tests.bench.speed --keep DIR`
leaves in DIR/allhit. For each module, in one process: `_symtable.symtable` validates the whole
source (it finds every syntax error, as CCM900 needs); the module is split at the column-0
`def` / `class` lines symtable reports (real statement starts; a segment that does not parse is
merged into the next); and only the segments a check needs are parsed with `ast`: the first one,
those that spell a marker word, and those that spell, as a word, a name the sites resolve
(`asyncio`, the benchmark's job) — the best case of a lazy index. Prints both times, their ratio
and the share of the text parsed. Issue 6, November 2026: 1.15x-1.29x of `ast.parse`, 53% of the
text, so the design does not pay on this corpus.
"""

from __future__ import annotations

import _symtable
import argparse
import ast
import contextlib
import gc
import re
import sys
import time
from pathlib import Path

DEF = re.compile(r"(?:async\s+def|def|class)\b")
MARKERS = ("create_task", "ensure_future", "add_task")
RESOLVED = ("asyncio", "_bench_job")


def by_segments(source: str) -> float | None:
    """The share of `source` parsed with `ast`, or None if a segment could not be parsed."""
    top = _symtable.symtable(source, "<module>", "exec")
    lines = source.splitlines(keepends=True)
    found = {c.lineno for c in top.children if 1 < c.lineno <= len(lines)}
    starts = [1, *sorted(n for n in found if DEF.match(lines[n - 1]))]
    ends = [*starts[1:], len(lines) + 1]
    texts = ["".join(lines[a - 1 : b - 1]) for a, b in zip(starts, ends, strict=True)]
    words = [re.compile(rf"\b{re.escape(name)}\b") for name in RESOLVED]
    wanted = [
        i
        for i, text in enumerate(texts)
        if i == 0 or any(m in text for m in MARKERS) or any(w.search(text) for w in words)
    ]
    parsed = 0
    done = -1  # the last segment parsed
    for i in wanted:
        if i <= done:
            continue
        j, text = i, texts[i]
        while True:  # a segment that does not parse is merged with the one after it
            try:
                ast.parse("\n" * (starts[i] - 1) + text)
                break
            except SyntaxError:
                j += 1
                if j == len(texts):
                    return None
                text += texts[j]
        parsed, done = parsed + len(text), j
    return parsed / max(1, len(source))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    sys.setrecursionlimit(10_000)
    gc.set_threshold(200_000, 30, 30)  # as the tool does
    sources = []
    for path in sorted(args.corpus.rglob("*.py")):
        try:
            sources.append(path.read_bytes().decode("utf-8"))
        except UnicodeDecodeError:
            continue
    for _ in range(args.repeat):
        start = time.perf_counter()
        for source in sources:
            with contextlib.suppress(SyntaxError):
                ast.parse(source)
        whole = time.perf_counter() - start
        start = time.perf_counter()
        shares, failed = [], 0
        for source in sources:
            try:
                share = by_segments(source)
            except SyntaxError:
                continue
            if share is None:
                failed += 1
            else:
                shares.append(share)
        segments = time.perf_counter() - start
        print(
            f"ast.parse {whole:.2f} s; symtable + segments {segments:.2f} s "
            f"({segments / whole:.2f}x); {sum(shares) / max(1, len(shares)):.0%} of the text "
            f"parsed; {failed} modules with a segment that never parsed"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
