"""The command line as a user drives it: exit codes, error lines, --check / --diff, file modes."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from codemod import __version__
from tests.golden import run_cli, tree

APP = """\
from celery import Celery

celery_app = Celery("app", include=[])
"""
ENDPOINT = """\
import asyncio


async def job(job_id: str) -> None: ...


async def start(job_id: str) -> None:
    asyncio.create_task(job(job_id))
"""


def project(root: Path, files: dict[str, str] | None = None) -> Path:
    contents = {"app/__init__.py": "", "app/celery_app.py": APP, "app/api/a.py": ENDPOINT}
    contents.update(files or {})
    for name, text in contents.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "codemod", "--version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert result.stdout == f"celery-codemod, version {__version__}\n"


def test_check_exits_1_before_and_0_after(tmp_path: Path) -> None:
    root = project(tmp_path)
    before = tree(root)
    assert run_cli(root, "migrate", "--check").exit_code == 1
    assert tree(root) == before
    assert run_cli(root, "migrate").exit_code == 0
    assert tree(root) != before
    assert run_cli(root, "migrate", "--check").exit_code == 0


def test_unparsable_file_is_exit_123_and_the_others_are_migrated(tmp_path: Path) -> None:
    broken_source = "import asyncio\ndef f(:\n    asyncio.create_task(x())\n"
    root = project(tmp_path, {"app/api/broken.py": broken_source})
    broken = (root / "app/api/broken.py").read_bytes()
    result = run_cli(root, "migrate")
    assert result.exit_code == 123
    assert result.stderr.splitlines()[0] == (
        "error: app/api/broken.py: cannot parse with Python 3.11 (line 2, column 7: invalid syntax)"
    )
    assert (root / "app/api/broken.py").read_bytes() == broken
    assert "job_task.delay" in (root / "app/api/a.py").read_text()


def test_bad_pyproject_is_exit_2(tmp_path: Path) -> None:
    root = project(tmp_path, {"pyproject.toml": "[tool.celery-codemod\n"})
    result = run_cli(root, "migrate")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert "not valid TOML" in result.stderr


def test_unknown_config_key_is_exit_2(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "pyproject.toml").write_text("[tool.celery-codemod]\nmax-retry = 3\n")
    result = run_cli(root, "migrate")
    assert result.exit_code == 2
    assert "unknown key [tool.celery-codemod] max-retry" in result.stderr


def test_no_celery_app_is_exit_2_with_a_hint(tmp_path: Path) -> None:
    root = project(tmp_path, {"app/celery_app.py": ""})
    before = tree(root)
    result = run_cli(root, "migrate")
    assert result.exit_code == 2
    assert "--celery-app" in result.stderr
    assert tree(root) == before


def test_celery_app_that_points_nowhere_is_exit_2(tmp_path: Path) -> None:
    root = project(tmp_path)
    result = run_cli(root, "migrate", "--celery-app", "app.nowhere:celery")
    assert result.exit_code == 2
    assert "no module app.nowhere" in result.stderr


def test_bad_option_is_exit_2(tmp_path: Path) -> None:
    assert run_cli(project(tmp_path), "migrate", "--max-retries", "many").exit_code == 2


def test_missing_path_is_exit_2(tmp_path: Path) -> None:
    result = run_cli(project(tmp_path), "migrate", "nowhere")
    assert result.exit_code == 2
    assert "nowhere: no such file or directory" in result.stderr


def test_nothing_to_migrate_needs_no_celery_app(tmp_path: Path) -> None:
    root = project(tmp_path, {"app/api/a.py": "def f():\n    return 1\n", "app/celery_app.py": ""})
    assert run_cli(root, "migrate", "--check").exit_code == 0


def test_file_mode_and_crlf_are_kept(tmp_path: Path) -> None:
    root = project(tmp_path)
    endpoint = root / "app/api/a.py"
    endpoint.write_bytes(ENDPOINT.replace("\n", "\r\n").encode())
    endpoint.chmod(0o640)
    assert run_cli(root, "migrate").exit_code == 0
    data = endpoint.read_bytes()
    assert b"job_task.delay" in data
    assert data.count(b"\n") == data.count(b"\r\n")
    assert stat.S_IMODE(endpoint.stat().st_mode) == 0o640


def test_diff_shows_new_files_from_dev_null(tmp_path: Path) -> None:
    root = project(tmp_path)
    result = run_cli(root, "migrate", "--diff")
    assert result.exit_code == 0
    assert "--- /dev/null\n+++ b/app/tasks/a_tasks.py\n" in result.stdout
    assert "--- a/app/api/a.py\n+++ b/app/api/a.py\n" in result.stdout


def test_report_to_stdout(tmp_path: Path) -> None:
    result = run_cli(project(tmp_path), "migrate", "--report", "-")
    assert result.exit_code == 0
    assert result.stdout.startswith("# Celery Migration Summary\n")


@pytest.mark.parametrize("mode", ["--check", "--diff"])
@pytest.mark.parametrize("name", ["r.md", "r.json"])
def test_a_dry_run_writes_the_report_of_what_migrate_would_do(
    tmp_path: Path, mode: str, name: str
) -> None:
    dry = project(tmp_path / "dry")
    before = tree(dry)
    result = run_cli(dry, "migrate", mode, "--report", name)
    assert result.exit_code == (1 if mode == "--check" else 0), result.output
    written = tree(dry)
    report = written.pop(name)
    assert written == before  # the report is the only file written
    real = project(tmp_path / "real")
    assert run_cli(real, "migrate", "--report", name).exit_code == 0
    assert report == (real / name).read_bytes()


def test_parallel_and_serial_runs_are_byte_identical(tmp_path: Path) -> None:
    files = {
        f"app/api/m{i:02}.py": ENDPOINT.replace("job", f"job{i}").replace("start", f"start{i}")
        for i in range(24)
    }
    serial = project(tmp_path / "serial", files)
    parallel = project(tmp_path / "parallel", files)
    assert run_cli(serial, "migrate", "-j", "1", "--report", "r.json").exit_code == 0
    assert run_cli(parallel, "migrate", "-j", "3", "--report", "r.json").exit_code == 0
    assert tree(serial) == tree(parallel)


def test_the_format_names_are_the_formats() -> None:
    """The command line offers the formats without importing them (a light `--version`)."""
    from codemod.output.diagnostics import FORMATS
    from codemod.output.formats import FORMAT_NAMES

    assert set(FORMATS) == FORMAT_NAMES


def test_version_imports_no_more_than_click() -> None:
    """`--version` imports click and the command line, not the pipeline or its models."""
    import subprocess
    import sys

    code = (
        "import sys; from codemod.cli import main; "
        "print(sorted(m for m in sys.modules if m.startswith('codemod')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = ["codemod", "codemod.cli", "codemod.output", "codemod.output.formats"]
    assert out.stdout.strip() == str(loaded)
