"""`celery-codemod check` as SPEC §3 has it: every code, every format, noqa, exit codes, partial
file lists (as pre-commit passes them), and drift on a migrated copy of the seed app."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import Result

from codemod.models import HINTS, Reason
from codemod.output.diagnostics import Diagnostic, as_github
from tests.golden import FIXTURES, Case, all_cases, copy_before, run_cli, tree

SCHEMA = Path(__file__).resolve().parent / "schemas" / "sarif-2.1.0-rtm.5.schema.json"
CODES = ["CCM001", "CCM002", "CCM003", "CCM004", "CCM100", "CCM900"]
SUMMARY = re.compile(r"Found (\d+) problems? \((\d+) fixable with 'celery-codemod migrate'\)\.")

PYPROJECT = """\
[project]
name = "demo"
version = "0.1.0"
"""
APP = """\
from celery import Celery

celery_app = Celery("app", include=[])
"""
JOBS = """\
async def job(job_id: str, count: int = 1) -> None:
    \"\"\"The background job.\"\"\"
"""
ENDPOINT = """\
import asyncio

from app.jobs import job


async def start(job_id: str) -> None:
    asyncio.create_task(job(job_id))
"""
CCM001_LINE = (
    "app/api/a.py:7:5: CCM001 asyncio.create_task(job(...)) runs in the web process; "
    "run 'celery-codemod migrate' to queue it as a Celery task"
)
BROKEN = "import asyncio\ndef f(:\n    asyncio.create_task(x())\n"


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def project(root: Path, files: dict[str, str] | None = None) -> Path:
    """A small app: an endpoint `app/api/a.py` whose job lives in `app/jobs.py` (not an endpoint
    module), a Celery app with an empty `include`, and an (empty) tasks package."""
    base = {
        "pyproject.toml": PYPROJECT,
        "app/__init__.py": "",
        "app/celery_app.py": APP,
        "app/jobs.py": JOBS,
        "app/tasks/__init__.py": "",
        "app/api/__init__.py": "",
        "app/api/a.py": ENDPOINT,
    }
    return write(root, {**base, **(files or {})})


def migrated(root: Path, files: dict[str, str] | None = None) -> Path:
    """The small app after `migrate`: a generated `job_task` in `app/tasks/a_tasks.py`."""
    project(root, files)
    result = run_cli(root, "migrate")
    assert result.exit_code == 0, result.output
    assert "def job_task(" in (root / "app/tasks/a_tasks.py").read_text()
    return root


def check(cwd: Path, *args: str) -> Result:
    return run_cli(cwd, "check", *args)


def found(cwd: Path, *args: str) -> list[dict[str, Any]]:
    result = check(cwd, "--format", "json", *args)
    assert result.exit_code in (0, 1, 123), result.output
    items = json.loads(result.stdout)
    assert isinstance(items, list)
    return items


def def_line(path: Path, name: str) -> int:
    """The line of `def NAME(` (the position a CCM003 points at)."""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.startswith(f"def {name}("):
            return number
    raise AssertionError(f"no def {name} in {path}")


# --- CCM001 ------------------------------------------------------------------------------------


def test_ccm001_migratable_site(tmp_path: Path) -> None:
    root = project(tmp_path)
    before = tree(root)
    result = check(root)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        CCM001_LINE,
        "Found 1 problem (1 fixable with 'celery-codemod migrate').",
    ]
    assert result.stderr == ""
    assert tree(root) == before  # check never writes


def test_ccm001_is_fixed_by_migrate(tmp_path: Path) -> None:
    root = migrated(tmp_path)
    result = check(root)
    assert (result.exit_code, result.stdout) == (0, "All checks passed.\n")


# --- CCM002 ------------------------------------------------------------------------------------

CCM002_SITES = {
    "not-a-call": """\
import asyncio

from app.jobs import job


async def start(job_id: str) -> None:
    coro = job(job_id)
    asyncio.create_task(coro)
""",
    "not-importable": """\
import asyncio


async def start(job_id: str) -> None:
    async def inner() -> None: ...

    asyncio.create_task(inner())
""",
    "star-args": """\
import asyncio

from app.jobs import job


async def start(*job_ids: str) -> None:
    asyncio.create_task(job(*job_ids))
""",
    "unserializable-args": """\
import asyncio

from fastapi import Request


async def handle(request: Request) -> None: ...


async def start(request: Request) -> None:
    asyncio.create_task(handle(request))
""",
    "handle-stored": """\
import asyncio

from app.jobs import job

RUNNING: dict[str, asyncio.Task[None]] = {}


async def start(job_id: str) -> None:
    RUNNING[job_id] = asyncio.create_task(job(job_id))
""",
    "unverified-args": """\
import asyncio


async def loose(job_id): ...


async def start(job_id) -> None:
    asyncio.create_task(loose(job_id))
""",
}


@pytest.mark.parametrize("reason", sorted(CCM002_SITES))
def test_ccm002_site_that_must_be_skipped_says_why(tmp_path: Path, reason: str) -> None:
    source = CCM002_SITES[reason]
    files = {"app/api/a.py": source}
    if reason == "unverified-args":  # the default, "guard", migrates it with a run-time check
        files["pyproject.toml"] = PYPROJECT + '\n[tool.celery-codemod]\nunverified-args = "skip"\n'
    root = project(tmp_path, files)
    line = next(n for n, text in enumerate(source.splitlines(), 1) if "create_task(" in text)
    [item] = found(root)
    assert item["code"] == "CCM002"
    assert (item["path"], item["line"], item["fixable"]) == ("app/api/a.py", line, False)
    assert "cannot be migrated automatically" in item["message"]
    assert f"({reason}: " in item["message"]
    assert item["message"].endswith(f"; {HINTS[Reason(reason)]} (celery-codemod rule {reason})")
    result = check(root)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1] == (
        "Found 1 problem (0 fixable with 'celery-codemod migrate')."
    )
    # migrate leaves it alone, so check still reports it
    assert run_cli(root, "migrate").exit_code == 0
    assert [i["code"] for i in found(root)] == ["CCM002"]


# --- CCM003 ------------------------------------------------------------------------------------

DRIFTS = {
    "parameter added": "async def job(job_id: str, count: int = 1, urgent: bool = False) -> None:",
    "parameter removed": "async def job(job_id: str) -> None:",
    "parameter renamed": "async def job(job_id: str, total: int = 1) -> None:",
    "parameter retyped": "async def job(job_id: str, count: float = 1) -> None:",
    "default changed": "async def job(job_id: str, count: int = 2) -> None:",
    "keyword-only now": "async def job(job_id: str, *, count: int = 1) -> None:",
}


@pytest.mark.parametrize("change", list(DRIFTS))
def test_ccm003_drift_is_reported_at_the_wrapper_and_fixed_by_migrate(
    tmp_path: Path, change: str
) -> None:
    root = migrated(tmp_path)
    jobs = root / "app/jobs.py"
    jobs.write_text(JOBS.replace(JOBS.splitlines()[0], DRIFTS[change]))
    tasks = root / "app/tasks/a_tasks.py"
    [item] = found(root)
    assert item == {
        "code": "CCM003",
        "message": item["message"],
        "path": "app/tasks/a_tasks.py",
        "line": def_line(tasks, "job_task"),
        "column": 1,
        "fixable": True,
    }
    assert "wrapper `job_task`" in item["message"]
    assert "`app.jobs.job`" in item["message"]
    assert "run 'celery-codemod migrate' to regenerate it" in item["message"]

    assert run_cli(root, "migrate").exit_code == 0
    result = check(root)
    assert (result.exit_code, result.stdout) == (0, "All checks passed.\n")
    wrapper = _function(tasks, "job_task")
    implementation = _function(jobs, "job")
    assert _params(wrapper)[1:] == _params(implementation)  # after `self`


def _function(path: Path, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef:
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return node
    raise AssertionError(f"no {name} in {path}")


def _params(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    """Every parameter as kind:name:annotation=default."""
    args = node.args
    defaults: list[ast.expr | None] = [None] * (len(args.args) - len(args.defaults))
    out = []
    for arg, default in zip(args.args, [*defaults, *args.defaults], strict=True):
        out.append(("pos", arg, default))
    out += [("kw", a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)]
    return [
        f"{kind}:{a.arg}:{ast.unparse(a.annotation) if a.annotation else ''}"
        f"={ast.unparse(d) if d else ''}"
        for kind, a, d in out
    ]


def test_ccm003_implementation_gone(tmp_path: Path) -> None:
    root = migrated(tmp_path)
    (root / "app/jobs.py").write_text(JOBS.replace("def job(", "def renamed_job("))
    items = [i for i in found(root) if i["code"] == "CCM003"]
    assert items == [
        {
            "code": "CCM003",
            "message": items[0]["message"],
            "path": "app/tasks/a_tasks.py",
            "line": def_line(root / "app/tasks/a_tasks.py", "job_task"),
            "column": 1,
            "fixable": False,
        }
    ]
    assert "`app.jobs.job`" in items[0]["message"]
    assert "gone" in items[0]["message"]


def test_ccm003_implementation_module_deleted(tmp_path: Path) -> None:
    root = migrated(tmp_path)
    (root / "app/jobs.py").unlink()
    codes = [(i["code"], i["path"]) for i in found(root)]
    assert ("CCM003", "app/tasks/a_tasks.py") in codes
    assert check(root).exit_code == 1


def test_ccm003_hand_written_task_is_not_a_wrapper(tmp_path: Path) -> None:
    """Only generated wrappers are compared; a task someone wrote by hand is theirs."""
    hand_written = """\
from app.celery_app import celery_app


@celery_app.task(bind=True, max_retries=1)
def nightly(self, job_id: str) -> None:
    from app.jobs import job

    print(job)
"""
    root = project(tmp_path, {"app/api/a.py": "", "app/tasks/nightly_tasks.py": hand_written})
    result = check(root)
    assert (result.exit_code, result.stdout) == (0, "All checks passed.\n")


def test_ccm003_in_a_tasks_package_that_migrate_created(tmp_path: Path) -> None:
    project(tmp_path)
    (tmp_path / "app/tasks/__init__.py").unlink()
    (tmp_path / "app/tasks").rmdir()
    root = tmp_path
    assert run_cli(root, "migrate").exit_code == 0
    assert (root / "app/tasks/a_tasks.py").is_file()
    assert (root / "app/tasks/__init__.py").is_file()  # a package setuptools installs
    (root / "app/tasks/__init__.py").unlink()  # a namespace package, as earlier versions left it
    (root / "app/jobs.py").write_text(JOBS.replace("count: int = 1", "count: int = 2"))
    assert [i["code"] for i in found(root)] == ["CCM003"]


# --- CCM004 ------------------------------------------------------------------------------------


def test_ccm004_unregistered_tasks_module(tmp_path: Path) -> None:
    root = migrated(tmp_path)
    assert '"app.tasks.a_tasks"' in (root / "app/celery_app.py").read_text()
    (root / "app/celery_app.py").write_text(APP)  # the registration is lost
    [item] = found(root)
    assert item == {
        "code": "CCM004",
        "message": item["message"],
        "path": "app/tasks/a_tasks.py",
        "line": 1,
        "column": 1,
        "fixable": True,
    }
    assert "app.tasks.a_tasks" in item["message"]
    assert "app.celery_app:celery_app" in item["message"]
    assert "'celery-codemod migrate'" in item["message"]

    assert run_cli(root, "migrate").exit_code == 0
    assert '"app.tasks.a_tasks"' in (root / "app/celery_app.py").read_text()
    assert check(root).exit_code == 0


def test_ccm004_registered_through_the_tasks_package_init(tmp_path: Path) -> None:
    root = migrated(tmp_path)
    (root / "app/celery_app.py").write_text(APP)
    (root / "app/tasks/__init__.py").write_text("from app.tasks import a_tasks  # noqa: F401\n")
    assert check(root).exit_code == 0


# --- CCM900 ------------------------------------------------------------------------------------


def test_ccm900_unparsable_file_is_exit_123_and_the_rest_is_still_checked(
    tmp_path: Path,
) -> None:
    root = project(tmp_path, {"app/api/broken.py": BROKEN})
    result = check(root)
    assert result.exit_code == 123
    assert result.stdout.splitlines() == [
        CCM001_LINE,
        "app/api/broken.py:2:7: CCM900 cannot parse with Python 3.11 "
        "(line 2, column 7: invalid syntax)",
        "Found 2 problems (1 fixable with 'celery-codemod migrate').",
    ]
    assert result.stderr.splitlines() == [
        "error: app/api/broken.py: cannot parse with Python 3.11 (line 2, column 7: invalid syntax)"
    ]
    item = next(i for i in found(root) if i["code"] == "CCM900")
    assert (item["line"], item["column"], item["fixable"]) == (2, 7, False)


def test_ccm900_unreadable_file(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "app/api/gone.py").symlink_to("missing.py")  # unreadable, even for root
    result = check(root)
    assert result.exit_code == 123
    [item] = [i for i in found(root) if i["code"] == "CCM900"]
    assert item["message"].startswith("cannot read")
    assert item["fixable"] is False
    assert result.stderr.startswith("error: app/api/")
    assert "cannot read" in result.stderr
    assert result.stdout.splitlines()[0] == CCM001_LINE  # the others are still checked


def test_ccm900_symlink_loop_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "app/api/loop.py").symlink_to("loop.py")
    result = check(root)
    assert result.exit_code == 123
    assert [(i["code"], i["path"]) for i in found(root)] == [
        ("CCM001", "app/api/a.py"),
        ("CCM900", "app/api/loop.py"),
    ]
    assert result.stderr.startswith("error: app/api/loop.py: ")


def test_ccm900_dangling_symlink_names_the_link(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "app/api/gone.py").symlink_to("nowhere/missing.py")
    result = check(root)
    assert result.exit_code == 123
    assert [(i["code"], i["path"]) for i in found(root)][1] == ("CCM900", "app/api/gone.py")
    assert result.stderr.startswith("error: app/api/gone.py: ")


def test_ccm900_symlink_loop_in_migrate(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "app/api/loop.py").symlink_to("loop.py")
    result = run_cli(root, "migrate")
    assert result.exit_code == 123, result.output
    assert "error: app/api/loop.py: " in result.stderr
    assert (root / "app/api/loop.py").is_symlink()


def test_ccm900_undecodable_file(tmp_path: Path) -> None:
    source = "# -*- coding: no-such-codec -*-\nimport asyncio\nasyncio.create_task(x())\n"
    root = project(tmp_path, {"app/api/codec.py": source})
    result = check(root)
    assert result.exit_code == 123
    assert [i["code"] for i in found(root)] == ["CCM001", "CCM900"]


# --- noqa --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "comment",
    [
        "# noqa: CCM001",
        "# noqa",
        "#noqa",
        "# noqa:CCM001",
        "# NOQA: ccm001",
        "# noqa: E501, CCM001",
    ],
)
def test_noqa_silences_the_site(tmp_path: Path, comment: str) -> None:
    source = ENDPOINT.replace("job(job_id))", f"job(job_id))  {comment}")
    root = project(tmp_path, {"app/api/a.py": source})
    result = check(root)
    assert (result.exit_code, result.stdout) == (0, "All checks passed.\n")


@pytest.mark.parametrize("comment", ["# noqa: E501", "# noqa: CCM002", "# noqa: CCM0011"])
def test_noqa_for_another_code_does_not_silence(tmp_path: Path, comment: str) -> None:
    source = ENDPOINT.replace("job(job_id))", f"job(job_id))  {comment}")
    root = project(tmp_path, {"app/api/a.py": source})
    result = check(root)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0].startswith("app/api/a.py:7:5: CCM001 ")


def test_noqa_only_counts_on_the_line_where_the_call_starts(tmp_path: Path) -> None:
    source = ENDPOINT.replace(
        "asyncio.create_task(job(job_id))",
        "asyncio.create_task(\n        job(job_id)  # noqa: CCM001\n    )  # noqa",
    )
    root = project(tmp_path, {"app/api/a.py": source})
    # the noqa on the call's second line silences nothing: it is itself reported (CCM100)
    assert [(i["code"], i["line"]) for i in found(root)] == [("CCM001", 7), ("CCM100", 8)]
    multiline = ENDPOINT.replace(
        "asyncio.create_task(job(job_id))",
        "asyncio.create_task(  # noqa: CCM001\n        job(job_id)\n    )",
    )
    write(root, {"app/api/a.py": multiline})
    assert check(root).exit_code == 0


def test_noqa_inside_a_string_is_not_a_comment(tmp_path: Path) -> None:
    source = ENDPOINT.replace("job(job_id))", 'job(job_id + " # noqa"))')
    root = project(tmp_path, {"app/api/a.py": source})
    assert [i["code"] for i in found(root)] == ["CCM001"]


@pytest.mark.parametrize(
    ("comment", "silenced"),
    [("# noqa: CCM002", True), ("# noqa", True), ("# noqa: CCM001", False)],
)
def test_noqa_on_a_ccm002_site(tmp_path: Path, comment: str, silenced: bool) -> None:
    source = CCM002_SITES["not-a-call"].replace(
        "asyncio.create_task(coro)", f"asyncio.create_task(coro)  {comment}"
    )
    root = project(tmp_path, {"app/api/a.py": source})
    # a CCM001 noqa on a CCM002 site silences nothing: it is reported itself (CCM100)
    assert [i["code"] for i in found(root)] == ([] if silenced else ["CCM002", "CCM100"])
    assert check(root).exit_code == (0 if silenced else 1)


# --- exit codes --------------------------------------------------------------------------------


def test_exit_0_when_there_is_nothing_to_migrate(tmp_path: Path) -> None:
    root = project(tmp_path, {"app/api/a.py": "def f() -> int:\n    return 1\n"})
    result = check(root)
    assert (result.exit_code, result.stdout, result.stderr) == (0, "All checks passed.\n", "")
    assert check(root, "-q").stdout == ""


def test_exit_0_without_a_celery_app_when_nothing_needs_one(tmp_path: Path) -> None:
    root = project(tmp_path, {"app/api/a.py": "", "app/celery_app.py": ""})
    assert check(root).exit_code == 0


@pytest.mark.parametrize("output_format", ["json", "sarif"])
def test_quiet_still_prints_a_document_in_machine_formats(
    tmp_path: Path, output_format: str
) -> None:
    """`check -q --format sarif > out.sarif` must give a valid (empty) log, not an empty file."""
    root = project(tmp_path, {"app/api/a.py": ""})
    result = check(root, "-q", "--format", output_format)
    assert result.exit_code == 0
    if output_format == "json":
        assert json.loads(result.stdout) == []
    else:
        assert validate_sarif(result.stdout)["runs"][0]["results"] == []


def test_exit_1_with_quiet_still_prints_the_problems(tmp_path: Path) -> None:
    result = check(project(tmp_path), "-q")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == CCM001_LINE


@pytest.mark.parametrize(
    ("files", "args", "message"),
    [
        ({}, ["--format", "xml"], "xml"),
        ({}, ["--max-retries", "many"], "many"),
        ({}, ["nowhere"], "nowhere: no such file or directory"),
        ({"pyproject.toml": "[tool.celery-codemod\n"}, [], "not valid TOML"),
        ({"pyproject.toml": "[tool.celery-codemod]\nmax-retry = 3\n"}, [], "max-retry"),
        ({"app/celery_app.py": ""}, [], "--celery-app"),
        ({}, ["--celery-app", "app.nowhere:celery"], "no module app.nowhere"),
    ],
    ids=[
        "bad-format",
        "bad-option-value",
        "missing-path",
        "bad-pyproject",
        "unknown-key",
        "no-celery-app",
        "celery-app-nowhere",
    ],
)
def test_exit_2_on_usage_or_configuration_error(
    tmp_path: Path, files: dict[str, str], args: list[str], message: str
) -> None:
    root = project(tmp_path, files)
    before = tree(root)
    result = check(root, *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert tree(root) == before


def test_exit_123_wins_over_1(tmp_path: Path) -> None:
    root = project(tmp_path, {"app/api/broken.py": BROKEN})
    assert check(root).exit_code == 123
    for output_format in ("json", "github", "sarif"):
        assert check(root, "--format", output_format).exit_code == 123


# --- formats -----------------------------------------------------------------------------------


def test_text_paths_are_relative_to_the_current_directory(tmp_path: Path) -> None:
    root = project(tmp_path / "proj")
    from_parent = check(tmp_path, "proj")
    assert from_parent.stdout.splitlines()[0] == f"proj/{CCM001_LINE}"
    from_inside = check(root / "app", str(root / "app/api"))
    assert from_inside.stdout.splitlines()[0] == CCM001_LINE.removeprefix("app/")


def test_text_summary_counts_problems_and_fixable_ones(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        {"app/api/b.py": CCM002_SITES["not-a-call"], "app/api/c.py": ENDPOINT},
    )
    result = check(root)
    assert result.stdout.splitlines()[-1] == (
        "Found 3 problems (2 fixable with 'celery-codemod migrate')."
    )
    assert [line.split(" ")[1] for line in result.stdout.splitlines()[:-1]] == [
        "CCM001",
        "CCM002",
        "CCM001",
    ]


def test_json_format(tmp_path: Path) -> None:
    root = project(tmp_path / "proj")
    result = check(tmp_path, "--format", "json", "proj")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == [
        {
            "code": "CCM001",
            "message": CCM001_LINE.split(" CCM001 ", 1)[1],
            "path": "proj/app/api/a.py",
            "line": 7,
            "column": 5,
            "fixable": True,
        }
    ]
    assert run_cli(root, "migrate").exit_code == 0
    clean = check(root, "--format", "json")
    assert (clean.exit_code, json.loads(clean.stdout)) == (0, [])


def test_github_format(tmp_path: Path) -> None:
    root = project(tmp_path)
    result = check(root, "--format", "github")
    assert result.exit_code == 1
    message = CCM001_LINE.split(" CCM001 ", 1)[1]
    assert result.stdout == f"::error file=app/api/a.py,line=7,col=5,title=CCM001::{message}\n"
    assert run_cli(root, "migrate").exit_code == 0
    clean = check(root, "--format", "github")
    assert (clean.exit_code, clean.stdout) == (0, "")


def test_github_format_escapes_properties(tmp_path: Path) -> None:
    """`%`, CR and LF everywhere, and also `:` and `,` in property values (the file path)."""
    project(tmp_path / "we,ird:100%")
    result = check(tmp_path, "--format", "github", "we,ird:100%")
    assert result.exit_code == 1
    assert result.stdout.startswith(
        "::error file=we%2Cird%3A100%25/app/api/a.py,line=7,col=5,title=CCM001::"
        "asyncio.create_task(job(...)) runs in the web process; run "
    )


def test_github_format_escapes_messages() -> None:
    diagnostic = Diagnostic("CCM900", "50% done\r\nnext: a, b", "a,b:c%\n.py", 3, 4, False)
    assert as_github([diagnostic], lambda path: path) == (
        "::error file=a%2Cb%3Ac%25%0A.py,line=3,col=4,title=CCM900::50%25 done%0D%0Anext: a, b\n"
    )


def every_code(root: Path) -> Path:
    """A repository with one problem of each code."""
    stale_wrapper = """\
from app.celery_app import celery_app
from app.tasks.async_runner import run_coroutine


@celery_app.task(
    bind=True,
    name="app.tasks.old_tasks.gone_task",
    autoretry_for=(Exception,),
    max_retries=3,
    retry_backoff=60,
    retry_backoff_max=240,
    retry_jitter=False,
    ignore_result=True,
)
def gone_task(self, job_id: str) -> None:
    from app.jobs import gone

    run_coroutine(gone, job_id)
"""
    return project(
        root,
        {
            "app/api/b.py": CCM002_SITES["not-a-call"],
            "app/api/broken.py": BROKEN,
            "app/api/c.py": "LIMIT = 3  # noqa: CCM001\n",
            "app/tasks/old_tasks.py": stale_wrapper,
        },
    )


def test_every_code_at_once(tmp_path: Path) -> None:
    root = every_code(tmp_path)
    items = found(root)
    assert [(i["code"], i["path"]) for i in items] == [
        ("CCM001", "app/api/a.py"),
        ("CCM002", "app/api/b.py"),
        ("CCM900", "app/api/broken.py"),
        ("CCM100", "app/api/c.py"),
        ("CCM004", "app/tasks/old_tasks.py"),
        ("CCM003", "app/tasks/old_tasks.py"),
    ]
    assert check(root).exit_code == 123


def sarif_schema() -> dict[str, Any]:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert isinstance(schema, dict)
    return schema


def validate_sarif(text: str) -> dict[str, Any]:
    log = json.loads(text)
    schema = sarif_schema()
    validator = jsonschema.validators.validator_for(schema)
    validator.check_schema(schema)
    validator(schema, format_checker=validator.FORMAT_CHECKER).validate(log)
    assert isinstance(log, dict)
    return log


def test_sarif_validates_against_the_schema_with_one_rule_per_code(tmp_path: Path) -> None:
    root = every_code(tmp_path / "proj")
    result = check(tmp_path, "--format", "sarif", "proj")  # from outside the root
    assert result.exit_code == 123
    log = validate_sarif(result.stdout)
    assert log["version"] == "2.1.0"
    [run] = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert [rule["id"] for rule in rules] == CODES
    assert all(rule["shortDescription"]["text"] for rule in rules)
    for rule in rules:  # the same text as `celery-codemod rule CODE`
        page = run_cli(tmp_path, "rule", rule["id"]).stdout
        assert rule["help"]["markdown"] == page
        assert rule["help"]["text"].endswith(f"More: celery-codemod rule {rule['id']}")
        assert rule["fullDescription"]["text"] in page
    ccm002 = rules[CODES.index("CCM002")]["help"]["markdown"]
    assert "- `needs-startup`: the job needs the web app's start-up or memory" in ccm002
    results = run["results"]
    assert sorted(r["ruleId"] for r in results) == sorted(CODES)
    for item in results:
        assert rules[item["ruleIndex"]]["id"] == item["ruleId"]
        assert item["message"]["text"]
        [location] = item["locations"]
        physical = location["physicalLocation"]
        artifact = physical["artifactLocation"]
        # relative to the project root, whatever the current directory
        assert artifact["uriBaseId"] == "%SRCROOT%"
        assert artifact["uri"].startswith("app/")
        assert not re.match(r"^[a-z][a-z0-9+.-]*:|/", artifact["uri"])
        assert (root / artifact["uri"]).exists() or artifact["uri"] == "app/api/broken.py"
        assert physical["region"]["startLine"] >= 1
        assert physical["region"]["startColumn"] >= 1
    by_rule = {r["ruleId"]: r for r in results}
    region = by_rule["CCM001"]["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (7, 5)
    assert by_rule["CCM900"]["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 2,
        "startColumn": 7,
    }


def test_sarif_uri_base_id_is_defined_as_sarif_requires(tmp_path: Path) -> None:
    """SARIF §3.14.14: an originalUriBaseIds entry without a uriBaseId has no uri, or an
    absolute one ending in `/`; every uriBaseId used by a result is declared there."""
    log = validate_sarif(check(project(tmp_path), "--format", "sarif").stdout)
    [run] = log["runs"]
    bases = run.get("originalUriBaseIds", {})
    for entry in bases.values():
        if "uri" in entry and "uriBaseId" not in entry:
            assert re.match(r"^[a-z][a-z0-9+.-]*:", entry["uri"]), entry
            assert entry["uri"].endswith("/")
    used = {
        loc["physicalLocation"]["artifactLocation"]["uriBaseId"]
        for result in run["results"]
        for loc in result["locations"]
    }
    assert used <= set(bases)


def test_sarif_uris_are_percent_encoded(tmp_path: Path) -> None:
    """A URI reference, not a file path: spaces, `%` and `:` are escaped."""
    root = project(tmp_path, {"app/api/a.py": "", "app/api/my job:100%.py": ENDPOINT})
    log = validate_sarif(check(root, "--format", "sarif").stdout)
    [result] = log["runs"][0]["results"]
    artifact = result["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact == {"uri": "app/api/my%20job%3A100%25.py", "uriBaseId": "%SRCROOT%"}


def test_sarif_without_problems_is_valid_and_empty(tmp_path: Path) -> None:
    root = migrated(tmp_path)
    result = check(root, "--format", "sarif")
    assert result.exit_code == 0
    log = validate_sarif(result.stdout)
    assert log["runs"][0]["results"] == []
    assert [rule["id"] for rule in log["runs"][0]["tool"]["driver"]["rules"]] == CODES


# --- partial file lists, as pre-commit passes them ---------------------------------------------


def test_only_the_implementation_file_still_reports_its_wrappers_drift(tmp_path: Path) -> None:
    """pre-commit passes just the changed file; the wrapper lives in a file it did not pass."""
    root = migrated(tmp_path)
    (root / "app/jobs.py").write_text(JOBS.replace("count: int = 1", "count: int = 2"))
    line = def_line(root / "app/tasks/a_tasks.py", "job_task")
    result = check(root, "app/jobs.py")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0].startswith(f"app/tasks/a_tasks.py:{line}:1: CCM003 ")
    # from elsewhere too: the root is found from the file, the path shown from the cwd
    elsewhere = check(tmp_path.parent, f"{tmp_path.name}/app/jobs.py")
    assert elsewhere.stdout.splitlines()[0].startswith(
        f"{tmp_path.name}/app/tasks/a_tasks.py:{line}:1: CCM003 "
    )
    # and migrate, given the same file, regenerates the wrapper
    assert run_cli(root, "migrate", "app/jobs.py").exit_code == 0
    assert check(root).exit_code == 0


def test_only_an_unrelated_file_still_reports_repository_problems(tmp_path: Path) -> None:
    root = migrated(tmp_path)
    (root / "app/celery_app.py").write_text(APP)
    (root / "app/jobs.py").write_text(JOBS.replace("count: int = 1", "count: int = 2"))
    items = found(root, "app/__init__.py")
    assert sorted(i["code"] for i in items) == ["CCM003", "CCM004"]


def test_only_the_endpoint_resolves_its_implementation_and_app_elsewhere(tmp_path: Path) -> None:
    """The implementation (for its annotations) and the Celery app are not among the files."""
    root = project(tmp_path, {"app/api/b.py": ENDPOINT.replace("start(", "start_b(")})
    items = found(root, "app/api/b.py")
    assert [(i["code"], i["path"]) for i in items] == [("CCM001", "app/api/b.py")]
    assert check(root, "app/api/a.py", "app/api/b.py").exit_code == 1
    assert len(found(root, "app/api/a.py", "app/api/b.py")) == 2


def test_only_files_outside_the_endpoint_globs_find_no_sites(tmp_path: Path) -> None:
    root = project(tmp_path)
    result = check(root, "app/jobs.py", "app/celery_app.py")
    assert (result.exit_code, result.stdout) == (0, "All checks passed.\n")


# --- check agrees with migrate, on every fixture case -------------------------------------------


def _report_sites(case: Case) -> tuple[list[dict[str, Any]], int]:
    report = json.loads((case.after / "report.json").read_text(encoding="utf-8"))
    return report["sites"], len(report["errors"])


@pytest.mark.parametrize(
    "case",
    [c for c in all_cases() if (c.after / "report.json").is_file() or c.exit_code == 2],
    ids=lambda c: c.name,
)
def test_check_reports_what_migrate_reports(tmp_path: Path, case: Case) -> None:
    """The same plan: every site migrate migrates is a CCM001, every site it skips (but for
    `# noqa`) a CCM002, every file it cannot parse a CCM900; after it, only CCM002 remain."""
    options = [a for a in case.args if a != "--report"]
    work = copy_before(case, tmp_path)
    result = check(work, *options, "--format", "json")
    if case.exit_code == 2:
        assert result.exit_code == 2
        return
    sites, errors = _report_sites(case)
    expected = sorted(
        [("CCM001", s["path"], s["line"], s["column"]) for s in sites if s["status"] == "migrated"]
        + [
            ("CCM002", s["path"], s["line"], s["column"])
            for s in sites
            if s["status"] == "skipped" and s["reason"] != "suppressed"
        ]
    )
    items = json.loads(result.stdout)
    actual = sorted((i["code"], i["path"], i["line"], i["column"]) for i in items)
    # CCM100: a fixture's misplaced noqa comment (reason_suppressed) silences nothing
    assert [a for a in actual if a[0] not in ("CCM900", "CCM100")] == expected
    assert sum(a[0] == "CCM900" for a in actual) == errors
    assert result.exit_code == (123 if errors else 1 if expected else 0)

    after = tmp_path / "after"
    shutil.copytree(case.after, after)
    left = json.loads(check(after, *options, "--format", "json").stdout)
    assert sorted(i["code"] for i in left if i["code"] not in ("CCM900", "CCM100")) == sorted(
        e[0] for e in expected if e[0] == "CCM002"
    )


# --- drift on the seed app ---------------------------------------------------------------------

SEED_DRIFTS = {
    # a services module's implementation gains a parameter: the last wrapper of its module
    "services": (
        "app/services/scoping_llm_service.py",
        "report_id: int, include_rationale: bool = True\n",
        "report_id: int, include_rationale: bool = True, top_n: int = 5\n",
        "app/tasks/scoping_tasks.py",
        "generate_scoping_recommendations_task",
    ),
    # an endpoint's implementation changes a default: a wrapper between two others
    "endpoint": (
        "app/api/v1/endpoints/planning.py",
        "job_id: str, cycle_id: int, report_id: int, overwrite_existing: bool = False\n",
        "job_id: str, cycle_id: int, report_id: int, overwrite_existing: bool = True\n",
        "app/tasks/planning_tasks.py",
        "auto_map_pdes_task",
    ),
}


def _span(path: Path, name: str) -> tuple[int, int]:
    """First (decorator) and last line of a top-level function, 1-based."""
    node = _function(path, name)
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    assert node.end_lineno is not None
    return first, node.end_lineno


@pytest.mark.parametrize("where", list(SEED_DRIFTS))
def test_seed_app_drift_is_reported_then_fixed_in_place(tmp_path: Path, where: str) -> None:
    implementation, old, new, tasks_module, wrapper = SEED_DRIFTS[where]
    root = tmp_path / "seed"
    shutil.copytree(FIXTURES / "seed_app" / "after", root)
    assert check(root).exit_code == 0
    source = (root / implementation).read_text(encoding="utf-8")
    assert source.count(old) == 1
    (root / implementation).write_text(source.replace(old, new), encoding="utf-8")

    tasks = root / tasks_module
    line = def_line(tasks, wrapper)
    for paths in ([], [implementation]):  # the whole repository, or just the changed file
        result = check(root, *paths)
        assert result.exit_code == 1
        lines = result.stdout.splitlines()
        assert len(lines) == 2, result.stdout
        assert lines[0].startswith(f"{tasks_module}:{line}:1: CCM003 wrapper `{wrapper}` ")
        assert lines[1] == "Found 1 problem (1 fixable with 'celery-codemod migrate')."

    before = tree(root)
    old_lines = tasks.read_text(encoding="utf-8").splitlines(keepends=True)
    first, last = _span(tasks, wrapper)
    assert run_cli(root, "migrate", implementation).exit_code == 0
    after = tree(root)
    assert {name for name in before if before[name] != after[name]} == {tasks_module}
    assert set(before) == set(after)
    new_lines = tasks.read_text(encoding="utf-8").splitlines(keepends=True)
    new_first, new_last = _span(tasks, wrapper)
    assert new_first == first
    assert new_lines[: first - 1] == old_lines[: first - 1]  # byte for byte before it
    assert new_lines[new_last:] == old_lines[last:]  # and after it
    assert new_lines[first - 1 : new_last] != old_lines[first - 1 : last]
    impl_name = _wrapped(tasks, wrapper)
    assert _params(_function(tasks, wrapper))[1:] == _params(
        _function(root / implementation, impl_name)
    )

    result = check(root)
    assert (result.exit_code, result.stdout) == (0, "All checks passed.\n")
    assert run_cli(root, "migrate", "--check").exit_code == 0


def _wrapped(path: Path, wrapper: str) -> str:
    for node in ast.walk(_function(path, wrapper)):
        if isinstance(node, ast.ImportFrom):
            return node.names[0].name
    raise AssertionError(f"{wrapper} imports no implementation")


# --- git ---------------------------------------------------------------------------------------


def _git_init(folder: Path) -> None:
    subprocess.run(["git", "init", "-q", str(folder)], check=True, capture_output=True)


@pytest.mark.parametrize("depth", [0, 2], ids=["repo-root", "below-repo-root"])
def test_files_git_ignores_are_not_endpoint_modules(tmp_path: Path, depth: int) -> None:
    root = project(tmp_path.joinpath(*["sub"] * depth), {"app/api/generated.py": ENDPOINT})
    _git_init(tmp_path)
    (tmp_path / ".gitignore").write_text("generated.py\n", encoding="utf-8")
    assert [(i["code"], i["path"]) for i in found(root)] == [("CCM001", "app/api/a.py")]


def test_without_git_nothing_is_ignored(tmp_path: Path) -> None:
    root = project(tmp_path, {"app/api/generated.py": ENDPOINT, ".gitignore": "generated.py\n"})
    paths = [i["path"] for i in found(root)]
    assert paths == ["app/api/a.py", "app/api/generated.py"]


def test_one_file_named_twice_is_checked_once(tmp_path: Path) -> None:
    root = project(tmp_path)
    items = found(root, "app/api/a.py", "./app/api/a.py", str(root / "app/api/a.py"))
    assert [(i["code"], i["path"]) for i in items] == [("CCM001", "app/api/a.py")]
