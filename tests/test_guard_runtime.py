"""`unverified-args`: the modes, and the runner's run-time check (`guarded_delay`) against kombu's
real serializer: what comes back with the same types and values is queued, anything else runs in
the web process."""

from __future__ import annotations

import datetime
import decimal
import enum
import logging
import shutil
import uuid
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from codemod.config import ConfigError, load_config
from codemod.emit.runner import RUNNER_SOURCE
from tests.golden import FIXTURES, run_cli


@pytest.fixture(scope="module")
def runner() -> ModuleType:
    module = ModuleType("generated_runner")
    exec(compile(RUNNER_SOURCE, "async_runner.py", "exec"), module.__dict__)
    return module


class Color(enum.StrEnum):
    RED = "red"


class Row:
    """An ORM-like object: no serializer knows it."""


def task(queued: list[tuple[Any, ...]]) -> Any:
    def delay(*args: Any, **kwargs: Any) -> str:
        queued.append((args, kwargs))
        return "queued"

    conf = SimpleNamespace(task_serializer="json")
    return SimpleNamespace(
        name="app.tasks.x.job_task", serializer=None, app=SimpleNamespace(conf=conf), delay=delay
    )


@pytest.mark.parametrize(
    "value",
    [
        "text",
        7,
        1.5,
        None,
        True,
        [1, "a", None],
        {"a": [1, {"b": 2}]},
        datetime.datetime(2026, 12, 1, 23, 0, 5),
        datetime.date(2026, 12, 1),
        uuid.UUID("12345678-1234-5678-1234-567812345678"),
        decimal.Decimal("1.25"),
    ],
)
def test_values_that_come_back_the_same_are_queued(runner: ModuleType, value: Any) -> None:
    queued: list[tuple[Any, ...]] = []
    assert runner.guarded_delay(task(queued), value, key=value) == "queued"
    assert queued == [((value,), {"key": value})]


@pytest.mark.parametrize(
    "value",
    [Color.RED, (1, 2), {1: "a"}, Row(), [("nested", "tuple")], {"a": Color.RED}],
    ids=["str-enum", "tuple", "int-keys", "object", "nested-tuple", "nested-enum"],
)
def test_values_that_would_change_raise_a_broker_error_and_warn(
    runner: ModuleType, value: Any, caplog: pytest.LogCaptureFixture
) -> None:
    queued: list[tuple[Any, ...]] = []
    with caplog.at_level(logging.WARNING), pytest.raises(runner.OperationalError):
        runner.guarded_delay(task(queued), value)
    assert queued == []
    assert "The arguments of app.tasks.x.job_task would not survive the json serializer" in (
        caplog.text
    )


# --- modes --------------------------------------------------------------------------------------

CASE = FIXTURES / "cases" / "reason_unverified_args_guarded" / "before"


@pytest.mark.parametrize(
    ("args", "table", "status", "guarded"),
    [
        ([], "", "migrated", True),  # the default
        (["--unverified-args", "skip"], "", "skipped", False),
        (["--unverified-args", "allow"], "", "migrated", False),
        (["--allow-unverified-args"], "", "migrated", False),  # the alias
        ([], 'unverified-args = "skip"', "skipped", False),
        ([], "allow-unverified-args = true", "migrated", False),
        (["--unverified-args", "guard"], 'unverified-args = "skip"', "migrated", True),
    ],
)
def test_modes(tmp_path: Path, args: list[str], table: str, status: str, guarded: bool) -> None:
    work = tmp_path / "app"
    shutil.copytree(CASE, work)
    if table:
        with (work / "pyproject.toml").open("a", encoding="utf-8") as out:
            out.write(f"\n[tool.celery-codemod]\n{table}\n")
    result = run_cli(work, "migrate", *args, "--report", "report.json", ".")
    assert result.exit_code == 0, result.output
    report = (work / "report.json").read_text(encoding="utf-8")
    assert f'"status": "{status}"' in report
    text = (work / "app/api/endpoints/crm.py").read_text(encoding="utf-8")
    assert ("guarded_delay" in text) == guarded
    # a second run recognises what the first wrote
    again = run_cli(work, "check", *args, ".")
    assert ("CCM001" in again.output) is False


def test_an_unknown_mode_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.celery-codemod]\nunverified-args = "maybe"\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="unverified-args must be one of"):
        load_config((tmp_path,), tmp_path, {})


def test_the_command_line_mode_wins_over_the_alias_in_the_config(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.celery-codemod]\nallow-unverified-args = true\n", encoding="utf-8"
    )
    assert load_config((tmp_path,), tmp_path, {}).unverified_mode == "allow"
    chosen = load_config((tmp_path,), tmp_path, {"unverified_args": "guard"})
    assert chosen.unverified_mode == "guard"
