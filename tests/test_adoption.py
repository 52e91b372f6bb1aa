"""Adopting `check` on a real codebase, through the CLI: rule selection (`--select`, `--ignore`,
`select`, `ignore`, `per-file-ignores`), `--add-noqa`, CCM100, `--statistics`, `--exit-zero`, and
queues per phase (`queues`, and its drift)."""

from __future__ import annotations

import codecs
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from tests.golden import FIXTURES, run_cli

APP = FIXTURES / "cases" / "app_startup_state" / "before"
ENDPOINTS = "app/api/endpoints/cases.py"
# the app's sites: one migratable (CCM001, line 41), five that need a person (CCM002)
CCM001_LINE = 41
CCM002_LINES = [23, 29, 35, 47, 58]


@pytest.fixture
def app(tmp_path: Path) -> Path:
    work = tmp_path / "app"
    shutil.copytree(APP, work)
    return work


def configure(root: Path, table: str) -> None:
    with (root / "pyproject.toml").open("a", encoding="utf-8") as out:
        out.write(f"\n[tool.celery-codemod]\n{table}\n")


def problems(result: Result) -> list[tuple[str, int, str]]:
    """(path, line, code) of each diagnostic line of the text format."""
    out = []
    for line in result.stdout.splitlines():
        parts = line.split(": ", 1)[0].split(":")
        if len(parts) == 3 and " CCM" in line:
            out.append((parts[0], int(parts[1]), line.split(": ", 1)[1].split()[0]))
    return out


def codes(result: Result) -> list[str]:
    return sorted(code for _, _, code in problems(result))


# --- selection ----------------------------------------------------------------------------------


def test_everything_is_reported_by_default(app: Path) -> None:
    result = run_cli(app, "check", ".")
    assert result.exit_code == 1
    assert codes(result) == ["CCM001"] + ["CCM002"] * 5


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--select", "CCM001"], ["CCM001"]),
        (["--select", "CCM002"], ["CCM002"] * 5),
        (["--select", "CCM00"], ["CCM001"] + ["CCM002"] * 5),  # a prefix
        (["--select", "CCM001,CCM002"], ["CCM001"] + ["CCM002"] * 5),  # a list
        (["--ignore", "CCM002"], ["CCM001"]),
        (["--ignore", "ccm00"], []),  # any case
        (["--select", "CCM00", "--ignore", "CCM001"], ["CCM002"] * 5),
    ],
)
def test_select_and_ignore_on_the_command_line(
    app: Path, args: list[str], expected: list[str]
) -> None:
    result = run_cli(app, "check", *args, ".")
    assert codes(result) == expected
    assert result.exit_code == (1 if expected else 0)
    if not expected:
        assert result.stdout == "All checks passed.\n"


def test_config_keys_and_the_command_line_over_them(app: Path) -> None:
    configure(app, 'select = ["CCM002"]\nignore = ["CCM001"]')
    assert codes(run_cli(app, "check", ".")) == ["CCM002"] * 5
    # --select replaces `select`; `ignore` still holds unless --ignore replaces it
    assert codes(run_cli(app, "check", "--select", "CCM001", ".")) == []
    result = run_cli(app, "check", "--select", "CCM001", "--ignore", "CCM9", ".")
    assert codes(result) == ["CCM001"]


def test_per_file_ignores(app: Path) -> None:
    configure(app, '[tool.celery-codemod.per-file-ignores]\n"app/api/**/*.py" = ["CCM002"]')
    assert codes(run_cli(app, "check", ".")) == ["CCM001"]
    configure_other = app / "pyproject.toml"
    text = configure_other.read_text(encoding="utf-8").replace('"app/api/**/*.py"', '"other/*"')
    configure_other.write_text(text, encoding="utf-8")
    assert codes(run_cli(app, "check", ".")) == ["CCM001"] + ["CCM002"] * 5


@pytest.mark.parametrize(
    "table",
    [
        'select = ["E501"]',
        'ignore = ["CCM7"]',
        '[tool.celery-codemod.per-file-ignores]\n"x.py" = ["F401"]',
    ],
)
def test_an_unknown_selector_is_a_usage_error(app: Path, table: str) -> None:
    configure(app, table)
    result = run_cli(app, "check", ".")
    assert result.exit_code == 2
    assert "unknown rule selector" in result.stderr


def test_an_unknown_selector_on_the_command_line_is_a_usage_error(app: Path) -> None:
    result = run_cli(app, "check", "--select", "RUF006", ".")
    assert result.exit_code == 2
    assert "unknown rule selector 'RUF006'" in result.stderr


def test_selection_leaves_migrate_alone(app: Path) -> None:
    configure(app, 'ignore = ["CCM001"]')
    result = run_cli(app, "migrate", "--check", ".")
    assert result.exit_code == 1  # the CCM001 site would still be migrated


# --- statistics and exit-zero -------------------------------------------------------------------


def test_statistics_byte_for_byte(app: Path) -> None:
    result = run_cli(app, "check", "--statistics", ".")
    assert result.exit_code == 1
    assert result.stdout == (
        "5\tCCM002\tbackground call site that cannot be migrated automatically\n"
        "1\tCCM001\tmigratable background call site in an endpoint module\n"
    )
    result = run_cli(app, "check", "--statistics", "--select", "CCM001", ".")
    assert result.stdout == "1\tCCM001\tmigratable background call site in an endpoint module\n"
    result = run_cli(app, "check", "--statistics", "--ignore", "CCM", ".")
    assert (result.exit_code, result.stdout) == (0, "")


def test_exit_zero(app: Path) -> None:
    result = run_cli(app, "check", "--exit-zero", ".")
    assert result.exit_code == 0
    assert len(problems(result)) == 6


def test_exit_zero_still_exits_123_on_an_error(app: Path) -> None:
    (app / ENDPOINTS).write_text("import asyncio\nasyncio.create_task(\n", encoding="utf-8")
    result = run_cli(app, "check", "--exit-zero", ".")
    assert result.exit_code == 123


# --- --add-noqa and CCM100 ----------------------------------------------------------------------


def test_add_noqa_silences_every_problem_and_a_second_run_adds_none(app: Path) -> None:
    result = run_cli(app, "check", "--add-noqa", ".")
    assert (result.exit_code, result.stdout) == (0, "Added 6 noqa directives.\n")
    lines = (app / ENDPOINTS).read_text(encoding="utf-8").splitlines()
    assert lines[CCM001_LINE - 1].endswith("reindex(item_id))  # noqa: CCM001")
    for number in CCM002_LINES:
        assert lines[number - 1].endswith("  # noqa: CCM002")
    assert run_cli(app, "check", ".").stdout == "All checks passed.\n"
    again = run_cli(app, "check", "--add-noqa", ".")
    assert (again.exit_code, again.stdout) == (0, "Added 0 noqa directives.\n")
    # `migrate` leaves the silenced site where it is
    assert run_cli(app, "migrate", "--check", ".").exit_code == 0


def test_add_noqa_adds_only_the_selected_codes(app: Path) -> None:
    result = run_cli(app, "check", "--add-noqa", "--select", "CCM001", ".")
    assert result.stdout == "Added 1 noqa directive.\n"
    assert codes(run_cli(app, "check", ".")) == ["CCM002"] * 5


def test_add_noqa_merges_into_an_existing_noqa_and_keeps_crlf_and_bom(app: Path) -> None:
    path = app / ENDPOINTS
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    lines[CCM001_LINE - 1] += "  # noqa: E501"
    lines[CCM002_LINES[0] - 1] += "  # a comment"
    data = codecs.BOM_UTF8 + "\r\n".join(lines).encode("utf-8")
    path.write_bytes(data)
    result = run_cli(app, "check", "--add-noqa", ".")
    assert result.stdout == "Added 6 noqa directives.\n"
    new = path.read_bytes()
    assert new.startswith(codecs.BOM_UTF8)
    assert new.count(b"\r\n") == data.count(b"\r\n")
    assert b"\n" not in new.replace(b"\r\n", b"")
    new_lines = new[3:].decode("utf-8").split("\r\n")
    assert new_lines[CCM001_LINE - 1].endswith("reindex(item_id))  # noqa: E501, CCM001")
    assert new_lines[CCM002_LINES[0] - 1].endswith("  # a comment  # noqa: CCM002")
    assert [i for i, (a, b) in enumerate(zip(lines, new_lines, strict=True)) if a != b] == [
        n - 1 for n in sorted([CCM001_LINE, *CCM002_LINES])
    ]
    assert run_cli(app, "check", ".").stdout == "All checks passed.\n"


def test_unused_noqa_is_ccm100_and_add_noqa_does_not_add_it(app: Path) -> None:
    path = app / ENDPOINTS
    lines = path.read_text(encoding="utf-8").split("\n")
    lines[CCM002_LINES[0] - 1] += "  # noqa: CCM001, CCM002"  # CCM001: nothing to silence
    lines[0] += "  # noqa: CCM002"  # the docstring's line holds no site
    path.write_text("\n".join(lines), encoding="utf-8")
    result = run_cli(app, "check", ".")
    ccm100 = [line for line in result.stdout.splitlines() if " CCM100 " in line]
    site = lines[CCM002_LINES[0] - 1]
    assert ccm100 == [
        f"{ENDPOINTS}:1:{lines[0].index('#') + 1}: CCM100 unused `noqa` directive "
        "(unused: CCM002); remove it",
        # CCM001 named on a CCM002 line: it silences nothing there (and CCM002 is used)
        f"{ENDPOINTS}:{CCM002_LINES[0]}:{site.index('#') + 1}: CCM100 unused `noqa` directive "
        "(unused: CCM001); remove it",
    ]
    assert result.stdout.endswith("Found 7 problems (1 fixable with 'celery-codemod migrate').\n")
    added = run_cli(app, "check", "--add-noqa", ".")
    assert added.stdout == "Added 5 noqa directives.\n"  # not on the CCM100 lines
    assert codes(run_cli(app, "check", ".")) == ["CCM100", "CCM100"]
    assert codes(run_cli(app, "check", "--ignore", "CCM100", ".")) == []


def test_a_noqa_in_a_module_without_sites_is_unused(app: Path) -> None:
    (app / "app/api/endpoints/other.py").write_text("x = 1  # noqa: CCM001\n", encoding="utf-8")
    result = run_cli(app, "check", "--select", "CCM100", ".")
    assert problems(result) == [("app/api/endpoints/other.py", 1, "CCM100")]


def test_a_used_noqa_is_no_ccm100(app: Path) -> None:
    path = app / ENDPOINTS
    lines = path.read_text(encoding="utf-8").split("\n")
    lines[CCM001_LINE - 1] += "  # noqa: CCM001"
    path.write_text("\n".join(lines), encoding="utf-8")
    assert codes(run_cli(app, "check", ".")) == ["CCM002"] * 5


# --- queues -------------------------------------------------------------------------------------


ROUTES = "app/tasks/routing.py"
CELERY_APP = "app/core/celery_app.py"
HOOK = (
    "from app.tasks.routing import route_generated_tasks  # noqa: E402\n"
    "\n"
    "route_generated_tasks(celery_app)\n"
)


def routes_of(app: Path) -> dict[str, str]:
    """TASK_ROUTES of the generated routes module, as task -> queue."""
    namespace: dict[str, Any] = {}
    exec((app / ROUTES).read_text(encoding="utf-8"), namespace)
    return {task: route["queue"] for task, route in namespace["TASK_ROUTES"].items()}


def test_queues_route_through_task_routes_and_a_changed_queue_is_drift(app: Path) -> None:
    configure(app, 'shared-filesystem = true\nqueues = { "cases_tasks" = "llm" }')
    assert run_cli(app, "migrate", ".").exit_code == 0
    tasks = (app / "app/tasks/cases_tasks.py").read_text(encoding="utf-8")
    assert "queue=" not in tasks  # a deprecated task attribute: the routes module routes them
    assert routes_of(app) == {
        "app.tasks.cases_tasks.process_upload_task": "llm",
        "app.tasks.cases_tasks.reindex_task": "llm",
    }
    assert (app / CELERY_APP).read_text(encoding="utf-8").endswith(HOOK)
    assert run_cli(app, "check", ".").stdout.endswith(
        "Found 4 problems (0 fixable with 'celery-codemod migrate').\n"
    )
    text = (app / "pyproject.toml").read_text(encoding="utf-8")
    (app / "pyproject.toml").write_text(
        text.replace('"cases_tasks" = "llm"', '"reindex_task" = "fast"'), encoding="utf-8"
    )
    result = run_cli(app, "check", ".")
    drift = [line for line in result.stdout.splitlines() if " CCM003 " in line]
    assert drift == [
        f"{ROUTES}:1:1: CCM003 routes `app.tasks.cases_tasks.process_upload_task` to queue "
        "`llm`, but `queues` routes it to the default queue; run 'celery-codemod migrate' to "
        "route them by `queues`"
    ]
    app_module = (app / CELERY_APP).read_bytes()
    assert run_cli(app, "migrate", ".").exit_code == 0
    assert routes_of(app) == {"app.tasks.cases_tasks.reindex_task": "fast"}
    assert (app / CELERY_APP).read_bytes() == app_module  # applies the routes already
    assert (app / "app/tasks/cases_tasks.py").read_text(encoding="utf-8") == tasks
    assert " CCM003 " not in run_cli(app, "check", ".").stdout
    assert run_cli(app, "migrate", "--check", ".").exit_code == 0


def test_a_wrapper_with_the_queue_attribute_is_drift_and_its_route_moves(app: Path) -> None:
    """Wrappers of earlier versions set `queue=`: regenerated without it, routed by the routes
    module, which the app module then applies; a second run changes nothing."""
    configure(app, 'shared-filesystem = true\nqueues = { "cases_tasks" = "llm" }')
    assert run_cli(app, "migrate", ".").exit_code == 0
    path = app / "app/tasks/cases_tasks.py"
    generated = path.read_text(encoding="utf-8")
    older = generated.replace('_task",\n', '_task",\n    queue="llm",\n')
    assert older.count('queue="llm"') == 2
    path.write_text(older, encoding="utf-8")
    (app / ROUTES).unlink()
    app_module = (app / CELERY_APP).read_text(encoding="utf-8")
    (app / CELERY_APP).write_text(app_module.split("\n# The queues of")[0], encoding="utf-8")
    result = run_cli(app, "check", ".")
    drift = [line for line in result.stdout.splitlines() if " CCM003 " in line]
    assert len(drift) == 3, result.stdout
    deprecated = "sets the `queue` task attribute, which Celery 5 deprecates"
    assert sum(deprecated in line for line in drift) == 2
    assert f"{CELERY_APP}:1:1: CCM003 the `queues` routes of 2 generated task(s) are in no " in (
        result.stdout
    )
    assert run_cli(app, "migrate", ".").exit_code == 0
    assert path.read_text(encoding="utf-8") == generated
    assert (app / CELERY_APP).read_text(encoding="utf-8") == app_module
    assert set(routes_of(app).values()) == {"llm"}
    assert " CCM003 " not in run_cli(app, "check", ".").stdout
    assert run_cli(app, "migrate", "--check", ".").exit_code == 0


def test_next_steps_give_one_worker_per_queue() -> None:
    summary = (FIXTURES / "cases" / "queues_seed_app" / "after" / "MIGRATION_SUMMARY.md").read_text(
        encoding="utf-8"
    )
    assert "`celery -A app.core.celery_app worker -Q llm -P prefork -l info`" in summary
    assert (
        "`celery -A app.core.celery_app worker -Q celery -P prefork -l info` (the default queue)"
        in summary
    )
    assert "kept in `app/tasks/routing.py` (`TASK_ROUTES`, from `queues`)" in summary
