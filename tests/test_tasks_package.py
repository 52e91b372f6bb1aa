"""The tasks package's default (SPEC §3 `--tasks-package`): `<package>.tasks` of the Celery app's
top-level package, resolved before the analysis; where a new tasks package goes; and that a
project without a Celery app and with nothing to migrate still passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from codemod.config import Config
from codemod.models import CeleryApp
from codemod.target import default_tasks_package, new_module_file, new_package_inits
from tests.golden import run_cli, tree

CELERY = 'from celery import Celery\n\ncelery_app = Celery("x", include=[])\n'
ENDPOINT = """\
import asyncio


async def _job_background(job_id: str) -> None: ...


async def start(job_id: str) -> None:
    asyncio.create_task(_job_background(job_id))
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def app_at(rel: str) -> CeleryApp:
    from codemod.model.files import module_name

    return CeleryApp(module_name(rel), "celery_app", rel)


@pytest.mark.parametrize(
    ("celery", "folders", "expected"),
    [
        pytest.param("app/core/celery_app.py", [], "app.tasks", id="app-package"),
        pytest.param("src/shipping/server/celery.py", [], "shipping.tasks", id="src-layout"),
        pytest.param("backend/worker.py", [], "backend.tasks", id="other-package"),
        pytest.param("celery_app.py", ["app", "shipping"], "app.tasks", id="top-level-app-pkg"),
        pytest.param("src/worker.py", ["src/shipping"], "shipping.tasks", id="top-level-one-pkg"),
        pytest.param("worker.py", ["shipping", "tests"], "shipping.tasks", id="tests-not-a-pkg"),
        pytest.param("worker.py", [], "app.tasks", id="top-level-no-package"),
        pytest.param("worker.py", ["billing", "shipping"], "app.tasks", id="top-level-several"),
        pytest.param("worker.py", ["src/shipping"], "app.tasks", id="package-elsewhere"),
    ],
)
def test_default_tasks_package(
    tmp_path: Path, celery: str, folders: list[str], expected: str
) -> None:
    write(tmp_path, {celery: CELERY, **{f"{f}/__init__.py": "" for f in folders}})
    config = Config(tmp_path, (tmp_path,))
    assert default_tasks_package(app_at(celery), config) == expected


def test_a_new_top_level_tasks_package_goes_beside_the_celery_module(tmp_path: Path) -> None:
    write(tmp_path, {"src/worker.py": CELERY})
    app = app_at("src/worker.py")
    path = new_module_file("app.tasks.jobs_tasks", tmp_path, app)
    assert path == tmp_path / "src/app/tasks/jobs_tasks.py"
    inits = new_package_inits(path, "app.tasks.jobs_tasks")
    assert inits == [tmp_path / "src/app/__init__.py", tmp_path / "src/app/tasks/__init__.py"]
    write(tmp_path, {"app/__init__.py": ""})  # a package of that name under root: beside it
    assert new_module_file("app.tasks.x", tmp_path, app) == tmp_path / "app/tasks/x.py"


def test_src_layout_package_not_called_app(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "pyproject.toml": '[project]\nname = "shipping"\n',
            "src/shipping/__init__.py": "",
            "src/shipping/celery.py": CELERY,
            "src/shipping/api/jobs.py": ENDPOINT,
        },
    )
    assert run_cli(root, "migrate").exit_code == 0
    assert not (root / "app").exists()
    assert (root / "src/shipping/tasks/__init__.py").is_file()
    tasks = (root / "src/shipping/tasks/jobs_tasks.py").read_text(encoding="utf-8")
    assert 'name="shipping.tasks.jobs_tasks.job_task"' in tasks
    # the already-migrated site is found in the resolved package: a second run changes nothing
    before = tree(root)
    again = run_cli(root, "migrate", "--report", "-")
    assert again.exit_code == 0 and tree(root) == before
    assert "- ✅ Already migrated in `src/shipping/api/jobs.py`:" in again.stdout
    assert run_cli(root, "check").exit_code == 0


def test_an_explicit_tasks_package_wins(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {"src/shipping/__init__.py": "", "src/shipping/celery.py": CELERY},
    )
    write(root, {"src/shipping/api/jobs.py": ENDPOINT})
    assert run_cli(root, "migrate", "--tasks-package", "shipping.jobs").exit_code == 0
    assert (root / "src/shipping/jobs/jobs_tasks.py").is_file()
    assert not (root / "src/shipping/tasks").exists()


def test_no_celery_app_and_nothing_to_migrate_still_passes(tmp_path: Path) -> None:
    root = write(tmp_path, {"shipping/__init__.py": "", "shipping/api/views.py": "x = 1\n"})
    assert run_cli(root, "migrate").exit_code == 0
    assert run_cli(root, "check").exit_code == 0
    assert tree(root) == {"shipping/__init__.py": b"", "shipping/api/views.py": b"x = 1\n"}


def test_no_celery_app_with_a_site_to_migrate_is_exit_2(tmp_path: Path) -> None:
    root = write(tmp_path, {"shipping/__init__.py": "", "shipping/api/views.py": ENDPOINT})
    result = run_cli(root, "migrate")
    assert result.exit_code == 2
    assert "no Celery app found" in result.stderr
