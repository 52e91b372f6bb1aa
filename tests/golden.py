"""Golden fixtures: copy a before/ tree, run the CLI in it, compare trees byte for byte."""

from __future__ import annotations

import os
import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from click.testing import CliRunner, Result

from codemod.cli import main

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SKIP_NAMES = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".celery-codemod-cache"}


@dataclass(frozen=True)
class Case:
    name: str
    before: Path
    after: Path
    args: list[str] = field(default_factory=list)
    exit_code: int = 0
    reports: list[str] = field(default_factory=list)  # report files expected in after/

    @classmethod
    def load(cls, folder: Path) -> Case:
        settings: dict[str, object] = {}
        if (folder / "case.toml").is_file():
            settings = tomllib.loads((folder / "case.toml").read_text(encoding="utf-8"))
        after = folder / "after"
        reports = [
            name
            for name in ("MIGRATION_SUMMARY.md", "report.json")
            if (after / name).is_file() and not (folder / "before" / name).exists()
        ]
        args = settings.get("args", [])
        exit_code = settings.get("exit_code", 0)
        assert isinstance(args, list) and isinstance(exit_code, int)
        return cls(
            folder.name, folder / "before", after, [str(a) for a in args], exit_code, reports
        )


def all_cases() -> list[Case]:
    cases = FIXTURES / "cases"
    folders = [FIXTURES / "seed_app", *(sorted(cases.iterdir()) if cases.is_dir() else [])]
    return [Case.load(f) for f in folders if (f / "before").is_dir()]


def tree(root: Path) -> dict[str, bytes]:
    """Every file under root, by relative path, as bytes."""
    out: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in SKIP_NAMES]
        for name in filenames:
            path = Path(dirpath) / name
            out[path.relative_to(root).as_posix()] = path.read_bytes()
    return out


def copy_before(case: Case, target: Path) -> Path:
    work = target / case.name
    shutil.copytree(case.before, work, symlinks=True)
    return work


def run_cli(cwd: Path, *args: str) -> Result:
    """The CLI in-process, run from `cwd` as a user would."""
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(main, list(args), catch_exceptions=False)
    finally:
        os.chdir(previous)


def diff_trees(actual: dict[str, bytes], expected: dict[str, bytes]) -> str:
    """A readable account of how two trees differ; empty when they are identical."""
    import difflib

    problems: list[str] = []
    for name in sorted(set(actual) | set(expected)):
        if name not in actual:
            problems.append(f"missing: {name}")
        elif name not in expected:
            problems.append(f"unexpected: {name}")
        elif actual[name] != expected[name]:
            a = actual[name].decode("utf-8", "replace").splitlines(keepends=True)
            e = expected[name].decode("utf-8", "replace").splitlines(keepends=True)
            diff = "".join(difflib.unified_diff(e, a, f"expected/{name}", f"actual/{name}"))
            problems.append(diff or f"differs in bytes only (newlines or encoding): {name}")
    return "\n".join(problems)
