"""Start-up stays light: `--version` and a clean `check` import neither LibCST nor black."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("black", "libcst")  # sorted, as the driver prints them

# Runs the CLI in-process, then prints which heavy top-level packages were imported.
DRIVER = """
import sys
from codemod.cli import main
try:
    main(sys.argv[1:], prog_name="celery-codemod")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
heavy = sorted({name.split(".")[0] for name in sys.modules} & {"libcst", "black"})
print("HEAVY:" + ",".join(heavy))
print("EXIT:" + str(code))
"""


def _run(args: list[str], cwd: Path) -> tuple[list[str], str]:
    result = subprocess.run(
        [sys.executable, "-c", DRIVER, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = result.stdout.splitlines()
    heavy = next(line for line in lines if line.startswith("HEAVY:")).removeprefix("HEAVY:")
    code = next(line for line in lines if line.startswith("EXIT:")).removeprefix("EXIT:")
    return [name for name in heavy.split(",") if name], code


@pytest.fixture
def clean_repo(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.celery-codemod]\n", encoding="utf-8")
    endpoints = tmp_path / "app" / "api" / "endpoints"
    endpoints.mkdir(parents=True)
    (endpoints / "items.py").write_text(
        "import asyncio\n\n\nasync def list_items() -> list[int]:\n"
        "    await asyncio.sleep(0)\n    return [1, 2]\n",
        encoding="utf-8",
    )
    (tmp_path / "app" / "core").mkdir()
    (tmp_path / "app" / "core" / "celery_app.py").write_text(
        'from celery import Celery\n\ncelery_app = Celery("app")\n', encoding="utf-8"
    )
    return tmp_path


def test_version_imports_neither_libcst_nor_black(tmp_path: Path) -> None:
    assert _run(["--version"], tmp_path) == ([], "0")


@pytest.mark.parametrize("args", [["rule", "needs-startup"], ["rule", "--all", "--format", "json"]])
def test_rule_imports_neither_libcst_nor_black(args: list[str], tmp_path: Path) -> None:
    assert _run(args, tmp_path) == ([], "0")


def test_clean_check_imports_neither_libcst_nor_black(clean_repo: Path) -> None:
    assert _run(["check", "."], clean_repo) == ([], "0")


def test_check_with_problems_imports_neither_libcst_nor_black(clean_repo: Path) -> None:
    items = clean_repo / "app" / "api" / "endpoints" / "items.py"
    items.write_text(
        "import asyncio\n\n\nasync def _refresh(item_id: int) -> None:\n    pass\n\n\n"
        "async def refresh(item_id: int) -> None:\n"
        "    asyncio.create_task(_refresh(item_id))\n\n\n"
        "async def later(job) -> None:\n    asyncio.create_task(job)\n",
        encoding="utf-8",
    )
    assert _run(["check", "."], clean_repo) == ([], "1")  # CCM001 and CCM002


def test_migrate_does_import_them(clean_repo: Path) -> None:
    """The driver can see a heavy import at all: `migrate --check` renders with LibCST."""
    items = clean_repo / "app" / "api" / "endpoints" / "items.py"
    items.write_text(
        "import asyncio\n\n\nasync def _refresh(item_id: int) -> None:\n    pass\n\n\n"
        "async def refresh(item_id: int) -> None:\n"
        "    asyncio.create_task(_refresh(item_id))\n",
        encoding="utf-8",
    )
    heavy, code = _run(["migrate", "--check", "."], clean_repo)
    assert (heavy, code) == (list(HEAVY), "1")
