"""Property tests (issue 5, item 2): generated programs with background call sites injected.

hypothesmith generates arbitrary Python modules from the grammar; the strategy joins one to four
of those that compile, puts between two of them a module-level coroutine `job` and an
`async def endpoint` whose body starts
background work on it in one of several forms (plain, awaited, stored, ensure_future, inside
nested blocks, several at once), and writes the result as the endpoint module of a tiny app.
For each example, `migrate`:

- never raises (exit 0 or 123; an exception would fail the in-process CLI run);
- leaves every .py file compiling, and every file but the endpoint module, the Celery app and the
  tasks package byte-identical;
- keeps the generated part of the module: its top-level statements are, in order, among the new
  module's (the semantic guard's promise, checked from outside);
- is idempotent: a second run changes nothing.

Derandomized, with a modest number of examples, so that CI is stable and quick.
"""

from __future__ import annotations

import ast
import shutil
import tempfile
from pathlib import Path

import hypothesmith
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from codemod.model.syntax import tune_interpreter
from tests.golden import run_cli, tree

tune_interpreter()  # as the CLI does, before hypothesis records the limit

ENDPOINT = "app/api/endpoints/x.py"
CELERY_APP = 'from celery import Celery\n\ncelery_app = Celery("app", include=[])\n'
APP = {
    "pyproject.toml": '[project]\nname = "generated"\n',
    "app/__init__.py": "",
    "app/core/__init__.py": "",
    "app/core/celery_app.py": CELERY_APP,
    "app/tasks/__init__.py": "",
    "app/api/__init__.py": "",
    "app/api/endpoints/__init__.py": "",
}

JOB = """

import asyncio


async def job(n: int, label: str = "x") -> None:
    await asyncio.sleep(0)
"""

STATEMENTS = [
    "asyncio.create_task(job(n))",
    'asyncio.create_task(job(n, label="y"))',
    "asyncio.ensure_future(job(n))",
    "await asyncio.create_task(job(n))",
    "t = asyncio.create_task(job(n))",
    "asyncio.get_running_loop().create_task(job(n))",
    "asyncio.create_task(job(*args))",
    "background = {asyncio.create_task(job(n))}",
]
BLOCKS = [
    "{}",
    "if n > 0:\n        {}",
    "for _ in range(n):\n        {}",
    "try:\n        {}\n    except ValueError:\n        pass",
    "while n:\n        {}\n        break",
    "with open(__file__) as fh:\n        {}",
]


def _compiles(source: str) -> bool:
    try:
        compile(source, "<generated>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


@st.composite
def endpoint_modules(draw: st.DrawFn) -> str:
    chunks = draw(st.lists(hypothesmith.from_grammar().filter(_compiles), min_size=1, max_size=4))
    chunks = [chunk if chunk.endswith("\n") else chunk + "\n" for chunk in chunks]
    body = []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        statement = draw(st.sampled_from(STATEMENTS))
        block = draw(st.sampled_from(BLOCKS))
        body.append("    " + block.format(statement))
    args = "n: int, *args: int" if any("*args" in b for b in body) else "n: int"
    endpoint = f"\n\nasync def endpoint({args}) -> None:\n" + "\n".join(body) + "\n"
    # our code goes between two generated chunks (never first: a `from __future__` must lead)
    at = draw(st.integers(min_value=1, max_value=len(chunks)))
    source = "".join(chunks[:at]) + JOB + endpoint + "\n\n" + "".join(chunks[at:])
    assume(_compiles(source))  # chunks can clash when joined (a second `from __future__`)
    return source


def _top_level(source: str) -> list[str]:
    return [ast.dump(stmt) for stmt in ast.parse(source).body]


def _is_subsequence(needles: list[str], haystack: list[str]) -> bool:
    it = iter(haystack)
    return all(any(needle == item for item in it) for needle in needles)


@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(source=endpoint_modules())
def test_generated_programs(source: str) -> None:
    assert _compiles(source)
    work = Path(tempfile.mkdtemp(prefix="ccm-property-"))
    try:
        for rel, text in APP.items():
            path = work / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        (work / ENDPOINT).write_text(source, encoding="utf-8")
        before = tree(work)

        first = run_cli(work, "migrate", "-j", "1")
        assert first.exit_code in (0, 123), first.output
        assert "Traceback" not in first.output
        after = tree(work)
        changed = {name for name in after if after[name] != before.get(name)}
        allowed = {ENDPOINT, "app/core/celery_app.py"}
        assert {n for n in changed if not n.startswith("app/tasks/")} <= allowed, changed
        assert set(before) <= set(after)
        for name, data in after.items():
            if name.endswith(".py"):
                compile(data, name, "exec", dont_inherit=True)
        new_source = after[ENDPOINT].decode("utf-8")
        if ENDPOINT in changed:
            assert "job_task.delay" in new_source
            # all but `endpoint`, the only function whose body the tool may rewrite
            kept = [
                ast.dump(stmt)
                for stmt in ast.parse(source).body
                if not (isinstance(stmt, ast.AsyncFunctionDef) and stmt.name == "endpoint")
            ]
            assert _is_subsequence(kept, _top_level(new_source)), new_source
        elif first.exit_code == 0:
            assert "app/tasks/x_tasks.py" not in after

        second = run_cli(work, "migrate", "-j", "1")
        assert second.exit_code in (0, 123), second.output
        assert tree(work) == after
    finally:
        shutil.rmtree(work, ignore_errors=True)
