"""The files under root with their bytes, read once and searched by spelling: the cheap tests
that rule a file out before anything asks for its summary."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from codemod.model.detect import MARKERS
from codemod.model.files import module_name


class Sources:
    """Every Python file of the project (path, root-relative path), its bytes read on first use."""

    def __init__(self, files: Iterable[tuple[Path, str]]) -> None:
        self.files = list(files)
        self._data: dict[str, bytes] = {}
        self._paths = {rel: path for path, rel in self.files}
        self._words: dict[str, list[str]] = {}
        self._found: dict[str, list[str]] = {}
        self._errors: dict[str, str] = {}

    def data(self, rel: str) -> bytes:
        """The bytes of a file (empty if it cannot be read: see `error`)."""
        found = self._data.get(rel)
        if found is None:
            try:
                found = self._paths[rel].read_bytes() if rel in self._paths else b""
            except OSError as exc:
                found = b""
                self._errors[rel] = f"cannot read: {exc.strerror or exc}"
            self._data[rel] = found
        return found

    def error(self, rel: str) -> str | None:
        """Why a file could not be read, if it could not."""
        self.data(rel)
        return self._errors.get(rel)

    def __contains__(self, rel: str) -> bool:
        return rel in self._paths

    def path(self, rel: str) -> Path:
        return self._paths[rel]

    def items(self) -> list[tuple[Path, str, bytes]]:
        return [(path, rel, self.data(rel)) for path, rel in self.files]

    def wanted(self) -> frozenset[str]:
        """The modules that may hold a call site, and the packages."""
        return frozenset(
            module_name(rel)
            for _, rel, data in self.items()
            if rel.endswith("__init__.py") or any(m in data for m in MARKERS)
        )

    def spelling(self, word: str) -> list[str]:
        """The root-relative paths of the files whose bytes contain `word`."""
        if word not in self._found:
            needle = word.encode()
            self._found[word] = [rel for _, rel in self.files if needle in self.data(rel)]
        return self._found[word]

    def spelling_word(self, word: str) -> list[str]:
        """The root-relative paths of the files that spell `word` as a whole word."""
        if word not in self._words:
            needle = word.encode()
            self._words[word] = [
                rel for rel in self.spelling(word) if has_word(self.data(rel), needle)
            ]
        return self._words[word]


_WORD_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def has_word(data: bytes, needle: bytes) -> bool:
    """Whether `data` holds `needle` between word boundaries, as `re`'s `\\b` of a bytes pattern
    would say (a word byte is an ASCII letter, digit or underscore), found with `bytes.find`:
    a pattern that opens with `\\b` has no literal prefix to skip ahead by, and is many times
    slower over a large file."""
    if not needle:
        return re.search(rb"\b\b", data) is not None
    size = len(needle)
    first, last = needle[0] in _WORD_BYTES, needle[-1] in _WORD_BYTES
    start = data.find(needle)
    while start >= 0:
        before = start > 0 and data[start - 1] in _WORD_BYTES
        end = start + size
        after = end < len(data) and data[end] in _WORD_BYTES
        if before != first and after != last:
            return True
        start = data.find(needle, start + 1)
    return False
