"""The routes module of the tasks package (the generated tasks' queues, by `queues`), and the
statement that makes the Celery app apply it to its `task_routes`."""

from __future__ import annotations

import json

from codemod.emit.generate import GENERATED_BY, format_code
from codemod.models import CeleryApp
from codemod.target import ROUTE_GENERATED_TASKS, ROUTES_TABLE

ROUTES_SOURCE = '''\
"""The queues of the generated Celery tasks ({generated}).

`celery-codemod migrate` keeps {table} as `queues` in [tool.celery-codemod] routes
the generated tasks: edit that table, not this module. The Celery app module calls
`{hook}` with the app, which puts these routes before the app's own
`task_routes` once its configuration is loaded: the web process, where a task's queue is
chosen, and the workers route alike. (Celery 5 deprecates the `queue` task attribute.)
"""

from __future__ import annotations

from typing import Any

{table}: dict[str, dict[str, str]] = {{{routes}}}


def {hook}(app: Any) -> None:
    """Merge {table} into the app's `task_routes` when its configuration is
    loaded (at once if it is already), never earlier than the app would load it."""
    if app.configured:
        _merge(app)
    else:
        app.on_after_configure.connect(_merge, sender=app, weak=False, dispatch_uid=__name__)


def _merge(sender: Any, **kwargs: Any) -> None:
    sender.conf.task_routes = with_generated_routes(sender.conf.task_routes)


def with_generated_routes(routes: Any) -> Any:
    """The app's own `task_routes` with {table} first: a mapping stays a mapping,
    whose entries for the generated tasks {table} replaces; a router, or a sequence
    of them, comes after {table}."""
    if routes is None:
        return dict({table})
    if isinstance(routes, dict):
        return {{**routes, **{table}}}
    if isinstance(routes, list | tuple):
        return ({table}, *routes)
    return ({table}, routes)
'''


def routes_source(routes: tuple[tuple[str, str], ...], line_length: int) -> str:
    """The routes module for these (task, queue) pairs, formatted as black formats it."""
    entries = "".join(
        f"\n    {json.dumps(task)}: {{{json.dumps('queue')}: {json.dumps(queue)}}},"
        for task, queue in routes
    )
    text = ROUTES_SOURCE.format(
        generated=GENERATED_BY,
        table=ROUTES_TABLE,
        hook=ROUTE_GENERATED_TASKS,
        routes=entries + ("\n" if entries else ""),
    )
    return format_code(text, line_length)


def hook_routes(source: str, app: CeleryApp, routes_module: str) -> str:
    """The Celery app module with the statement that applies the routes module at its end: last,
    since the tasks package may import this module (its `__init__` may import tasks modules,
    which import the app), and after every setting the module makes."""
    newline = "\r\n" if "\r\n" in source else "\n"
    lines = [
        "",
        "# The queues of the tasks that celery-codemod generated (`queues` in",
        "# [tool.celery-codemod]), imported last: the tasks package may import this module.",
        f"from {routes_module} import {ROUTE_GENERATED_TASKS}  # noqa: E402",
        "",
        f"{ROUTE_GENERATED_TASKS}({app.attr})",
    ]
    text = source if not source or source.endswith(("\n", "\r")) else source + newline
    return text + newline.join(lines) + newline
