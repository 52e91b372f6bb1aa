"""The runner's variant for a Flask project: `FlaskTask`, the task base under which every job runs
inside the Flask app's context, as Flask's own Celery guide does, with the app made once in every
worker process (`flask-app`, or the app the project creates)."""

from __future__ import annotations

import json

from codemod.models import FLASK_TASK

FLASK_SECTION = '''

# The Flask app the jobs run in (`flask-app` in [tool.celery-codemod], or the one the project
# creates): imported, or made by its factory, once in every worker process, as the web process
# makes it when it starts; every generated task runs inside its app context (Flask's own Celery
# guide's `FlaskTask`), so that `current_app` and extensions such as Flask-SQLAlchemy's
# `db.session` work in the job.
FLASK_APP = {flask_app}
_flask_app: tuple[int, Any] | None = None
_flask_lock = threading.Lock()


def flask_app() -> Any:
    """The Flask app of this process: the attribute `FLASK_APP` names, or what the factory it
    names returns when called with no argument."""
    global _flask_app
    made = _flask_app
    if made is not None and made[0] == os.getpid():
        return made[1]
    with _flask_lock:
        if _flask_app is None or _flask_app[0] != os.getpid():
            from flask import Flask

            module, _, name = FLASK_APP.partition(":")
            found = getattr(importlib.import_module(module), name)
            _flask_app = (os.getpid(), found if isinstance(found, Flask) else found())
        return _flask_app[1]


class {flask_task}(Task):
    """A task that runs inside the Flask app's context (the one already there when it is called
    in one: an eager call in a request)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from flask import has_app_context

        if has_app_context():
            return self.run(*args, **kwargs)
        with flask_app().app_context():
            return self.run(*args, **kwargs)
'''


def with_flask(source: str, flask_app: str) -> str:
    """The runner's source with the Flask section, for the app `flask_app` ("module:attr" or
    "module:factory")."""
    replacements = [
        ("from kombu.exceptions import", "from celery import Task\nfrom kombu.exceptions import")
    ]
    if "import importlib\n" not in source:
        replacements.append(("import functools\n", "import functools\nimport importlib\n"))
    for old, new in replacements:
        assert source.count(old) == 1, old
        source = source.replace(old, new)
    section = FLASK_SECTION.replace("{flask_app}", json.dumps(flask_app))
    return source + section.replace("{flask_task}", FLASK_TASK)
