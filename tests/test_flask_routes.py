"""Flask apps in route discovery and start-up: routes on Flask and Blueprint objects,
`add_url_rule`, class-based views and Resources, request hooks; app factories and
`before_first_request` hooks; the Flask app a worker creates, and the start-up state it sets."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from codemod.analysis.analyse import Project
from codemod.analysis.reach import Reach
from codemod.config import ConfigError, load_config

CELERY = 'from celery import Celery\n\ncelery_app = Celery("app")\n'


def write(root: Path, files: dict[str, str]) -> Path:
    files = {"app/__init__.py": "", "app/celery_app.py": CELERY, **files}
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def reach_of(root: Path, flask_app: str | None = None) -> Reach:
    config = load_config((root,), root, {"flask_app": flask_app})
    return Project.of(config).reach


# --- route discovery --------------------------------------------------------------------------

ROUTE_FORMS = {
    "app/views/__init__.py": "",
    "app/views/items.py": """
        from flask import Blueprint

        bp = Blueprint("items", __name__)

        @bp.route("/items")
        def list_items():
            return []

        @bp.post("/items")
        def create_item():
            return {}

        @bp.before_request
        def load_user():
            pass
        """,
    "app/views/base.py": """
        import flask.views

        class BaseAPI(flask.views.MethodView):
            def options(self):
                return {}
        """,
    "app/views/api.py": """
        from app.views.base import BaseAPI

        class ItemAPI(BaseAPI):
            def get(self, item_id):
                return {}

            def helper(self):
                pass
        """,
    "app/views/plain.py": """
        from flask.views import View

        class Page(View):
            def dispatch_request(self):
                return ""

        class Registered:
            def get(self):
                return ""

            @classmethod
            def as_view(cls, name):
                return cls().get
        """,
    "app/views/rest.py": """
        from flask_restful import Resource
        from flask_restx import Resource as XResource

        class Todo(Resource):
            def put(self, todo_id):
                return {}

        class Note(XResource):
            def delete(self, note_id):
                return {}
        """,
    "app/views/legacy.py": """
        def legacy():
            return ""

        def other():
            return ""

        def hook(response):
            return response
        """,
    "app/factory.py": """
        from flask import Flask

        from app.views import legacy
        from app.views.items import bp
        from app.views.plain import Page, Registered

        def create_app():
            app = Flask(__name__)
            app.register_blueprint(bp)
            app.add_url_rule("/legacy", "legacy", legacy.legacy)
            app.add_url_rule("/other", view_func=legacy.other)
            app.add_url_rule("/page", view_func=Page.as_view("page"))
            app.add_url_rule("/registered", view_func=Registered.as_view("registered"))
            app.after_request(legacy.hook)

            @app.get("/ping")
            def ping():
                return "pong"

            return app
        """,
    "app/imported.py": """
        from app.views.items import bp as blueprint

        @blueprint.put("/items/<int:item_id>")
        def update_item(item_id):
            return {}
        """,
}

HANDLERS = {
    "app.views.items.list_items",
    "app.views.items.create_item",
    "app.views.items.load_user",  # a per-request hook: request work
    "app.views.base.BaseAPI.options",
    "app.views.api.ItemAPI.get",  # through a base of the repository, found by its name
    "app.views.plain.Page.dispatch_request",
    "app.views.plain.Registered.get",  # registered as a view with as_view
    "app.views.rest.Todo.put",
    "app.views.rest.Note.delete",
    "app.views.legacy.legacy",  # add_url_rule(rule, endpoint, view_func)
    "app.views.legacy.other",  # add_url_rule(rule, view_func=...)
    "app.views.legacy.hook",  # app.after_request(f)
    "app.factory.create_app.ping",  # local in an app factory
    "app.imported.update_item",  # an imported blueprint
}


def test_every_flask_route_form_declares_handlers(tmp_path: Path) -> None:
    reach = reach_of(write(tmp_path, ROUTE_FORMS))
    assert reach.route_handlers == HANDLERS
    assert "app.views.api.ItemAPI.helper" not in reach.handlers  # no HTTP method's name
    assert reach.flask.routes == (
        "app/factory.py",
        "app/imported.py",
        "app/views/api.py",
        "app/views/base.py",
        "app/views/items.py",
        "app/views/plain.py",
        "app/views/rest.py",
    )


def test_look_alikes_declare_nothing(tmp_path: Path) -> None:
    """A `get` method of a class that is no view, a `route` of another object, a Resource of
    another library: no handler, and no Flask project."""
    files = {
        "app/models.py": """
            class Resource:
                def get(self):
                    return 1

            class Cache:
                def get(self, key):
                    return key

                def route(self, path):
                    return lambda f: f

            cache = Cache()
            """,
        "app/things.py": """
            from app.models import Resource, cache

            class Thing(Resource):
                def get(self):
                    return 2

            class View:
                def post(self):
                    return 3

            class Other(View):
                def post(self):
                    return 4

            @cache.route("/not-a-route")
            def decorated():
                pass
            """,
    }
    reach = reach_of(write(tmp_path, files))
    assert reach.route_handlers == frozenset()
    assert not reach.flask.used


# --- start-up ---------------------------------------------------------------------------------

STARTUP = {
    "app/extensions.py": """
        from flask_sqlalchemy import SQLAlchemy

        db = SQLAlchemy()
        cache = {}
        warm = {}
        """,
    "app/boot.py": """
        import asyncio

        from app.extensions import cache, warm

        def fill_cache():
            cache["ready"] = True

        async def poll():
            pass

        def start_poller():
            asyncio.ensure_future(poll())

        def warm_up():
            warm["ready"] = True
        """,
    "app/__init__.py": """
        from flask import Flask

        from app.boot import fill_cache, start_poller, warm_up
        from app.extensions import db

        def create_app():
            app = Flask(__name__)
            db.init_app(app)
            with app.app_context():
                fill_cache()
            start_poller()
            app.before_first_request(warm_up)

            @app.before_first_request
            def decorated_hook():
                pass

            return app
        """,
}


def test_factories_and_first_request_hooks_are_start_up(tmp_path: Path) -> None:
    reach = reach_of(write(tmp_path, STARTUP))
    assert reach.flask.candidates == ("app:create_app",)
    assert reach.flask.chosen == "app:create_app"
    assert reach.started_at_startup("app.boot.start_poller") == (
        "app factory `create_app` (app/__init__.py)"
    )
    assert reach.startup_code == (
        "before_first_request hook `create_app.decorated_hook` (app/__init__.py)",
        "before_first_request hook `warm_up` (app/__init__.py)",
    )
    # the worker creates the app: what the factory sets is set there too (`db.init_app(app)`,
    # the cache filled in its app context); what a before_first_request hook sets is not
    state = {key: setter.what for key, (_, setter) in reach.state.keys.items()}
    assert state == {"app.extensions.warm": "before_first_request hook `warm_up` (app/__init__.py)"}


def test_an_app_the_worker_does_not_create_sets_nothing_there(tmp_path: Path) -> None:
    files = {
        **STARTUP,
        "app/admin.py": """
            from flask import Flask

            admin = Flask("admin")
            """,
    }
    root = write(tmp_path, files)
    reach = reach_of(root)
    assert reach.flask.candidates == ("app:create_app", "app.admin:admin")
    assert reach.flask.chosen is None  # ambiguous: nothing is created in the worker
    assert {"app.extensions.db", "app.extensions.cache"} <= set(reach.state.keys)
    chosen = reach_of(root, "app.admin:admin")
    assert chosen.flask.chosen == "app.admin:admin"
    assert {"app.extensions.db", "app.extensions.cache"} <= set(chosen.state.keys)
    assert "app.extensions.db" not in reach_of(root, "app:create_app").state.keys


def test_what_the_app_module_s_main_block_sets_a_worker_does_not(tmp_path: Path) -> None:
    """antaeus-bot's `main.py`: `app = Flask(__name__)`, then `if __name__ == "__main__":
    auth(); app.run()`. The worker imports `main` to create the app and never runs the block:
    what `auth()` sets is start-up state (its job was migrated)."""
    root = write(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/users.py": """
                CURRENT_USER: dict

                def configure(user: dict) -> None:
                    global CURRENT_USER
                    CURRENT_USER = user
                """,
            "main.py": """
                from flask import Flask

                from app.users import configure

                app = Flask(__name__)
                ROLE = "bot"

                if __name__ == "__main__":
                    configure({"name": "bot"})
                    ROLE = "admin"
                    app.run()
                """,
        },
    )
    reach = reach_of(root)
    assert reach.flask.chosen == "main:app"
    assert {"app.users.CURRENT_USER", "main.ROLE"} <= set(reach.state.keys)


APPS = {
    "module-level app": (
        {"app/main.py": "from flask import Flask\n\napp = Flask(__name__)\n"},
        ("app.main:app",),
    ),
    "a factory that needs arguments, built at a module's top level": (
        {
            "app/factory.py": """
                import flask

                def make(config_name):
                    app = flask.Flask(__name__)
                    app.config["NAME"] = config_name
                    return app
                """,
            "wsgi.py": """
                from app.factory import make

                application = make("production")
                """,
        },
        ("wsgi:application",),
    ),
    "a factory, and the module that calls it": (
        {
            "app/factory.py": """
                from flask import Flask

                def create_app(config=None) -> Flask:
                    app = Flask(__name__)
                    return app
                """,
            "wsgi.py": "from app.factory import create_app\n\napp = create_app()\n",
        },
        ("app.factory:create_app",),
    ),
    "a function that sets up the module's app and returns it": (
        {
            "app/main.py": """
                from flask import Flask

                app = Flask(__name__)

                def configured(config=None):
                    app.config.update(config or {})
                    return app
                """,
        },
        ("app.main:app", "app.main:configured"),
    ),
    "a function that runs an app, returning nothing, and a FastAPI app": (
        {
            "app/run.py": """
                from fastapi import FastAPI
                from flask import Flask

                api = FastAPI()

                def serve():
                    Flask(__name__).run()
                """,
        },
        (),
    ),
}


@pytest.mark.parametrize(("files", "candidates"), APPS.values(), ids=APPS.keys())
def test_the_flask_apps_a_worker_could_create(
    tmp_path: Path, files: dict[str, str], candidates: tuple[str, ...]
) -> None:
    assert reach_of(write(tmp_path, files)).flask.candidates == candidates


def test_flask_app_must_name_a_module_and_an_attribute(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.celery-codemod]\nflask-app = "app.create_app"\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"flask-app: 'app.create_app' must be MODULE:ATTR"):
        load_config((tmp_path,), tmp_path, {})


def test_a_function_that_returns_the_configured_app_is_start_up(tmp_path: Path) -> None:
    """changedetection.io's `changedetection_app()` sets up the module's `app`, starts its
    threads and returns it: start-up, like a factory; a function returning something else that
    starts the same work is not."""
    files = {
        "app/main.py": """
            import asyncio

            from flask import Flask

            app = Flask(__name__)

            async def ticker():
                pass

            def configured():
                asyncio.ensure_future(ticker())
                return app

            def not_the_app():
                asyncio.ensure_future(ticker())
                return 1
            """,
    }
    reach = reach_of(write(tmp_path, files))
    assert (
        reach.started_at_startup("app.main.configured") == "app factory `configured` (app/main.py)"
    )
    assert reach.started_at_startup("app.main.not_the_app") is None
