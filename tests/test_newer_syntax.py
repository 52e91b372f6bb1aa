"""Modules written for a newer Python than the one the tool runs on (PEP 695's type parameters):
the program model still reads them, line for line, so that other modules' sites are judged by
what they say; a site in one of them is still an error (CCM900), as its rewrite cannot be
checked by this Python."""

from __future__ import annotations

import ast
import json
import sys
import textwrap
from pathlib import Path

import pytest

from codemod.model.syntax import without_type_parameters
from tests.golden import run_cli

NEWER = pytest.mark.skipif(sys.version_info >= (3, 12), reason="parses as it is on 3.12+")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("class Page[T](Base):\n    x: T\n", "class Page(Base):\n    x: T\n"),
        (
            "def first[T](items: list[T]) -> T:\n    pass\n",
            "def first(items: list[T]) -> T:\n    pass\n",
        ),
        ("type Alias = int\n", "Alias = int\n"),
        ("type Map[K] = dict[K, int]\n", "Map = dict[K, int]\n"),
        ("def f[\n    T: (int, str)\n](x: T) -> T: ...\n", "def f(x: T) -> T: ...\n\n\n"),
    ],
)
def test_type_parameters_are_blanked_line_for_line(source: str, expected: str) -> None:
    older = without_type_parameters(source)
    assert older == expected
    assert len(older.splitlines()) == len(source.splitlines())
    ast.parse(older, feature_version=(3, 11))


@pytest.mark.parametrize("source", ["x = 1\n", "def type(): pass\n", "items[0]\n", "type(x)\n"])
def test_nothing_to_blank(source: str) -> None:
    assert without_type_parameters(source) is None


def _project(root: Path, files: dict[str, str]) -> Path:
    files = {
        "app/__init__.py": "",
        "app/core/__init__.py": "",
        "app/core/celery_app.py": 'from celery import Celery\n\ncelery_app = Celery("app")\n',
        "app/api/__init__.py": "",
        **files,
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


SCHEMAS = """
    from pydantic import BaseModel


    class Page[T](BaseModel):
        items: list[T]


    class Content(BaseModel):
        text: str


    class Documents(BaseModel):
        content: list[Content] | list[str] | str
"""


@NEWER
def test_a_model_module_of_a_newer_python_still_tells_a_field_s_type(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {
            "app/schemas.py": SCHEMAS,
            "app/api/docs.py": """
                from fastapi import APIRouter, BackgroundTasks

                from app.schemas import Documents

                router = APIRouter()


                async def index(document, user_id: int) -> None:
                    print(document, user_id)


                @router.post("/docs/{user_id}")
                async def add(user_id: int, request: Documents, tasks: BackgroundTasks) -> dict:
                    for document in request.content:
                        tasks.add_task(index, document, user_id)
                    return {}
            """,
        },
    )
    result = run_cli(root, "check", "--format", "json", ".")
    found = json.loads(result.stdout)
    [site] = [d for d in found if d["code"] in ("CCM001", "CCM002")]
    assert site["code"] == "CCM002"
    assert (
        "unserializable-args: argument `document` is an element of `request.content`"
        in (site["message"])
    )


@NEWER
def test_a_site_in_a_module_of_a_newer_python_is_an_error(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {
            "app/api/jobs.py": """
                import asyncio


                async def job(n: int) -> None:
                    pass


                class Box[T]:
                    pass


                async def start(n: int) -> None:
                    asyncio.create_task(job(n))
            """,
        },
    )
    result = run_cli(root, "check", "--format", "json", ".")
    assert result.exit_code == 123
    [error] = json.loads(result.stdout)
    assert error["code"] == "CCM900"
    assert "run celery-codemod with that Python" in error["message"]
