"""The analysis cache: module summaries on disk, keyed by the module's content, its name, the
tool's version and Python's; entries written atomically, and any entry that does not read back
whole (truncated, corrupt, foreign) ignored and rebuilt."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

from codemod import __version__
from codemod.model.summarise import summary_version
from codemod.model.summary import ModuleSummary, loads

DEFAULT_DIR = ".celery-codemod-cache"
ENV = "CELERY_CODEMOD_CACHE_DIR"
_MAGIC = b"celery-codemod summary\n"
_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by celery-codemod.\n"
    "# For information about cache directory tags, see https://bford.info/cachedir/\n"
)


def cache_dir(root: Path, configured: str | None, given: Path | None) -> Path:
    """Where the cache lives: `--cache-dir`, else CELERY_CODEMOD_CACHE_DIR, else `cache-dir`
    of [tool.celery-codemod] (relative to the root), else `.celery-codemod-cache` under root."""
    if given is not None:
        return given.absolute()
    from_env = os.environ.get(ENV)
    if from_env:
        return Path(from_env).absolute()
    return (root / (configured or DEFAULT_DIR)).absolute()


class Cache:
    """Summaries by key, under `folder/<tool version>-py<major.minor>/`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.entries = folder / f"{__version__}-py{sys.version_info[0]}.{sys.version_info[1]}"
        self._ready = False

    @staticmethod
    def key(module: str, is_package: bool, data: bytes) -> str:
        digest = hashlib.blake2b(digest_size=20)
        digest.update(f"{summary_version()}\0{module}\0{int(is_package)}\0".encode())
        digest.update(data)
        return digest.hexdigest()

    def _path(self, key: str) -> Path:
        return self.entries / key[:2] / key

    def get(self, key: str) -> ModuleSummary | None:
        """The summary stored under `key`; None if there is none or it does not read back."""
        try:
            data = self._path(key).read_bytes()
        except OSError:
            return None
        head = _MAGIC + key.encode() + b"\n"
        if not data.startswith(head):
            return None  # truncated, or not ours
        try:
            found = loads(data[len(head) :])
        except Exception:  # a corrupt or hostile entry: whatever unpickling raises, it is rebuilt
            return None
        return found if isinstance(found, ModuleSummary) else None

    def put(self, key: str, blob: bytes) -> None:
        """Store a pickled summary; a cache that cannot be written is no error (the run goes on
        without it)."""
        target = self._path(key)
        with contextlib.suppress(OSError):
            self._prepare()
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{key[:8]}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(_MAGIC + key.encode() + b"\n" + blob)
                os.replace(tmp, target)  # atomic: a concurrent reader sees all of it or nothing
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise

    def _prepare(self) -> None:
        """The folder, with its own .gitignore (so that git never lists it) and a CACHEDIR.TAG
        (so that backup tools skip it)."""
        if self._ready:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, text in ((".gitignore", "*\n"), ("CACHEDIR.TAG", _TAG)):
            path = self.folder / name
            if not path.exists():
                with contextlib.suppress(OSError):
                    path.write_text(text, encoding="utf-8")
        self._ready = True


def clean(folder: Path) -> bool:
    """Remove the cache folder; whether there was one."""
    if not folder.is_dir():
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return True
