"""Source files as bytes <-> text (encoding, BOM, newlines), compile check, atomic write."""

from __future__ import annotations

import ast
import codecs
import contextlib
import errno
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from codemod.model.syntax import decode_source


@dataclass(frozen=True)
class SourceFile:
    text: str  # without BOM, newlines as in the file
    encoding: str
    bom: bool

    @classmethod
    def from_bytes(cls, data: bytes) -> SourceFile:
        bom = data.startswith(codecs.BOM_UTF8)
        text = decode_source(data)
        import io
        import tokenize

        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return cls(text, "utf-8" if encoding == "utf-8-sig" else encoding, bom)

    def encode(self, text: str) -> bytes:
        data = text.encode(self.encoding)
        return codecs.BOM_UTF8 + data if self.bom else data


def check_compiles(text: str | ast.Module, path: str) -> str | None:
    """None if the text (or the tree of a text) compiles, else the reason."""
    try:
        compile(text, path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return f"rewritten code does not compile: {exc.msg} (line {exc.lineno})"
    except (ValueError, RecursionError, MemoryError) as exc:
        return f"rewritten code does not compile: {exc}"
    return None


def atomic_write(path: Path, data: bytes) -> None:
    """Temp file in the same folder, fsync, rename; keeps the mode of the file it replaces."""
    target = Path(os.path.realpath(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode: int | None = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = None
    if mode is not None and not os.access(target, os.W_OK):
        # the rename below would replace a read-only file; respect the user's write protection
        raise PermissionError(errno.EACCES, "the file is read-only", str(path))
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
