"""Pydantic arguments arrive as they left: the set fields of a model whose job may read them
travel beside its JSON form (`fields_set_of` / `with_fields_set` in the generated runner), the
values of `default_factory` fields travel with the JSON form; and the drift of the carrier."""

from __future__ import annotations

import re
import shutil
import types
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from kombu.serialization import dumps, loads
from pydantic import BaseModel, Field

from codemod.emit.runner import RUNNER_SOURCE
from tests.golden import FIXTURES, run_cli

CASE = FIXTURES / "cases" / "args_pydantic_fields_set" / "before"
TASKS = "app/tasks/events_tasks.py"
JOBS = "app/api/events.py"


def runner() -> types.ModuleType:
    module = types.ModuleType("async_runner")
    exec(compile(RUNNER_SOURCE, "async_runner.py", "exec"), module.__dict__)
    return module


class Tag(BaseModel):
    name: str
    color: str = "red"


class Event(BaseModel):
    title: str | None = None
    description: str | None = None
    tags: list[Tag] = []
    by_slot: dict[int, Tag] = {}
    main: Tag | None = None
    request_id: UUID = Field(default_factory=uuid4)


def through_the_broker(model: BaseModel, run: types.ModuleType) -> Event:
    """What the wrapper makes of a model the call site sent, through kombu's JSON serializer."""
    sent = [model.model_dump(mode="json"), run.fields_set_of(model)]
    content_type, encoding, body = dumps(sent, serializer="json")
    data, fields_set = loads(body, content_type, encoding)
    back: Event = run.with_fields_set(Event.model_validate(data), fields_set)
    return back


@pytest.mark.parametrize(
    "event",
    [
        Event(),
        Event(title="x"),
        Event(title=None),  # set, to its default: still set
        Event(tags=[Tag(name="a"), Tag(name="b", color="blue")]),
        Event(by_slot={1: Tag(name="a"), 2: Tag(name="b", color="red")}, main=Tag(name="m")),
        Event(request_id=UUID(int=7), description="d"),
    ],
)
def test_a_model_comes_back_with_the_same_set_fields_and_values(event: Event) -> None:
    back = through_the_broker(event, runner())
    assert back == event
    assert back.model_fields_set == event.model_fields_set
    assert back.model_dump(exclude_unset=True) == event.model_dump(exclude_unset=True)
    assert back.request_id == event.request_id  # the request's default_factory value
    for got, sent in zip(back.tags, event.tags, strict=True):
        assert got.model_fields_set == sent.model_fields_set
    for slot, tag in event.by_slot.items():
        assert back.by_slot[slot].model_fields_set == tag.model_fields_set


def test_without_its_set_fields_a_model_counts_every_field_as_set() -> None:
    """The control: what a job reading `exclude_unset` got before the carrier."""
    event = Event(title="x")
    back = Event.model_validate(event.model_dump(mode="json"))
    assert back.model_dump(exclude_unset=True) != event.model_dump(exclude_unset=True)
    assert runner().with_fields_set(back, None) is back  # no carrier sent: left as it is


def test_the_set_fields_of_a_frozen_model_are_restored_too() -> None:
    class Frozen(BaseModel, frozen=True):
        a: int = 1
        b: int = 2

    run = runner()
    back = run.with_fields_set(Frozen.model_validate({"a": 1, "b": 2}), {"set": ["a"]})
    assert back.model_fields_set == {"a"}


@pytest.fixture
def app(tmp_path: Path) -> Path:
    work = tmp_path / "app"
    shutil.copytree(CASE, work)
    return work


def test_a_wrapper_without_the_carrier_its_job_needs_is_drift(app: Path) -> None:
    assert run_cli(app, "migrate", ".").exit_code == 0
    tasks = app / TASKS
    text = tasks.read_text(encoding="utf-8")
    older = re.sub(
        r"def audit_event_task\(\n    self, event_in: dict, \*, "
        r"event_in_fields_set: dict \| None = None\n\)",
        "def audit_event_task(self, event_in: dict)",
        text,
    )
    assert older != text
    tasks.write_text(older, encoding="utf-8")
    result = run_cli(app, "check", ".")
    drift = [line for line in result.stdout.splitlines() if " CCM003 " in line]
    assert len(drift) == 1 and "audit_event_task" in drift[0], result.stdout
    assert run_cli(app, "migrate", ".").exit_code == 0
    assert "def audit_event_task(\n    self, event_in: dict, *, event_in_fields_set" in (
        tasks.read_text(encoding="utf-8")
    )
    assert run_cli(app, "check", ".").stdout == "All checks passed.\n"


def test_a_carrier_stays_when_the_job_stops_reading_set_fields(app: Path) -> None:
    """Call sites migrated earlier send it: dropping it from the wrapper would fail every one
    of their tasks with an unexpected keyword argument."""
    assert run_cli(app, "migrate", ".").exit_code == 0
    jobs = app / JOBS
    text = jobs.read_text(encoding="utf-8")
    jobs.write_text(
        text.replace(
            '    logger.info("changed: %s", sorted(event_in.model_fields_set))',
            '    logger.info("changed: %s", event_in.title)',
        ),
        encoding="utf-8",
    )
    assert run_cli(app, "check", ".").stdout == "All checks passed.\n"
