"""The wrapper generator: options that change what Celery does with a failing job."""

from __future__ import annotations

from pathlib import Path

from codemod.config import Config
from codemod.emit.generate import format_code, new_tasks_module, wrapper_code
from codemod.models import CeleryApp, Param, Signature, TasksModulePlan, Wrapper

JOB = Signature("app.jobs", "_sync_job", True, (Param("job_id", "normal", "int", None),))
WRAPPER = Wrapper("sync_task", "app.tasks.jobs_tasks", JOB)


def test_backoff_doubles_up_to_the_last_retry() -> None:
    code = wrapper_code(WRAPPER, Config(Path("."), (), retry_backoff=10, max_retries=4), "app")
    assert "retry_backoff=10," in code and "retry_backoff_max=80," in code
    assert "default_retry_delay" not in code


def test_zero_backoff_retries_at_once() -> None:
    # Celery reads retry_backoff=0 as "no backoff" and would wait its default 180 s instead.
    code = wrapper_code(WRAPPER, Config(Path("."), (), retry_backoff=0), "app")
    assert "default_retry_delay=0," in code


def test_one_exception_is_a_tuple_and_several_have_no_trailing_comma() -> None:
    one = wrapper_code(WRAPPER, Config(Path("."), ()), "app")
    several = wrapper_code(WRAPPER, Config(Path("."), (), retry_on=("OSError", "KeyError")), "app")
    assert "autoretry_for=(Exception,)," in one
    assert "autoretry_for=(OSError, KeyError)," in several


def test_a_pydantic_model_parameter_arrives_as_a_dict_and_is_validated_back() -> None:
    params = (Param("request", "normal", "ReportRequest", None, model="app.schemas.ReportRequest"),)
    wrapper = Wrapper(
        "report_task", "app.tasks.r_tasks", Signature("app.r", "_report", False, params)
    )
    code = wrapper_code(wrapper, Config(Path("."), ()), "app")
    assert "def report_task(self, request: dict) -> None:" in code
    assert "from app.schemas import ReportRequest" in code
    assert "_report(ReportRequest.model_validate(request))" in code


# A new tasks module skips black's second pass when it would change nothing: it must be black's
# fixed point either way, long import lines included.


def _tasks_module(imports: tuple[tuple[str, str | None, str | None], ...]) -> str:
    params = tuple(Param(f"p{i}", "normal", f"Kind{i}", None) for i in range(len(imports)))
    job = Signature("app.jobs", "_job", True, params, imports=imports)
    plan = TasksModulePlan(
        "app.tasks.jobs_tasks",
        "app/tasks/jobs_tasks.py",
        True,
        True,
        True,
        (
            Wrapper("job_task", "app.tasks.jobs_tasks", job),
            Wrapper("b_task", "app.tasks.jobs_tasks", job),
        ),
        ("app.api.jobs",),
    )
    return new_tasks_module(
        plan, CeleryApp("app.core.celery_app", "celery_app", "x"), Config(Path("."), ())
    )


def test_a_new_tasks_module_is_what_black_makes_of_it() -> None:
    short = _tasks_module((("app.kinds", "Kind0", None),))
    assert format_code(short, 88) == short
    names = tuple(("app.very_long_module_name_for_kinds", f"Kind{i}", None) for i in range(8))
    long = _tasks_module(names)
    assert format_code(long, 88) == long
    assert "from app.very_long_module_name_for_kinds import (\n" in long  # black wrapped it
