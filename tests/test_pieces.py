"""`migrate` rewrites an endpoint module by pieces (the import block and the module-level
statements that hold a call site, each parsed by LibCST on its own) and keeps the rest as text.
It must write what rewriting the whole module's LibCST tree writes, byte for byte, in every
layout that can tell the two apart: newlines, indentation, where the first indented block is, what
the top of the module holds. `rewrite_whole` is the reference; where LibCST itself does not give
back the text it parsed, the pieces keep the untouched part as it was."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import libcst as cst
import pytest
from hypothesis import HealthCheck, given, settings

import codemod.emit.rewrite as rewrite
from tests.golden import run_cli, tree
from tests.test_property import endpoint_modules

ENDPOINT = "app/api/endpoints/x.py"
APP = {
    "pyproject.toml": '[project]\nname = "pieces"\n',
    "app/__init__.py": "",
    "app/core/__init__.py": "",
    "app/core/celery_app.py": 'from celery import Celery\n\ncelery_app = Celery("app")\n',
    "app/api/__init__.py": "",
    "app/api/endpoints/__init__.py": "",
}
JOB = "async def job(n: int) -> None:\n    await asyncio.sleep(n)\n"
ENDPOINT_FN = "async def endpoint(n: int) -> None:\n    asyncio.create_task(job(n))\n"


def spaced(text: str, width: int) -> str:
    """`text` indented by `width` spaces instead of four."""
    return text.replace("    ", " " * width)


CASES = {
    "plain": f'"""Doc."""\n\nimport asyncio\n\n\n{JOB}\n\n{ENDPOINT_FN}',
    "crlf": f"import asyncio\n\n\n{JOB}\n\n{ENDPOINT_FN}".replace("\n", "\r\n"),
    "tabs": f"import asyncio\n\n\n{JOB}\n\n{ENDPOINT_FN}".replace("    ", "\t"),
    # the first indented block, far from any piece, says two spaces; the endpoint too
    "two spaces": (
        "import asyncio\n\n\nclass A:\n  x = 1\n\n\n"
        "async def job(n: int) -> None:\n  await asyncio.sleep(n)\n\n\n"
        "async def endpoint(n: int) -> None:\n  asyncio.create_task(job(n))\n"
    ),
    # two spaces first, then four in the endpoint: LibCST reads the piece against two
    "mixed indentation": (
        "import asyncio\n\n\nclass A:\n  x = 1\n\n\n" + JOB + "\n\n" + ENDPOINT_FN
    ),
    "first block an elif": (
        "import asyncio\n\nif False: pass\nelif True:\n   y = 1\n\n\n"
        + spaced(JOB + "\n\n" + ENDPOINT_FN, 3)
    ),
    "first block a match": (
        "import asyncio\n\nmatch 1:\n  case 1:\n    pass\n\n\n"
        + spaced(JOB + "\n\n" + ENDPOINT_FN, 2)
    ),
    "first block a one-liner": (
        "import asyncio\n\nif True: x = 1\nelse:\n y = 2\n\n\n"
        + spaced(JOB + "\n\n" + ENDPOINT_FN, 1)
    ),
    # a one-line body continued by a backslash: no indented block, though it looks like one
    "continued one-liner": (
        "import asyncio\n\nif True: \\\n  x = 1\n\n\n" + JOB + "\n\n" + ENDPOINT_FN
    ),
    "decorated first block": (
        "import asyncio\nimport functools\n\n\nclass A:\n\n   @functools.cache\n   def f(self):"
        " pass\n\n\n" + spaced(JOB + "\n\n" + ENDPOINT_FN, 3)
    ),
    "no import block": (
        "# A licence header.\n\n" + ENDPOINT_FN + "\n\n" + JOB + "\n\nimport asyncio\n"
    ),
    "endpoint first, comments above": (
        "#!/usr/bin/env python\n# comment\n\n" + ENDPOINT_FN + "\n\n" + JOB + "\nimport asyncio\n"
    ),
    "docstring only": f'"""Doc."""\n\n{ENDPOINT_FN}\n\n{JOB}\n\nimport asyncio\n',
    "future import": (
        '"""Doc."""\n\nfrom __future__ import annotations\n\nimport asyncio\n\n'
        f"{JOB}\n\n{ENDPOINT_FN}"
    ),
    "semicolons": f"import asyncio; import os\n\n\n{JOB}\n\n{ENDPOINT_FN}",
    "no trailing newline": f"import asyncio\n\n\n{JOB}\n\n{ENDPOINT_FN}".rstrip("\n"),
    "endpoint beside the imports": f"import asyncio\n{ENDPOINT_FN}\n\n{JOB}",
    "decorated endpoint": (
        "import asyncio\n\n\ndef route(f):\n    return f\n\n\n"
        + JOB
        + "\n\n@route\n# why\n"
        + ENDPOINT_FN
    ),
    "two endpoints apart": (
        "import asyncio\n\n\n"
        + JOB
        + "\n\n"
        + ENDPOINT_FN
        + "\n\nX = 1\n\n\n"
        + ENDPOINT_FN.replace("endpoint", "other")
        + "\n\n# the end\n"
    ),
    "endpoint in a module-level if": (
        "import asyncio\n\n\n" + JOB + "\n\nif True:\n\n    " + ENDPOINT_FN.replace("\n", "\n    ")
    ),
    "form feed": f"import asyncio\n\n\n{JOB}\n\x0c\n{ENDPOINT_FN}",
    "imports in try": (
        "try:\n    import asyncio\nexcept ImportError:\n    raise\nimport os\n\n\n"
        + JOB
        + "\n\n"
        + ENDPOINT_FN
    ),
    "logging and logger": (
        "import asyncio\nimport logging\n\nlog = logging.getLogger(__name__)\n\n\n"
        + JOB
        + "\n\n"
        + ENDPOINT_FN
    ),
    "comment after the imports": (
        "import asyncio\n# about the next\n\n\n" + JOB + "\n\n" + ENDPOINT_FN + "    # footer\n"
    ),
    "except with a space": (
        "import asyncio\n\n\ndef f():\n    try:\n        pass\n    except (OSError, ValueError) :"
        "\n        pass\n\n\n" + JOB + "\n\n" + ENDPOINT_FN
    ),
}


@pytest.fixture
def work() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="ccm-pieces-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def migrated(root: Path, source: str, *args: str) -> dict[str, bytes]:
    if root.exists():
        shutil.rmtree(root)
    for rel, text in APP.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    (root / ENDPOINT).write_bytes(source.encode("utf-8"))
    result = run_cli(root, "migrate", "-j", "1", *args)
    assert result.exit_code in (0, 123), result.output
    return {**tree(root), "exit code": bytes([result.exit_code])}


def both_ways(
    root: Path, source: str, monkeypatch: pytest.MonkeyPatch, *args: str
) -> tuple[dict[str, bytes], dict[str, bytes], list[bool]]:
    """(by pieces, whole, whether each rewrite_pieces call gave a result)."""
    taken: list[bool] = []
    real = rewrite.rewrite_pieces

    def pieces(*a: object) -> tuple[str, set[int]] | None:
        result = real(*a)  # type: ignore[arg-type]
        taken.append(result is not None)
        return result

    with monkeypatch.context() as patch:
        patch.setattr(rewrite, "rewrite_pieces", pieces)
        by_pieces = migrated(root / "pieces", source, *args)
    with monkeypatch.context() as patch:
        patch.setattr(rewrite, "rewrite_pieces", lambda *a: None)
        whole = migrated(root / "whole", source, *args)
    return by_pieces, whole, taken


# Read more carefully than needed: whole-module results, by a slower road.
FALLS_BACK = {"mixed indentation", "form feed", "continued one-liner"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_pieces_write_what_the_whole_module_writes(
    name: str, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = CASES[name]
    compile(source, name, "exec", dont_inherit=True)
    by_pieces, whole, taken = both_ways(work, source, monkeypatch)
    assert by_pieces[ENDPOINT] != source.encode(), "nothing was migrated"
    if cst.parse_module(source).code == source:
        assert by_pieces == whole
    else:  # LibCST loses a space it parsed: only the pieces keep it
        assert b"except (OSError, ValueError) :" in by_pieces[ENDPOINT]
        assert b"except (OSError, ValueError) :" not in whole[ENDPOINT]
        assert by_pieces[ENDPOINT].replace(b") :", b"):") == whole[ENDPOINT]
    assert taken == [name not in FALLS_BACK]


def test_pieces_without_fallback(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    by_pieces, whole, taken = both_ways(work, CASES["two spaces"], monkeypatch, "--no-fallback")
    assert by_pieces == whole
    assert taken == [True]


@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(source=endpoint_modules())
def test_generated_programs_by_pieces(source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Modules from the grammar (hypothesmith), with call sites between two of their chunks."""
    work = Path(tempfile.mkdtemp(prefix="ccm-pieces-"))
    try:
        by_pieces, whole, _ = both_ways(work, source, monkeypatch)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if cst.parse_module(source).code == source:
        assert by_pieces == whole
    else:
        assert by_pieces.keys() == whole.keys()
