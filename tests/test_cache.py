"""The analysis cache (SPEC §3): summaries keyed by content, answers never cached; entries that do
not read back are rebuilt; concurrent runs; `--no-cache`, `--cache-dir`, the environment variable,
`cache-dir`; `celery-codemod clean`."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import codemod.model.program
from codemod.analysis.analyse import Project
from codemod.config import load_config
from codemod.model.cache import Cache
from codemod.model.summarise import summarise
from codemod.model.summary import dumps
from tests.golden import run_cli

CACHE = ".celery-codemod-cache"
FILES = {
    "pyproject.toml": '[project]\nname = "x"\n',
    "app/__init__.py": "",
    "app/core/__init__.py": "",
    "app/core/celery_app.py": 'from celery import Celery\n\ncelery_app = Celery("app")\n',
    "app/state.py": "engine = None\n",
    "app/main.py": """
        from contextlib import asynccontextmanager

        from fastapi import FastAPI

        from app import state
        from app.api.jobs import router


        @asynccontextmanager
        async def lifespan(app):
            state.engine = object()
            yield


        app = FastAPI(lifespan=lifespan)
        app.include_router(router)
    """,
    "app/services/__init__.py": "",
    "app/services/work.py": """
        async def job(n: int) -> None:
            return None
    """,
    "app/api/__init__.py": "",
    "app/api/jobs.py": """
        import asyncio

        from fastapi import APIRouter

        from app.services.work import job

        router = APIRouter()


        @router.post("/jobs/{n}")
        async def start(n: int) -> dict:
            asyncio.create_task(job(n))
            return {}
    """,
}
# the job's module, edited so that the job reads what the lifespan sets
READS_STATE = """
    from app import state


    async def job(n: int) -> None:
        print(state.engine)
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def statuses(root: Path, *args: str) -> list[tuple[str, str | None]]:
    result = run_cli(root, "migrate", "--check", "--report", "-", *args)
    assert result.exit_code in (0, 1), result.output
    report = run_cli(root, "migrate", "--check", "--report", str(root / "r.json"), *args)
    assert report.exit_code in (0, 1), report.output
    data = json.loads((root / "r.json").read_text())
    (root / "r.json").unlink()
    return [(s["status"], s["reason"]) for s in data["sites"]]


def entries(root: Path) -> list[Path]:
    return sorted(p for p in (root / CACHE).rglob("*") if p.is_file() and p.parent.name != CACHE)


def test_the_cache_folder_keeps_out_of_git_and_backups(tmp_path: Path) -> None:
    root = write(tmp_path, FILES)
    statuses(root)
    assert (root / CACHE / ".gitignore").read_text() == "*\n"
    assert (root / CACHE / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d")
    assert entries(root)


def test_a_warm_run_parses_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write(tmp_path, FILES)
    cold = statuses(root)
    assert cold == [("migrated", None)]

    def refuse(*args: object) -> None:
        raise AssertionError(f"summarised again: {args[0]}")

    monkeypatch.setattr(codemod.model.program, "summarise", refuse)
    assert statuses(root) == cold


def test_an_edit_of_the_job_s_module_alone_changes_the_answer(tmp_path: Path) -> None:
    """The handler's module is unchanged (its summary comes from the cache); what its job now
    reads turns its site to skipped on the next run: answers are never cached."""
    root = write(tmp_path, FILES)
    assert statuses(root) == [("migrated", None)]
    write(root, {"app/services/work.py": READS_STATE})
    assert statuses(root) == [("skipped", "needs-startup")]
    write(root, {"app/services/work.py": FILES["app/services/work.py"]})
    assert statuses(root) == [("migrated", None)]


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
        pytest.param(lambda data: data[:-40] + b"\x00" * 40, id="corrupt"),
        pytest.param(lambda data: b"", id="empty"),
        pytest.param(lambda data: b"something else entirely", id="foreign"),
    ],
)
def test_an_entry_that_does_not_read_back_is_rebuilt(tmp_path: Path, damage: object) -> None:
    root = write(tmp_path, FILES)
    cold = statuses(root)
    for entry in entries(root):
        entry.write_bytes(damage(entry.read_bytes()))  # type: ignore[operator]
    assert statuses(root) == cold
    config = load_config((root,), root, {})
    project = Project.of(config, Cache(root / CACHE))
    assert project.program.summarised == 0  # the entries were rebuilt whole by the run before


def test_an_entry_that_names_other_code_is_refused(tmp_path: Path) -> None:
    """A planted entry (in the right place, with the right header) that would run code when
    unpickled is ignored, not loaded."""
    root = write(tmp_path, FILES)
    statuses(root)
    marker = tmp_path / "ran"
    evil = pickle.dumps(_Planted(str(marker)))
    for entry in entries(root):
        head, _, _ = entry.read_bytes().partition(b"\n")
        key = entry.name
        entry.write_bytes(head + b"\n" + key.encode() + b"\n" + evil)
    assert statuses(root) == [("migrated", None)]
    assert not marker.exists()


class _Planted:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (self.path,))


def test_another_version_keeps_entries_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write(tmp_path, FILES)
    statuses(root)
    before = {p.relative_to(root / CACHE).parts[0] for p in entries(root)}
    monkeypatch.setattr("codemod.model.cache.__version__", "99.0.0")
    statuses(root)
    after = {p.relative_to(root / CACHE).parts[0] for p in entries(root)}
    assert after - before == {f"99.0.0-py{sys.version_info[0]}.{sys.version_info[1]}"}


def test_the_key_is_the_content_and_the_module(tmp_path: Path) -> None:
    data = b"x = 1\n"
    key = Cache.key("app.a", False, data)
    assert key == Cache.key("app.a", False, bytes(data))
    assert key != Cache.key("app.b", False, data)
    assert key != Cache.key("app.a", True, data)
    assert key != Cache.key("app.a", False, b"x = 2\n")
    cache = Cache(tmp_path / CACHE)
    summary = summarise("app.a", tmp_path / "a.py", data)
    cache.put(key, dumps(summary))
    assert cache.get(key) == summary
    assert cache.get(Cache.key("app.a", False, b"x = 2\n")) is None


def test_no_cache_writes_nothing(tmp_path: Path) -> None:
    root = write(tmp_path, FILES)
    assert statuses(root, "--no-cache") == [("migrated", None)]
    assert not (root / CACHE).exists()


def test_cache_dir_option_variable_and_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write(tmp_path / "project", FILES)
    statuses(root, "--cache-dir", str(tmp_path / "given"))
    assert (tmp_path / "given" / ".gitignore").is_file()
    assert not (root / CACHE).exists()
    monkeypatch.setenv("CELERY_CODEMOD_CACHE_DIR", str(tmp_path / "from-env"))
    statuses(root)
    assert (tmp_path / "from-env" / ".gitignore").is_file()
    statuses(root, "--cache-dir", str(tmp_path / "given-wins"))
    assert (tmp_path / "given-wins" / ".gitignore").is_file()
    monkeypatch.delenv("CELERY_CODEMOD_CACHE_DIR")
    text = (
        root / "pyproject.toml"
    ).read_text() + '\n[tool.celery-codemod]\ncache-dir = "build/cc"\n'
    (root / "pyproject.toml").write_text(text)
    statuses(root)
    assert (root / "build" / "cc" / ".gitignore").is_file()


def test_clean_removes_the_cache(tmp_path: Path) -> None:
    root = write(tmp_path, FILES)
    statuses(root)
    assert (root / CACHE).is_dir()
    result = run_cli(root, "clean")
    assert result.exit_code == 0
    assert "Removed the cache at .celery-codemod-cache" in result.output
    assert not (root / CACHE).exists()
    again = run_cli(root, "clean", ".")
    assert again.exit_code == 0
    assert "No cache at" in again.output


def test_an_unwritable_cache_is_no_error(tmp_path: Path) -> None:
    root = write(tmp_path, FILES)
    (root / CACHE).write_text("a file where the folder would go")
    assert statuses(root) == [("migrated", None)]


def test_two_concurrent_runs_never_corrupt_it(tmp_path: Path) -> None:
    root = write(tmp_path, FILES)
    for n in range(30):  # enough modules to summarise that the runs overlap
        write(root, {f"app/services/more_{n}.py": FILES["app/services/work.py"]})
    command = [sys.executable, "-m", "codemod", "check", "--format", "json", "."]
    runs = [
        subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [1, 1], outputs
    assert outputs[0][0] == outputs[1][0]
    config = load_config((root,), root, {})
    project = Project.of(config, Cache(root / CACHE))
    project.analyse([root / "app/api/jobs.py"], config)
    assert project.program.summarised == 0  # every entry reads back whole
    assert not [p for p in (root / CACHE).rglob("*.tmp")]
