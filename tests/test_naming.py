"""Naming rules (SPEC §4 "Naming"), glob matching and dotted module names."""

from __future__ import annotations

from pathlib import Path

import pytest

from codemod.config import Config
from codemod.model.files import glob_match, module_name
from codemod.models import Site, Status
from codemod.plan import task_name, tasks_module_for


@pytest.mark.parametrize(
    ("implementation", "expected"),
    [
        pytest.param(
            "_regenerate_pde_mappings_background", "regenerate_pde_mappings_task", id="bg"
        ),
        pytest.param("__execute_test_case_async", "execute_test_case_task", id="dunder-async"),
        pytest.param("build_report_bg", "build_report_task", id="short-bg"),
        pytest.param("sync_impl", "sync_task", id="impl"),
        pytest.param("nightly_job", "nightly_task", id="job"),
        pytest.param("index_worker", "index_task", id="worker"),
        pytest.param("refresh", "refresh_task", id="no-suffix"),
        pytest.param("_job_async", "job_task", id="only-one-suffix-stripped"),
        pytest.param("_worker", "worker_task", id="suffix-alone-is-the-name"),
    ],
)
def test_task_name(implementation: str, expected: str) -> None:
    assert task_name(implementation) == expected


def _site(module: str, path: str) -> Site:
    return Site(path, module, 1, 1, 1, 1, None, "asyncio.create_task", "", Status.MIGRATED)


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("app.services.test_execution_service", "app.tasks.test_execution_tasks"),
        ("app.api.v1.endpoints.planning", "app.tasks.planning_tasks"),
        ("app.routers.users_router", "app.tasks.users_tasks"),
        ("app.views.report_views", "app.tasks.report_tasks"),
        ("app.api.billing_api", "app.tasks.billing_tasks"),
        ("app.api.items_endpoints", "app.tasks.items_tasks"),
        ("app.api.api", "app.tasks.api_tasks"),
    ],
)
def test_tasks_module(module: str, expected: str) -> None:
    config = Config(root=Path("."), paths=())
    assert tasks_module_for(_site(module, module.replace(".", "/") + ".py"), config) == expected


def test_tasks_module_mapping_by_dotted_name_and_by_path() -> None:
    config = Config(
        root=Path("."),
        paths=(),
        task_modules={"app.api.a": "shared_tasks", "app/api/b.py": "other.pkg.b_tasks"},
    )
    assert tasks_module_for(_site("app.api.a", "app/api/a.py"), config) == "app.tasks.shared_tasks"
    assert tasks_module_for(_site("app.api.b", "app/api/b.py"), config) == "other.pkg.b_tasks"


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("**/api/**/*.py", "app/api/v1/endpoints/planning.py", True),
        ("**/api/**/*.py", "api/x.py", True),
        ("**/services/**/*.py", "app/services/test_execution_service.py", True),
        ("**/api/**/*.py", "app/apis/x.py", False),
        ("*.py", "app/x.py", False),
        ("app/*.py", "app/x.py", True),
        ("**/tests/**", "app/tests/", True),
        ("**/test_*.py", "app/services/test_execution_service.py", True),
    ],
)
def test_glob(pattern: str, path: str, matches: bool) -> None:
    assert glob_match(pattern, path) is matches


@pytest.mark.parametrize(
    ("path", "module"),
    [
        ("app/api/v1/endpoints/planning.py", "app.api.v1.endpoints.planning"),
        ("src/app/api/x.py", "app.api.x"),
        ("app/tasks/__init__.py", "app.tasks"),
    ],
)
def test_module_name(path: str, module: str) -> None:
    assert module_name(path) == module
