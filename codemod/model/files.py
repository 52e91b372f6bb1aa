"""PATHs -> endpoint modules (globs, excludes, .gitignore), and paths <-> dotted module names."""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Iterable
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


@functools.lru_cache(maxsize=64)
def _any_glob_regex(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """One pattern for a list of globs (one match per path, not one per glob)."""
    if not patterns:
        return None
    parts = (_glob_regex(p.removeprefix("./")).pattern for p in patterns)
    return re.compile("|".join(f"(?:{part})" for part in parts))


def any_glob_match(patterns: tuple[str, ...], relpath: str) -> bool:
    """Whether one of the globs matches (as `glob_match` would)."""
    regex = _any_glob_regex(patterns)
    return regex is not None and regex.match(relpath) is not None


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
    """`path` relative to `root`, POSIX-style (`..` parts when it lies outside)."""
    text = str(path)
    prefix = str(root).rstrip(os.sep) + os.sep
    if text.startswith(prefix) and path.is_absolute() and ".." not in path.parts:
        return text[len(prefix) :].replace(os.sep, "/")  # the common case, without a syscall
    real = _real(path)
    try:
        return real.relative_to(root).as_posix()
    except ValueError:
        return Path(os.path.relpath(real, root)).as_posix()


def shown(path: Path) -> str:
    """A path as the user sees it: relative to the current directory where it lies under it."""
    try:
        return path.relative_to(Path.cwd()).as_posix() or "."
    except ValueError:
        return path.as_posix()


def module_name(rel: str) -> str:
    """`app/api/v1/x.py` -> `app.api.v1.x`; `src/app/x.py` -> `app.x`; packages drop `__init__`."""
    parts = rel.removesuffix(".py").split("/")
    if parts and parts[0] == "src" and len(parts) > 1:
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def excluded(rel: str, config: Config) -> bool:
    return any_glob_match(tuple(config.exclude), rel)


def _scan(folder: str, rel: str, config: Config, out: list[tuple[str, str, bool]]) -> None:
    """(path, root-relative path, is a link) of each .py file under `folder`, whose own relative
    path is `rel` ("" for the root, else ending in "/"). Links to folders are not entered, as
    `os.walk` does not; one `scandir` per folder and no path objects: a big tree walks fast."""
    try:
        with os.scandir(folder) as found:
            entries = list(found)
    except OSError:
        return
    for entry in entries:
        child = rel + entry.name
        try:
            is_dir = entry.is_dir()
            is_link = entry.is_symlink()
        except OSError:
            is_dir, is_link = False, True
        if is_dir:
            if not is_link and not excluded(child + "/", config):
                _scan(entry.path, child + "/", config, out)
        elif entry.name.endswith(".py"):
            out.append((entry.path, child, is_link))


def git_ignored(paths: list[Path], root: Path) -> set[Path]:
    """The paths that git ignores, asked of git itself; nothing when root is not in a work tree."""
    if not paths or not _in_work_tree(root):
        return set()
    import subprocess  # only inside a git work tree

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


def _in_work_tree(root: Path) -> bool:
    """Whether git could be asked at all (a `.git` here or above, or git's own variables set):
    saves starting a git process outside a repository."""
    if os.environ.keys() & {"GIT_DIR", "GIT_WORK_TREE"}:
        return True
    return any((folder / ".git").exists() for folder in (root, *root.parents))


def python_files(config: Config, paths: Iterable[Path] | None = None) -> list[Path]:
    """Every .py file under the PATHs that is not excluded nor ignored by git, sorted, absolute."""
    return [path for path, _ in inventory(config, paths)]


def inventory(config: Config, paths: Iterable[Path] | None = None) -> list[tuple[Path, str]]:
    """python_files with each file's root-relative path."""
    root = config.root
    found: dict[Path, str] = {}
    for path in paths if paths is not None else config.paths:
        files: list[tuple[str, str, bool]] = []
        if path.is_dir():
            try:
                start = path.resolve()
            except (OSError, RuntimeError):
                start = _real(path)
            rel = relpath(start, root)
            _scan(str(start), "" if rel == "." else rel + "/", config, files)
        else:
            real = _real(path)  # absolute, its folders' links resolved: as the walk names files
            files.append((str(real), relpath(real, root), path.is_symlink()))
        for name, rel, is_link in files:
            absolute = Path(name)  # its folders' links already resolved
            if is_link:
                try:
                    target = absolute.resolve()
                except (OSError, RuntimeError):  # a loop (Python 3.11/3.12 raise; 3.13 does not)
                    target = absolute
                # dangling or a loop: kept under the link's own name, reported as unreadable
                if target.exists():
                    if not target.is_relative_to(root):
                        continue  # a link out of the project: not ours to rewrite
                    # a link is followed: its target is analysed (once) and written in place
                    absolute, rel = target, relpath(target, root)
            if not excluded(rel, config):
                found[absolute] = rel
    ignored = git_ignored(list(found), root)
    return sorted((p, rel) for p, rel in found.items() if p not in ignored)


def endpoint_modules(
    config: Config,
    files: list[tuple[Path, str]] | None = None,
    handler_modules: frozenset[str] = frozenset(),
) -> list[Path]:
    """The endpoint modules among `files` (the PATHs' inventory when not given): those the
    globs match and, with route discovery, `handler_modules` (those that declare routes or
    that handlers call)."""
    found = handler_modules if config.route_discovery else frozenset()
    return [
        path
        for path, rel in (inventory(config) if files is None else files)
        if any_glob_match(tuple(config.endpoint_globs), rel) or module_name(rel) in found
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


def sub_root_folder(top: str, path: Path, root: Path) -> Path | None:
    """The folder above `path` (below `root`) that has a module `top`, when neither the root
    nor the standard library has one: what `import top` means with that folder on sys.path."""
    if top in sys.stdlib_module_names or _at_root(top, root):
        return None
    folder = path.parent
    if (folder / "__init__.py").is_file():
        # a package's own siblings are not importable by their bare name (`import redis` in
        # app/services/cache.py means the library even beside app/services/redis.py)
        folder = folder.parent
    while folder != root and root in folder.parents:
        if _has_module(top, folder):
            return folder
        folder = folder.parent
    return None


@functools.lru_cache(maxsize=8192)
def _at_root(top: str, root: Path) -> bool:
    return module_path(top, root) is not None or (root / top).is_dir()


@functools.lru_cache(maxsize=8192)
def _has_module(top: str, folder: Path) -> bool:
    return (folder / f"{top}.py").is_file() or (folder / top / "__init__.py").is_file()
