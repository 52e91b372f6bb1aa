"""PATHs -> endpoint modules (globs, excludes, .gitignore), and paths <-> dotted module names."""

from __future__ import annotations

import functools
import os
import re
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

from codemod.config import Config


@functools.lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 1 :]:
            end = pattern.index("]", i + 1)
            body = pattern[i + 1 : end].replace("\\", "\\\\")
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def glob_match(pattern: str, relpath: str) -> bool:
    """Gitignore-like glob: `**/` matches any number of folders (also none), `*` stays in one."""
    pattern = pattern.removeprefix("./")
    return _glob_regex(pattern).match(relpath) is not None


def _real(path: Path) -> Path:
    """`path` absolute with its directories' links resolved, its own last part kept as it is.

    A symlinked file is named by its link here (a dangling link or a link loop reports the path the
    user has, and a loop does not raise); python_files passes a followed link's target itself.
    """
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.parent.resolve() / absolute.name
    except (OSError, RuntimeError):  # a loop among the directories themselves
        return absolute


def relpath(path: Path, root: Path) -> str:
    real = _real(path)
    try:
        return real.relative_to(root).as_posix()
    except ValueError:
        return Path(os.path.relpath(real, root)).as_posix()


def module_name(rel: str) -> str:
    """`app/api/v1/x.py` -> `app.api.v1.x`; `src/app/x.py` -> `app.x`; packages drop `__init__`."""
    parts = rel.removesuffix(".py").split("/")
    if parts and parts[0] == "src" and len(parts) > 1:
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def excluded(rel: str, config: Config) -> bool:
    return any(glob_match(pattern, rel) for pattern in config.exclude)


def _walk(path: Path, root: Path, config: Config) -> Iterator[Path]:
    if path.is_file():
        yield path
        return
    for dirpath, dirnames, filenames in os.walk(path):
        base = Path(dirpath)
        dirnames[:] = sorted(
            d for d in dirnames if not excluded(relpath(base / d, root) + "/", config)
        )
        for name in sorted(filenames):
            if name.endswith(".py"):
                yield base / name


def git_ignored(paths: list[Path], root: Path) -> set[Path]:
    """The paths that git ignores, asked of git itself; nothing when root is not in a work tree."""
    if not paths:
        return set()
    try:
        result = subprocess.run(
            ["git", "check-ignore", "--stdin", "-z"],
            cwd=root,
            input=b"\0".join(os.fsencode(p) for p in paths) + b"\0",
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return set()
    if result.returncode not in (0, 1):
        return set()
    return {Path(os.fsdecode(p)) for p in result.stdout.split(b"\0") if p}


def python_files(config: Config, paths: Iterable[Path] | None = None) -> list[Path]:
    """Every .py file under the PATHs that is not excluded nor ignored by git, sorted, absolute."""
    root = config.root
    found: dict[Path, None] = {}
    for path in paths if paths is not None else config.paths:
        for file in _walk(path, root, config):
            try:
                absolute = file.resolve()
            except (OSError, RuntimeError):  # a link loop (Python 3.11/3.12 raise; 3.13 does not)
                absolute = _real(file)
            if file.is_symlink():
                if not absolute.exists():
                    absolute = _real(file)  # dangling or a loop: reported as unreadable
                elif not absolute.is_relative_to(root):
                    continue  # a link out of the project: not ours to rewrite
            # a link is followed: its target is analysed (once) and written in place, the link kept
            if not excluded(relpath(absolute, root), config):
                found[absolute] = None
    ignored = git_ignored(list(found), root)
    return sorted(p for p in found if p not in ignored)


def endpoint_modules(config: Config) -> list[Path]:
    root = config.root
    return [
        p
        for p in python_files(config)
        if any(glob_match(g, relpath(p, root)) for g in config.endpoint_globs)
    ]


def module_path(module: str, root: Path) -> Path | None:
    """The file of a dotted module under root (plain or src/ layout), if it exists."""
    parts = module.split(".")
    for base in (root, root / "src"):
        candidate = base.joinpath(*parts)
        for path in (candidate.with_suffix(".py"), candidate / "__init__.py"):
            if path.is_file():
                return path
    return None


def new_module_path(module: str, root: Path) -> Path:
    """Where a new module goes: beside its package, whichever layout the package uses."""
    package, _, name = module.rpartition(".")
    package_file = module_path(package, root) if package else None
    if package_file is not None and package_file.name == "__init__.py":
        return package_file.parent / f"{name}.py"
    base = root / "src" if (root / "src" / module.split(".")[0]).is_dir() else root
    return base.joinpath(*module.split(".")).with_suffix(".py")
