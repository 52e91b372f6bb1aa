"""The routes module (SPEC §3 Queues), in-process with a real Celery app: it merges the generated
tasks' routes into whatever `task_routes` the app sets, without loading the app's configuration
earlier than the app would; and generated wrappers bind without Celery's `queue` deprecation."""

from __future__ import annotations

import importlib.util
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import pytest
from celery import Celery
from celery.exceptions import CDeprecationWarning

from codemod.emit.routes import hook_routes, routes_source
from codemod.models import CeleryApp

# Names no other test registers: an app's finalize binds every shared task that any test imported,
# and a shared task already under OURS would keep this test's own task from being bound at all.
OURS = "routes_test.tasks.jobs_tasks.slow_task"
ROUTES = ((OURS, "long"), ("routes_test.tasks.jobs_tasks.other_task", "long"))


@pytest.fixture
def routing(tmp_path: Path) -> Iterator[ModuleType]:
    """A generated routes module, imported under a name of its own."""
    path = tmp_path / "routing.py"
    path.write_text(routes_source(ROUTES, 88), encoding="utf-8")
    name = f"generated_routing_{id(path)}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    try:
        yield module
    finally:
        del sys.modules[name]


def queue_of(app: Celery, task: str) -> str:
    route: dict[str, Any] = app.amqp.router.route({}, task)
    return str(route["queue"].name)


def own_router(name: str, *args: Any, **kwargs: Any) -> dict[str, str] | None:
    return {"queue": "own"} if name.startswith("own.") else None


@pytest.mark.parametrize(
    "routes",
    [
        None,
        {"own.job": {"queue": "own"}, OURS: {"queue": "elsewhere"}},
        [{"own.job": {"queue": "own"}}],
        own_router,
        f"{__name__}.own_router",
    ],
    ids=["none", "dict", "list", "callable", "dotted"],
)
def test_the_generated_routes_are_merged_before_the_app_s_own(
    routing: ModuleType, routes: Any
) -> None:
    app = Celery("demo", broker="memory://", set_as_current=False)
    if routes is not None:
        app.conf.task_routes = routes
    routing.route_generated_tasks(app)
    assert not app.configured  # the call does not load the configuration
    assert queue_of(app, OURS) == "long"  # the table wins, even over the app's own entry
    assert queue_of(app, "unrouted.job") == "celery"
    if routes is not None:
        assert queue_of(app, "own.job") == "own"
    app.close()


def test_an_app_configured_already_gets_them_at_once(routing: ModuleType) -> None:
    app = Celery("demo", broker="memory://", set_as_current=False)
    app.conf.task_routes = {"own.job": {"queue": "own"}}
    assert app.conf.task_default_queue == "celery"  # reading it loads the configuration
    assert app.configured
    routing.route_generated_tasks(app)
    assert app.conf.task_routes == {"own.job": {"queue": "own"}, **routing.TASK_ROUTES}
    assert queue_of(app, OURS) == "long"
    app.close()


def test_a_configuration_loaded_later_from_an_object_keeps_them(routing: ModuleType) -> None:
    class Settings:
        task_routes: ClassVar[dict[str, dict[str, str]]] = {"own.job": {"queue": "own"}}

    app = Celery("demo", broker="memory://", set_as_current=False)
    routing.route_generated_tasks(app)
    app.config_from_object(Settings)  # after the call, as a module may do
    assert queue_of(app, OURS) == "long"
    assert queue_of(app, "own.job") == "own"
    app.close()


def finalized(routing: ModuleType, **options: Any) -> Celery:
    """An app with one task, finalized (its tasks bound) with CDeprecationWarning an error."""
    app = Celery("demo", broker="memory://", set_as_current=False)
    routing.route_generated_tasks(app)

    def slow_task(self: Any) -> None: ...

    app.task(bind=True, name=OURS, ignore_result=True, shared=False, **options)(slow_task)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CDeprecationWarning)
        app.finalize()
    return app


def test_generated_wrappers_bind_without_the_queue_deprecation(routing: ModuleType) -> None:
    app = finalized(routing)
    assert queue_of(app, OURS) == "long"
    app.close()
    # the control: the task attribute that wrappers of earlier versions set
    with pytest.raises(CDeprecationWarning, match="'queue' task attribute"):
        finalized(routing, queue="long")


def test_the_app_module_applies_them_last() -> None:
    app = CeleryApp("app.core.celery_app", "celery_app", "app/core/celery_app.py")
    source = 'from celery import Celery\r\n\r\ncelery_app = Celery("app")\r\n'
    assert hook_routes(source, app, "app.tasks.routing") == (
        source + "\r\n"
        "# The queues of the tasks that celery-codemod generated (`queues` in\r\n"
        "# [tool.celery-codemod]), imported last: the tasks package may import this module.\r\n"
        "from app.tasks.routing import route_generated_tasks  # noqa: E402\r\n"
        "\r\n"
        "route_generated_tasks(celery_app)\r\n"
    )
    assert hook_routes("x = 1", app, "m.routing").startswith("x = 1\n\n# The queues")
