"""Bad input (issue 5, item 5): a clear one-line error, the right exit code, nothing else lost.

Each test builds a tiny app with one good endpoint module (`good.py`, one migratable call site)
and one bad input beside it, runs `python -m codemod migrate` as a user would (a subprocess, so a
traceback could not hide), and checks: the exit code (123 for a per-file problem, 2 for a usage
or configuration problem, 0 when the input is merely unusual), stderr holds only `error: PATH:
reason` lines and the summary line, and `good.py` was still migrated.

Decisions pinned here:
- a symlinked module is followed: its target is analysed once (under the target's path) and
  written in place, the link kept; a link leading out of the project is skipped; a dangling
  link is an unreadable file (123);
- a read-only file is not replaced (`error: PATH: cannot write: the file is read-only`). Root
  ignores mode bits, so as root the test makes the file immutable (`chattr +i`) instead, and
  skips when that is not possible;
- a module over 2 MB with a call site in it is an error, not ten minutes of LibCST.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ENDPOINTS = "app/api/endpoints"

CELERY_APP = """from celery import Celery

celery_app = Celery("app", broker="redis://127.0.0.1:6379/0", include=[])
"""

GOOD = """import asyncio
import logging

from fastapi import APIRouter

logger = logging.getLogger(__name__)

router = APIRouter()


async def _send_welcome_email(user_id: int) -> None:
    await asyncio.sleep(0)


@router.post("/users/{user_id}/welcome")
async def welcome(user_id: int) -> dict:
    asyncio.create_task(_send_welcome_email(user_id))
    return {"user_id": user_id}
"""


def site_module(
    name: str, body_comment: str = "", newline: str = "\n", indent: str = "    "
) -> str:
    """An endpoint module with one migratable site (implementation `_{name}_job`)."""
    text = f"""{body_comment}import asyncio
import logging

logger = logging.getLogger(__name__)


async def _{name}_job(item_id: int) -> None:
{indent}await asyncio.sleep(0)


async def {name}(item_id: int) -> dict:
{indent}asyncio.create_task(_{name}_job(item_id))
{indent}return {{"item_id": item_id}}
"""
    return text.replace("\n", newline)


def make_app(root: Path, pyproject: str = '[project]\nname = "demo"\n') -> Path:
    files = {
        "pyproject.toml": pyproject,
        "app/__init__.py": "",
        "app/core/__init__.py": "",
        "app/core/celery_app.py": CELERY_APP,
        "app/tasks/__init__.py": "",
        "app/api/__init__.py": "",
        f"{ENDPOINTS}/__init__.py": "",
        f"{ENDPOINTS}/good.py": GOOD,
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def migrate(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "codemod", "migrate", "-j", "1", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


SUMMARY = re.compile(r"^Migrated \d+ call sites?; \d+ files? changed; \d+ skipped; \d+ errors?\.$")


def errors_of(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The `error:` lines of stderr; anything else there but the summary line fails the test."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    others = [line for line in lines if not line.startswith("error: ") and not SUMMARY.match(line)]
    assert not others, result.stderr
    return [line for line in lines if line.startswith("error: ")]


def assert_good_migrated(root: Path) -> None:
    text = (root / ENDPOINTS / "good.py").read_text(encoding="utf-8")
    assert "send_welcome_email_task.delay" in text
    assert (root / "app/tasks/good_tasks.py").is_file()
    assert "app.tasks.good_tasks" in (root / "app/core/celery_app.py").read_text("utf-8")


def assert_compiles(path: Path) -> None:
    compile(path.read_bytes(), str(path), "exec", dont_inherit=True)


# --- per-file problems: exit 123, one error line, every other file migrated ---


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (b"import asyncio\nasyncio.create_task(\n", r"'\(' was never closed"),
        (b"import asyncio\n\ndef f(:\n    asyncio.create_task(g())\n", r"invalid syntax"),
        (b"import asyncio\n\tasyncio.create_task(g())\n", r"unexpected indent"),
    ],
    ids=["unclosed", "bad-def", "bad-indent"],
)
def test_syntax_error(tmp_path: Path, source: bytes, reason: str) -> None:
    root = make_app(tmp_path)
    (root / ENDPOINTS / "bad.py").write_bytes(source)
    result = migrate(root)
    assert result.returncode == 123, result.stderr
    [error] = errors_of(result)
    python = rf"Python {sys.version_info[0]}\.{sys.version_info[1]}"
    expected = rf"error: {ENDPOINTS}/bad\.py: cannot parse with {python} \(line \d+.*: {reason}\)"
    assert re.fullmatch(expected, error), error
    assert (root / ENDPOINTS / "bad.py").read_bytes() == source
    assert_good_migrated(root)


@pytest.mark.parametrize(
    ("comment", "reason"),
    [
        ("# r\xe9sum\xe9 upload\n", "invalid or missing encoding declaration"),
        ("\n\n\n# r\xe9sum\xe9 upload\n", "'utf-8' codec can't decode byte 0xe9 in position 6"),
        ("# -*- coding: klingon -*-\n", "unknown encoding: klingon"),
    ],
    ids=["first-lines", "later-line", "unknown-cookie"],
)
def test_non_utf8_bytes(tmp_path: Path, comment: str, reason: str) -> None:
    root = make_app(tmp_path)
    source = site_module("scan", comment).encode("latin-1")  # no (valid) coding cookie
    (root / ENDPOINTS / "bad.py").write_bytes(source)
    result = migrate(root)
    assert result.returncode == 123, result.stderr
    [error] = errors_of(result)
    assert error.startswith(f"error: {ENDPOINTS}/bad.py: cannot decode: {reason}"), error
    assert (root / ENDPOINTS / "bad.py").read_bytes() == source
    assert_good_migrated(root)


def test_file_too_large(tmp_path: Path) -> None:
    """10 MB of code with one call site: refused at once, not ten minutes of LibCST."""
    root = make_app(tmp_path)
    filler = "".join(
        f"\n\ndef helper_{i}(x: int) -> int:\n    return x * {i}  # {'padding ' * 8}\n"
        for i in range(100_000)
    )
    source = (site_module("ingest") + filler).encode("utf-8")
    assert len(source) > 10_000_000
    (root / ENDPOINTS / "big.py").write_bytes(source)
    result = migrate(root)
    assert result.returncode == 123, result.stderr
    [error] = errors_of(result)
    assert error == f"error: {ENDPOINTS}/big.py: too large to migrate (12.4 MB; the limit is 2 MB)"
    assert (root / ENDPOINTS / "big.py").read_bytes() == source
    assert_good_migrated(root)


def test_large_file_without_call_site_is_fine(tmp_path: Path) -> None:
    root = make_app(tmp_path)
    source = b"DATA = [\n" + b"    'x' * 80,\n" * 800_000 + b"]\n"
    (root / ENDPOINTS / "data.py").write_bytes(source)
    result = migrate(root)
    assert result.returncode == 0, result.stderr
    assert errors_of(result) == []
    assert (root / ENDPOINTS / "data.py").read_bytes() == source
    assert_good_migrated(root)


def _make_immutable(path: Path) -> None:
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("running as root and no chattr: nothing stops root from writing")
    done = subprocess.run([chattr, "+i", str(path)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"running as root and chattr +i fails: {done.stderr.decode().strip()}")


def test_read_only_file(tmp_path: Path) -> None:
    root = make_app(tmp_path)
    path = root / ENDPOINTS / "locked.py"
    source = site_module("lock").encode("utf-8")
    path.write_bytes(source)
    path.chmod(0o444)
    as_root = os.geteuid() == 0
    if as_root:  # mode bits do not stop root; the immutable flag does
        _make_immutable(path)
    try:
        result = migrate(root)
    finally:
        if as_root:
            subprocess.run(["chattr", "-i", str(path)], check=False)
    assert result.returncode == 123, result.stderr
    [error] = errors_of(result)
    assert error == f"error: {ENDPOINTS}/locked.py: cannot write: the file is read-only"
    assert path.read_bytes() == source
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert_good_migrated(root)
    # the wrapper of the site that could not be rewritten may exist: it is harmless, and the
    # next run (once the file is writable) rewrites the site and reuses it
    assert not [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_link_out_of_the_project_is_skipped(tmp_path: Path) -> None:
    root = make_app(tmp_path / "project")
    outside = tmp_path / "elsewhere.py"
    outside.write_text(site_module("outside"), encoding="utf-8")
    (root / ENDPOINTS / "out.py").symlink_to(outside)
    result = migrate(root)
    assert result.returncode == 0, result.stderr
    assert errors_of(result) == []
    assert outside.read_text("utf-8") == site_module("outside")
    assert (root / ENDPOINTS / "out.py").is_symlink()
    assert not (root / "app/tasks/elsewhere_tasks.py").exists()
    assert not (root / "app/tasks/out_tasks.py").exists()
    assert_good_migrated(root)


def test_dangling_symlink_is_an_error(tmp_path: Path) -> None:
    root = make_app(tmp_path)
    (root / ENDPOINTS / "dangling.py").symlink_to("missing.py")
    result = migrate(root)
    assert result.returncode == 123, result.stderr
    assert errors_of(result) == [
        # named by the link the user has, not by the missing file it leads to
        f"error: {ENDPOINTS}/dangling.py: cannot read: No such file or directory"
    ]
    assert (root / ENDPOINTS / "dangling.py").is_symlink()
    assert_good_migrated(root)


def test_symlink_is_followed_once(tmp_path: Path) -> None:
    """A link to a module of the project: the module is migrated once, the link stays a link."""
    root = make_app(tmp_path)
    (root / ENDPOINTS / "alias.py").symlink_to("good.py")
    (root / "app/shared.py").write_text(site_module("shared"), encoding="utf-8")
    (root / ENDPOINTS / "shared_link.py").symlink_to(root / "app/shared.py")
    result = migrate(root, "--report", "report.json")
    assert result.returncode == 0, result.stderr
    assert errors_of(result) == []
    assert (root / ENDPOINTS / "alias.py").is_symlink()
    assert os.readlink(root / ENDPOINTS / "alias.py") == "good.py"
    assert (root / ENDPOINTS / "shared_link.py").is_symlink()
    assert_good_migrated(root)
    import json

    report = json.loads((root / "report.json").read_text("utf-8"))
    paths = sorted(site["path"] for site in report["sites"])
    assert paths == [f"{ENDPOINTS}/good.py"]  # once, not once per link
    assert report["summary"]["migrated"] == 1
    # app/shared.py is not an endpoint module by the default globs, and a link does not make it one
    assert (root / "app/shared.py").read_text("utf-8") == site_module("shared")


# --- unusual but valid input: migrated, with encoding, BOM, newlines and indentation kept ---


def test_latin1_coding_cookie(tmp_path: Path) -> None:
    root = make_app(tmp_path)
    text = site_module("resume", "# -*- coding: latin-1 -*-\n# Résumé parsing, « déjà vu »\n")
    text = text.replace("return {", 'logger.info("reçu")\n    return {')
    source = text.encode("latin-1")
    path = root / ENDPOINTS / "resume.py"
    path.write_bytes(source)
    result = migrate(root)
    assert result.returncode == 0, result.stderr
    assert errors_of(result) == []
    new = path.read_bytes()
    assert new.startswith(
        b"# -*- coding: latin-1 -*-\n# R\xe9sum\xe9 parsing, \xab d\xe9j\xe0 vu \xbb\n"
    )
    assert b"re\xe7u" in new
    with pytest.raises(UnicodeDecodeError):
        new.decode("utf-8")
    assert "resume_task.delay" in new.decode("latin-1")
    assert_compiles(path)
    assert_good_migrated(root)


def test_utf8_bom(tmp_path: Path) -> None:
    root = make_app(tmp_path)
    path = root / ENDPOINTS / "bom.py"
    path.write_bytes(b"\xef\xbb\xbf" + site_module("bom", "# caf\u00e9\n").encode("utf-8"))
    result = migrate(root)
    assert result.returncode == 0, result.stderr
    new = path.read_bytes()
    assert new.startswith(b"\xef\xbb\xbf# caf\xc3\xa9\n")
    assert new.count(b"\xef\xbb\xbf") == 1
    assert b"bom_task.delay" in new
    assert_compiles(path)
    assert_good_migrated(root)


def test_crlf(tmp_path: Path) -> None:
    root = make_app(tmp_path)
    path = root / ENDPOINTS / "crlf.py"
    path.write_bytes(site_module("crlf", newline="\r\n").encode("utf-8"))
    result = migrate(root)
    assert result.returncode == 0, result.stderr
    new = path.read_bytes()
    assert b"crlf_task.delay" in new
    assert new.count(b"\n") == new.count(b"\r\n")  # every line, the new ones too
    assert_compiles(path)
    assert_good_migrated(root)


def test_mixed_newlines(tmp_path: Path) -> None:
    """Every line that is not part of the call site keeps its own line ending."""
    root = make_app(tmp_path)
    path = root / ENDPOINTS / "mixed.py"
    lines = site_module("mixed").encode("utf-8").splitlines(keepends=True)
    lines = [line.replace(b"\n", b"\r\n") if i % 3 == 0 else line for i, line in enumerate(lines)]
    path.write_bytes(b"".join(lines))
    result = migrate(root)
    assert result.returncode == 0, result.stderr
    assert errors_of(result) == []
    new = path.read_bytes().splitlines(keepends=True)
    assert any(b"mixed_task.delay" in line for line in new)
    kept = [line for line in lines if b"create_task" not in line]
    it = iter(new)
    assert all(any(line == other for other in it) for line in kept), new  # a subsequence
    assert_compiles(path)
    assert_good_migrated(root)


def test_tabs(tmp_path: Path) -> None:
    root = make_app(tmp_path)
    path = root / ENDPOINTS / "tabs.py"
    path.write_text(site_module("tabs", indent="\t"), encoding="utf-8")
    result = migrate(root)
    assert result.returncode == 0, result.stderr
    new = path.read_text("utf-8")
    assert "\n\ttry:\n\t\ttask = await asyncio.to_thread(tabs_task.delay" in new
    assert "\n    " not in new
    assert_compiles(path)
    assert_good_migrated(root)


@pytest.mark.parametrize("source", [b"", b"\n\n", b"   \n", b"\xef\xbb\xbf"], ids=repr)
def test_empty_file(tmp_path: Path, source: bytes) -> None:
    root = make_app(tmp_path)
    (root / ENDPOINTS / "empty.py").write_bytes(source)
    result = migrate(root)
    assert result.returncode == 0, result.stderr
    assert errors_of(result) == []
    assert (root / ENDPOINTS / "empty.py").read_bytes() == source
    assert_good_migrated(root)


# --- usage and configuration problems: exit 2, one error line, nothing written ---


def _assert_nothing_written(root: Path) -> None:
    assert (root / ENDPOINTS / "good.py").read_text("utf-8") == GOOD
    assert not (root / "app/tasks/good_tasks.py").exists()


def test_path_does_not_exist(tmp_path: Path) -> None:
    root = make_app(tmp_path)
    result = migrate(root, "app", "nowhere/endpoints")
    assert result.returncode == 2, result.stderr
    assert errors_of(result) == ["error: nowhere/endpoints: no such file or directory"]
    _assert_nothing_written(root)


def test_pyproject_not_toml(tmp_path: Path) -> None:
    root = make_app(tmp_path, pyproject="[tool.celery-codemod\ntasks-package = 'app.tasks'\n")
    result = migrate(root)
    assert result.returncode == 2, result.stderr
    [error] = errors_of(result)
    assert re.fullmatch(r"error: .*/pyproject\.toml: not valid TOML: .*\(at line 1, .*\)", error)
    _assert_nothing_written(root)


def test_pyproject_bad_value(tmp_path: Path) -> None:
    root = make_app(tmp_path, pyproject='[tool.celery-codemod]\nmax-retries = "three"\n')
    result = migrate(root)
    assert result.returncode == 2, result.stderr
    assert errors_of(result) == [
        "error: pyproject.toml: [tool.celery-codemod] max-retries must be a int"
    ]
    _assert_nothing_written(root)


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        ("app.nowhere:celery_app", "no module app.nowhere under root"),
        ("app.core.celery_app:missing", "app.core.celery_app defines no missing"),
        ("app.core.celery_app", "must be MODULE:ATTR"),
    ],
)
def test_celery_app_points_nowhere(tmp_path: Path, where: str, reason: str) -> None:
    root = make_app(tmp_path)
    for how in (["--celery-app", where], []):
        if not how:
            pyproject = (
                f'[project]\nname = "demo"\n\n[tool.celery-codemod]\ncelery-app = "{where}"\n'
            )
            (root / "pyproject.toml").write_text(pyproject, encoding="utf-8")
        result = migrate(root, *how)
        assert result.returncode == 2, result.stderr
        [error] = errors_of(result)
        assert error.startswith("error: --celery-app ") and error.endswith(reason), error
        _assert_nothing_written(root)


def test_no_celery_app_at_all(tmp_path: Path) -> None:
    root = make_app(tmp_path)
    (root / "app/core/celery_app.py").write_text("CELERY = None\n", encoding="utf-8")
    result = migrate(root)
    assert result.returncode == 2, result.stderr
    [error] = errors_of(result)
    assert "Celery" in error and "--celery-app" in error, error
    _assert_nothing_written(root)


def test_several_bad_files_at_once(tmp_path: Path) -> None:
    """Each bad file is one error line, in path order; the good one is still migrated."""
    root = make_app(tmp_path)
    (root / ENDPOINTS / "a_syntax.py").write_bytes(b"import asyncio\nasyncio.create_task(\n")
    (root / ENDPOINTS / "b_bytes.py").write_bytes(b"# \xff\nimport asyncio\nasyncio.create_task\n")
    (root / ENDPOINTS / "c_fine.py").write_text(site_module("fine"), encoding="utf-8")
    result = migrate(root)
    assert result.returncode == 123, result.stderr
    errors = errors_of(result)
    assert [e.split(":")[1].strip() for e in errors] == [
        f"{ENDPOINTS}/a_syntax.py",
        f"{ENDPOINTS}/b_bytes.py",
    ]
    assert "fine_task.delay" in (root / ENDPOINTS / "c_fine.py").read_text("utf-8")
    assert_good_migrated(root)


def test_module_path_not_importable(tmp_path: Path) -> None:
    """The implementation is not reachable by a dotted path: skipped, not-importable (SPEC §4)."""
    root = make_app(tmp_path)
    (root / ENDPOINTS / "python-config.py").write_text(site_module("cfg"), encoding="utf-8")
    result = migrate(root, "--report", "report.json")
    assert result.returncode == 0, result.stderr
    import json

    report = json.loads((root / "report.json").read_text("utf-8"))
    [site] = [s for s in report["sites"] if s["path"].endswith("python-config.py")]
    assert (site["status"], site["reason"]) == ("skipped", "not-importable")
    assert_good_migrated(root)
