"""Where black would change nothing, the rewrite skips it: byte for byte the same result.

Each variant is migrated (`--diff`) twice, once as the tool runs and once with every black fast
path turned off, and the two diffs must be identical: argument styles black rewrites, lines at
and around the width limit, nesting, sync and async handlers, `--no-fallback`, long imports.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from codemod.config import Config
from codemod.emit import call_sites, imports
from codemod.emit.generate import format_code, wrapper_code
from codemod.models import Param, Signature, Wrapper
from tests.golden import run_cli
from tests.test_check import project

ARGS = [
    "job_id",
    "job_id, 2",
    "job_id,count",
    "job_id, count = 2",
    "job_id, count=n",
    "job_id=job_id, count=n",
    "obj.attr, count=other.value",
    "'x', count=2",
    "job_id,",
    "job_id, count=n  # why\n",
    "str(job_id)",
]


def endpoint(args: str, depth: int, name: str, is_async: bool, job: str = "job") -> str:
    params = "job_id: str, n: int, count: int, obj: object, other: object"
    lines = ["import asyncio", "", f"from app.jobs import {job}", ""]
    lines += ["", f"{'async ' if is_async else ''}def {name}({params}) -> None:"]
    indent = "    "
    for level in range(depth):
        lines.append(f"{indent}if job_id != '{level}':")
        indent += "    "
    lines.append(f"{indent}asyncio.create_task({job}({args}))")
    return "\n".join(lines) + "\n"


def diff(tmp: Path, source: str, *options: str) -> str:
    root = project(tmp, {"app/api/a.py": source})
    result = run_cli(root, "migrate", "--diff", *options)
    assert result.exit_code in (0, 1), result.output
    return result.stdout


def both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, *options: str) -> str:
    fast = diff(tmp_path / "fast", source, *options)
    with monkeypatch.context() as patched:
        patched.setattr(call_sites, "_black_already", lambda *args: False)
        patched.setattr(imports, "_import_fits", lambda *args: False)
        slow = diff(tmp_path / "slow", source, *options)
    assert fast == slow
    return fast


@pytest.mark.parametrize("args", ARGS)
@pytest.mark.parametrize("is_async", [True, False], ids=["async", "sync"])
def test_argument_styles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: str, is_async: bool
) -> None:
    assert "job_task" in both(tmp_path, monkeypatch, endpoint(args, 1, "start", is_async))


@pytest.mark.parametrize("depth", range(0, 12, 1))
def test_widths_around_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, depth: int
) -> None:
    # deeper and deeper, the publishing line and the warning line cross the 88 columns
    both(tmp_path, monkeypatch, endpoint("job_id=job_id, count=n", depth, "start", True))


@pytest.mark.parametrize("length", range(20, 62, 3))
def test_job_name_lengths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, length: int) -> None:
    # the wrapper's name grows with the job's: the import and the publishing line grow too
    job = "job" + "x" * length
    jobs = f"async def {job}(job_id: str, count: int = 1) -> None:\n    pass\n"
    source = endpoint("job_id", 2, "start", True, job)
    results = []
    for fast in (True, False):
        root = project(tmp_path / str(fast), {"app/api/a.py": source, "app/jobs.py": jobs})
        with monkeypatch.context() as patched:
            if not fast:
                patched.setattr(call_sites, "_black_already", lambda *args: False)
                patched.setattr(imports, "_import_fits", lambda *args: False)
            results.append(run_cli(root, "migrate", "--diff").stdout)
    assert results[0] == results[1]
    assert f"{job}_task" in results[0]


def test_no_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    both(tmp_path, monkeypatch, endpoint("job_id, count=n", 3, "start", True), "--no-fallback")


# Wrappers: the copied annotations and defaults skip black only where black would keep them.

ANNOTATIONS = [
    None,
    "int",
    "str | None",
    "str|None",
    "Optional[int]",
    "dict[str,int]",
    "dict[str, list[int]]",
    "list[ int ]",
    "'Forward'",
    "tuple[int, ...]",
    "Literal['a', 'b']",
    "app.models.Kind",
    "list[int,]",
]
DEFAULTS = [None, "None", "1", "-1", "0", "1e5", "0XFF", "'x'", '"x"', "True", "(1, 2)", "[]"]


@pytest.mark.parametrize("annotation", ANNOTATIONS)
@pytest.mark.parametrize("default", DEFAULTS)
def test_wrapper_annotations_and_defaults(annotation: str | None, default: str | None) -> None:
    params = (
        Param("job_id", "normal", "str", None),
        Param("value", "normal", annotation, default),
    )
    for name in ("job", "job_with_a_much_longer_name_that_pushes_the_line"):
        wrapper = Wrapper(
            f"{name}_task", "app.tasks.a_tasks", Signature("app.jobs", name, True, params)
        )
        code = wrapper_code(wrapper, Config(Path("."), ()), "celery_app")
        assert format_code(code, 88) == code
