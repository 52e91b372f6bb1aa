"""Progress bars: on a terminal, for a long analysis and a long rewrite; never anywhere else.

`migrate` runs in a subprocess whose stderr is a pseudo-terminal, on a project with more endpoint
modules than the analysis threshold and more modules to rewrite than the rewrite threshold.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

from codemod.cli import PROGRESS_THRESHOLD, REWRITE_PROGRESS_THRESHOLD
from tests.test_check import ENDPOINT, project

REPO = Path(__file__).resolve().parent.parent
SITES = REWRITE_PROGRESS_THRESHOLD  # endpoint modules to rewrite, and their one tasks module


def big_project(root: Path) -> Path:
    files = {f"app/api/m{i:03}.py": ENDPOINT.replace("start", f"start{i}") for i in range(SITES)}
    files |= {f"app/api/quiet{i:03}.py": "x = 1\n" for i in range(PROGRESS_THRESHOLD)}
    return project(root, files)


def run_on_a_terminal(root: Path, *args: str) -> tuple[int, str]:
    """Exit code and what the terminal showed on stderr."""
    controller, terminal = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "100"}
    process = subprocess.Popen(
        [sys.executable, "-m", "codemod", "migrate", "-j", "2", *args],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=terminal,
        env=env,
    )
    os.close(terminal)
    shown = b""
    while True:
        ready, _, _ = select.select([controller], [], [], 120)
        if not ready:
            process.kill()
            break
        try:
            data = os.read(controller, 65536)
        except OSError:  # EIO: the terminal's other end is closed
            break
        if not data:
            break
        shown += data
    os.close(controller)
    return process.wait(timeout=120), shown.decode("utf-8", "replace")


def test_bars_on_a_terminal(tmp_path: Path) -> None:
    code, shown = run_on_a_terminal(big_project(tmp_path))
    assert code == 0, shown
    assert "Analysing" in shown and "Rewriting" in shown, shown
    assert f"Migrated {SITES + 1} call sites" in shown  # and the one of app/api/a.py


@pytest.mark.parametrize("options", [("-q",), ("--diff",), ("--check",)])
def test_no_bar_when_quiet_or_dry(tmp_path: Path, options: tuple[str, ...]) -> None:
    _, shown = run_on_a_terminal(big_project(tmp_path), *options)
    assert "Analysing" not in shown and "Rewriting" not in shown, shown


def test_no_bar_in_a_pipe(tmp_path: Path) -> None:
    root = big_project(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "codemod", "migrate", "-j", "2"],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Analysing" not in result.stderr and "Rewriting" not in result.stderr
