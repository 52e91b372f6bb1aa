"""Where a site starts from (reach), jobs that never end (endless), and parse errors of a newer
Python: the analyses behind the `startup` and `never-ends` reasons and route discovery."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from codemod.analysis.analyse import Project
from codemod.analysis.endless import never_ends
from codemod.analysis.reach import Reach
from codemod.config import load_config
from codemod.model.program import Program
from codemod.model.resolve import Resolver
from codemod.model.syntax import syntax_message


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


def reach_of(root: Path) -> Reach:
    config = load_config((root,), root, {})
    return Project.of(config).reach


def test_a_router_of_a_repository_subclass_declares_routes(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/base.py": """
                from fastapi import APIRouter

                class UserAPIRouter(APIRouter):
                    pass
                """,
            "app/pages.py": """
                from app.base import UserAPIRouter

                router = UserAPIRouter(prefix="/users")

                class Controller:
                    @router.get("/me")
                    def me(self) -> None:
                        pass
                """,
            "app/other.py": """
                class Registry:
                    def get(self, key):
                        return key

                registry = Registry()

                @registry.get("not a route")
                def decorated() -> None:
                    pass
                """,
        },
    )
    reach = reach_of(tmp_path)
    assert reach.route_modules == {"app.pages"}
    assert "app.pages.Controller.me" in reach.handlers


def test_app_router_and_add_route_register_handlers(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/main.py": """
                from starlette.applications import Starlette
                from app import views

                web = Starlette()
                web.add_route("/a", views.page)

                @web.router.route("/b")
                async def b(request) -> None:
                    views.helper()
                """,
            "app/views.py": """
                async def page(request) -> None:
                    pass

                def helper() -> None:
                    pass
                """,
        },
    )
    reach = reach_of(tmp_path)
    assert {"app.views.page", "app.main.b", "app.views.helper"} <= reach.handlers
    assert reach.handler_modules == {"app.main", "app.views"}


def test_route_objects_in_a_routes_list_register_handlers(tmp_path: Path) -> None:
    """Starlette's `routes=[Route(...)]` (youtube-dl-server), FastAPI's APIRoute, a
    WebSocketRoute; a class of the app's own named Route is no route object."""
    write(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/main.py": """
                from fastapi.routing import APIRoute
                from starlette.applications import Starlette
                from starlette.routing import Route, WebSocketRoute
                from app import views

                routes = [
                    Route("/q", endpoint=views.q_put, methods=["POST"]),
                    Route("/list", views.listing),
                    WebSocketRoute("/ws", views.socket),
                    APIRoute("/api", views.api),
                ]
                app = Starlette(routes=routes)
                """,
            "app/views.py": """
                async def q_put(request) -> None: ...
                async def listing(request) -> None: ...
                async def socket(websocket) -> None: ...
                async def api() -> None: ...
                async def not_routed() -> None: ...
                """,
            "app/lookalike.py": """
                from app import views

                class Route:
                    def __init__(self, path, endpoint): ...

                r = Route("/x", views.not_routed)
                """,
        },
    )
    reach = reach_of(tmp_path)
    found = {"app.views.q_put", "app.views.listing", "app.views.socket", "app.views.api"}
    assert found <= reach.handlers
    assert "app.views.not_routed" not in reach.handlers


def test_star_import_cycles_end(tmp_path: Path) -> None:
    """Packages that star-import each other (and `from . import x`) must not loop for ever."""
    write(
        tmp_path,
        {
            "app/__init__.py": "from .a import *\nfrom .b import *\nfrom . import a, b\n",
            "app/a.py": "from app import *\nfrom . import b\n",
            "app/b.py": "from app import *\nfrom . import a\n",
            "app/main.py": """
                from fastapi import FastAPI
                from app import missing, a

                app = FastAPI()

                @app.get("/")
                def index() -> None:
                    missing.go()
                    a.b.a.b.nothing()
                """,
        },
    )
    assert reach_of(tmp_path).route_modules == {"app.main"}


def test_start_up_work_reached_by_a_handler_further_down_is_a_requests_too(
    tmp_path: Path,
) -> None:
    """Backwards from the start-up function: a handler two calls up makes it request work."""
    write(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/main.py": """
                import asyncio
                from fastapi import FastAPI

                app = FastAPI()

                async def _job() -> None:
                    pass

                def refresh() -> None:
                    asyncio.create_task(_job())

                def outer() -> None:
                    refresh()

                def only_at_startup() -> None:
                    asyncio.create_task(_job())

                @app.on_event("startup")
                async def boot() -> None:
                    refresh()
                    only_at_startup()

                @app.post("/refresh")
                async def handler() -> None:
                    middle()

                def middle() -> None:
                    outer()
                """,
        },
    )
    reach = reach_of(tmp_path)
    assert reach.started_at_startup("app.main.refresh") is None
    assert reach.started_at_startup("app.main.only_at_startup") == (
        "startup handler `boot` (app/main.py)"
    )


def test_what_a_fastapi_app_factory_starts_is_start_up_work(tmp_path: Path) -> None:
    """mindsdb's `start()` builds the app and opens the browser in a thread: start-up work, as
    in a Flask factory (was migrated)."""
    write(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/main.py": """
                import threading
                import webbrowser

                from fastapi import APIRouter, FastAPI

                router = APIRouter()

                def _open(url: str) -> None:
                    webbrowser.open(url)

                def open_gui() -> None:
                    threading.Thread(target=_open, args=("http://localhost/",)).start()

                def create_app() -> FastAPI:
                    app = FastAPI()
                    app.include_router(router)
                    open_gui()
                    return app
                """,
        },
    )
    assert reach_of(tmp_path).started_at_startup("app.main.open_gui") == (
        "app factory `create_app` (app/main.py)"
    )


def test_start_up_work_under_an_alias_of_create_task(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/main.py": """
                from asyncio import create_task as spawn
                from fastapi import FastAPI

                async def _job() -> None:
                    pass

                async def boot() -> None:
                    spawn(_job())

                app = FastAPI(on_startup=[boot])
                """,
        },
    )
    assert reach_of(tmp_path).started_at_startup("app.main.boot") == (
        "startup handler `boot` (app/main.py)"
    )


NEVER_ENDS = {
    "mealie-like decorator": (
        """
        import asyncio

        def repeat_every(*, minutes, max_repetitions=None):
            def decorator(func):
                async def wrapped():
                    repetitions = 0
                    async def loop():
                        nonlocal repetitions
                        while max_repetitions is None or repetitions < max_repetitions:
                            await func()
                            repetitions += 1
                            await asyncio.sleep(minutes * 60)
                    asyncio.ensure_future(loop())
                return wrapped
            return decorator

        @repeat_every(minutes=1)
        async def tick():
            pass

        async def job():
            await asyncio.sleep(10)
            await tick()
        """,
        "it calls `tick`, which is decorated by `@repeat_every`",
    ),
    "break in a nested loop only": (
        """
        async def job():
            while True:
                for i in range(3):
                    break
        """,
        "it holds a `while True:` loop",
    ),
    "while True with a break": ("async def job():\n    while True:\n        break\n", None),
    "while True with a return in a try": (
        "async def job():\n    while True:\n        try:\n            return 1\n"
        "        except ValueError:\n            continue\n",
        None,
    ),
    "bounded poll loop": (
        "import asyncio\nasync def job():\n    for _ in range(5):\n"
        "        await asyncio.sleep(1)\n",
        None,
    ),
    "an iterator advanced by hand to its end (OpenHands' _consume_remaining)": (
        "async def job(pages):\n    try:\n        while True:\n            await anext(pages)\n"
        "    except StopAsyncIteration:\n        return\n",
        None,
    ),
    "next() with no handler of the iterator's end: no exit the analysis trusts": (
        "def job(pages):\n    while True:\n        print(next(pages))\n",
        "it holds a `while True:` loop",
    ),
    "a try that catches the end around a loop that never advances": (
        "def job(pages):\n    try:\n        while True:\n            print(pages)\n"
        "    except (StopIteration, KeyError):\n        return\n",
        "it holds a `while True:` loop",
    ),
    "a loop only in a nested function": (
        "async def job():\n    async def inner():\n        while True:\n            pass\n",
        None,
    ),
}


@pytest.mark.parametrize(("source", "expected"), NEVER_ENDS.values(), ids=NEVER_ENDS.keys())
def test_never_ends(tmp_path: Path, source: str, expected: str | None) -> None:
    write(tmp_path, {"jobs.py": source})
    resolver = Resolver(Program(tmp_path))
    summary = resolver.program.module("jobs")
    assert summary is not None
    function = resolver.func(summary, ("job",))
    assert function is not None
    why = never_ends(function, resolver)
    if expected is None:
        assert why is None
    else:
        assert why is not None and why.startswith(expected), why


@pytest.mark.parametrize(
    ("source", "newer"),
    [
        ('x = f"{a["b"]}"\n', True),
        ("type Alias = int\n", True),
        ("def first[T](items: list[T]) -> T: ...\n", True),
        ("class Box[T]:\n    pass\n", True),
        ("try:\n    pass\nexcept ValueError, TypeError:\n    pass\n", True),
        ("def f(:\n    pass\n", False),
        ("x = (\n", False),
    ],
)
def test_syntax_message_names_the_python(source: str, newer: bool) -> None:
    with pytest.raises(SyntaxError) as caught:
        ast.parse(source, feature_version=(3, 11))
    message = syntax_message(caught.value, (3, 11))
    assert message.startswith("cannot parse with Python 3.11 (line ")
    advice = "; if the project runs on a newer Python, run celery-codemod with that Python"
    assert message.endswith(advice) is newer
    assert not syntax_message(caught.value, (3, 14)).endswith(advice)
