"""Classification rules, one snippet each: which status (and reason) every background call gets."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from codemod.analysis.analyse import analyse_file
from codemod.config import Config

HEADER = """\
import asyncio
from fastapi import Depends, Request

async def job(job_id: str, count: int = 1) -> None: ...
async def untyped(a, b=None): ...
class Session: ...
async def with_session(job_id: str, db: Session) -> None: ...
"""


def statuses(src: str, tmp_path: Path, **options: object) -> list[str]:
    """`status` or `status/reason` of every site found in HEADER + src, in source order."""
    endpoint = tmp_path / "app" / "api" / "endpoints.py"
    endpoint.parent.mkdir(parents=True)
    endpoint.write_text(HEADER + textwrap.dedent(src), encoding="utf-8")
    config = Config(root=tmp_path, paths=(tmp_path,), **options)  # type: ignore[arg-type]
    analysis = analyse_file(endpoint, config)
    assert analysis.error is None, analysis.error
    return [s.status.value + (f"/{s.reason.value}" if s.reason else "") for s in analysis.sites]


MIGRATED = [
    pytest.param("async def h(job_id: str):\n    asyncio.create_task(job(job_id))\n", id="bare"),
    pytest.param("async def h():\n    asyncio.ensure_future(job('x', 2))\n", id="ensure_future"),
    pytest.param(
        "async def h(i: int):\n    asyncio.get_running_loop().create_task(job('x', count=i))\n",
        id="running-loop-inline",
    ),
    pytest.param(
        "def h():\n    loop = asyncio.get_event_loop()\n    loop.create_task(job('x'))\n",
        id="event-loop-variable",
    ),
    pytest.param(
        "async def h():\n    from asyncio import create_task as spawn\n    spawn(job('x'))\n",
        id="function-level-import-alias",
    ),
    pytest.param(
        "tasks = set()\nasync def h():\n    t = asyncio.create_task(job('x'))\n"
        "    tasks.add(t)\n    t.add_done_callback(tasks.discard)\n",
        id="strong-reference-guard",
    ),
    pytest.param(
        "async def h(job_id):\n    asyncio.create_task(job(job_id))\n",
        id="implementation-annotation-proves-it",
    ),
    pytest.param(
        "async def h(a: int, b: list[str] | None):\n    asyncio.create_task(untyped(a, b=b))\n",
        id="endpoint-annotations-prove-it",
    ),
    pytest.param(
        "async def h():\n    asyncio.create_task(untyped(1, b=[1, 'two', None]))\n",
        id="literals",
    ),
    pytest.param(
        "async def h(request: Request):\n"
        "    asyncio.create_task(untyped(request.client.host, await request.json()))\n",
        id="the-request-s-data",
    ),
    pytest.param(
        "async def h(request: Request):\n    email = request.form['email']\n"
        "    asyncio.create_task(untyped(request.form['name'], email))\n",
        id="items-of-flask-s-request-form",
    ),
    pytest.param(
        "import os, signal, subprocess\ndef transcode(path: str) -> None:\n"
        "    proc = subprocess.Popen(['ffmpeg', path])\n    os.kill(proc.pid, signal.SIGKILL)\n"
        "async def h(path: str):\n    asyncio.create_task(asyncio.to_thread(transcode, path))\n",
        id="a-job-that-kills-its-own-child",
    ),
    pytest.param(
        "async def h(request: dict):\n    asyncio.create_task(untyped(request.url))\n",
        id="a-parameter-called-request-that-is-no-request",
    ),
]


# A nested function's own `task` is another variable (letta's streaming handlers guard a task of
# the same name in their generator); a closure that reads the site's `task` is a use of it.
SAME_NAME_INSIDE = """\
tasks = set()
async def h(stream: bool):
    if stream:
        async def gen():
            task = asyncio.create_task(job('inner'))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            yield b"x"
        return gen()
    task = asyncio.create_task(job('outer'))
    tasks.add(task)
    task.add_done_callback(tasks.discard)
"""


def test_a_nested_function_s_own_task_of_the_same_name_is_another(tmp_path: Path) -> None:
    assert statuses(SAME_NAME_INSIDE, tmp_path) == ["migrated", "migrated"]


def test_the_same_name_bound_in_each_arm_is_two_handles(tmp_path: Path) -> None:
    """devika's and antaeus' shape: each arm binds `thread` and starts it (was handle-stored);
    a use reads the nearest binding before it, and a join after both arms still waits."""
    arms = (
        "import threading\ndef h(urgent: bool):\n    if urgent:\n"
        "        thread = threading.Thread(target=lambda_free, args=('u',))\n"
        "        thread.start()\n    else:\n"
        "        thread = threading.Thread(target=lambda_free, args=('n',))\n"
        "        thread.start()\n"
    )
    job = "def lambda_free(kind: str) -> None: ...\n"
    assert statuses(job + arms, tmp_path / "arms") == ["migrated", "migrated"]
    assert statuses(job + arms + "    thread.join()\n", tmp_path / "joined") == [
        "ignored",
        "ignored",
    ]
    sequence = (
        "import threading\ndef h():\n"
        "    t = threading.Thread(target=lambda_free, args=('a',))\n    t.start()\n"
        "    t = threading.Thread(target=lambda_free, args=('b',))\n    t.start()\n"
        "    t.join()\n"
    )
    assert statuses(job + sequence, tmp_path / "sequence") == ["migrated", "ignored"]


def test_a_closure_that_reads_the_task_uses_it(tmp_path: Path) -> None:
    src = (
        "async def h():\n    task = asyncio.create_task(job('x'))\n"
        "    def status():\n        return task.done()\n    return status\n"
    )
    assert statuses(src, tmp_path / "waits") == ["ignored"]
    src = (
        "async def h():\n    task = asyncio.create_task(job('x'))\n"
        "    def keep():\n        print(task)\n    return keep\n"
    )
    assert statuses(src, tmp_path / "keeps") == ["skipped/handle-stored"]


@pytest.mark.parametrize("src", MIGRATED)
def test_migrated(src: str, tmp_path: Path) -> None:
    assert statuses(src, tmp_path) == ["migrated"]


# The walk enters only the lines that spell a marker word: the ways a site's lines can hide.
FOUND_WHEREVER = [
    pytest.param(
        "from asyncio import (\n    create_task as spawn,\n)\n\n\n\n"
        "async def h():\n    spawn(\n        job('x')\n    )\n",
        id="module-level-alias-far-from-its-call",
    ),
    pytest.param(
        "async def h():\r\n    x = 1\r\n\r\n    asyncio.create_task(job('x'))\r\n",
        id="crlf-lines",
    ),
    pytest.param(
        "async def h():\n    asyncio.\\\n        create_task(job('x'))\n",
        id="backslash-continuation",
    ),
    pytest.param(
        "def deco(x):\n    return lambda f: f\n\n"
        "async def h():\n    @deco(asyncio.create_task(job('x')))\n    def inner():\n"
        "        pass\n",
        id="in-a-decorator-above-the-def-line",
    ),
    pytest.param(
        'async def h():\n    s = """\n    create_task\n    """\n    asyncio.create_task(job(s))\n',
        id="marker-word-in-a-string-first",
    ),
]


@pytest.mark.parametrize("src", FOUND_WHEREVER)
def test_found_wherever_its_lines_are(src: str, tmp_path: Path) -> None:
    assert len(statuses(src, tmp_path)) == 1


def test_lone_carriage_returns_count_as_lines(tmp_path: Path) -> None:
    endpoint = tmp_path / "app" / "api" / "endpoints.py"
    endpoint.parent.mkdir(parents=True)
    src = HEADER + "async def h():\r    x = 1\r\r    asyncio.create_task(job('x'))\r"
    endpoint.write_bytes(src.encode())
    analysis = analyse_file(endpoint, Config(root=tmp_path, paths=(tmp_path,)))
    assert [s.line for s in analysis.sites] == [len(HEADER.splitlines()) + 4]


IGNORED = [
    pytest.param("async def h():\n    await asyncio.create_task(job('x'))\n", id="awaited"),
    pytest.param(
        "async def h():\n    t = asyncio.create_task(job('x'))\n    await t\n", id="awaited-later"
    ),
    pytest.param(
        "async def h():\n    await asyncio.gather(asyncio.create_task(job('x')))\n",
        id="gather-argument",
    ),
    pytest.param(
        "async def h():\n    t = asyncio.create_task(job('x'))\n    await asyncio.wait([t])\n",
        id="waited",
    ),
    pytest.param(
        "async def h(ids):\n    tasks = []\n    for i in ids:\n"
        "        tasks.append(asyncio.ensure_future(job(i)))\n    await asyncio.gather(*tasks)\n",
        id="collected-in-a-list-then-gathered",
    ),
    pytest.param(
        "async def h(ids):\n    tasks = []\n    for i in ids:\n"
        "        tasks.append(asyncio.create_task(job(i)))\n    await asyncio.wait(tasks)\n",
        id="collected-in-a-list-then-waited",
    ),
    pytest.param(
        "async def h():\n    task = asyncio.create_task(job('x'))\n"
        "    running = sum(1 for task in asyncio.all_tasks())\n    for task in []:\n"
        "        pass\n    await task\n",
        id="awaited-after-a-comprehension-and-a-loop-of-the-same-name",
    ),
    pytest.param(
        "async def h():\n    t = asyncio.create_task(job('x'))\n    t.cancel()\n", id="cancelled"
    ),
    pytest.param("def h():\n    return asyncio.create_task(job('x'))\n", id="returned"),
    pytest.param(
        "async def h():\n    ts = [asyncio.create_task(job(str(i))) for i in range(3)]\n",
        id="comprehension",
    ),
    pytest.param(
        "def h(loop):\n    loop.call_soon(lambda: asyncio.create_task(job('x')))\n", id="lambda"
    ),
]


@pytest.mark.parametrize("src", IGNORED)
def test_ignored(src: str, tmp_path: Path) -> None:
    assert statuses(src, tmp_path) == ["ignored"]


SKIPPED = [
    pytest.param(
        "async def h():\n    coro = job('x')\n    asyncio.create_task(coro)\n",
        "not-a-call",
        id="var",
    ),
    pytest.param(
        "class C:\n    async def run(self): ...\n"
        "    async def h(self):\n        asyncio.create_task(self.run())\n",
        "not-importable",
        id="method",
    ),
    pytest.param(
        "async def h():\n    async def inner(): ...\n    asyncio.create_task(inner())\n",
        "not-importable",
        id="nested",
    ),
    pytest.param(
        "async def h():\n    asyncio.create_task(asyncio.sleep(1))\n",
        "not-importable",
        id="asyncio-own-coroutine",
    ),
    pytest.param(
        "class C:\n    async def h(self):\n        self._t = asyncio.create_task(job('x'))\n",
        "handle-stored",
        id="attribute",
    ),
    pytest.param(
        "jobs = {}\nasync def h():\n    jobs['a'] = asyncio.create_task(job('x'))\n",
        "handle-stored",
        id="item",
    ),
    pytest.param(
        "running = []\nasync def h():\n    t = asyncio.create_task(job('x'))\n"
        "    running.append(t)\n",
        "handle-stored",
        id="list",
    ),
    pytest.param(
        "async def h(request: Request):\n    asyncio.create_task(untyped(request))\n",
        "unserializable-args",
        id="request",
    ),
    pytest.param(
        "async def h(request: Request):\n    asyncio.create_task(untyped(request.query_params))\n",
        "unserializable-args",
        id="the-request-s-query-params",
    ),
    pytest.param(
        "async def h(request: Request):\n    form = await request.form()\n"
        "    args = request.headers\n    asyncio.create_task(untyped(form, args))\n",
        "unserializable-args",
        id="the-request-s-form-and-headers-bound-to-names",
    ),
    pytest.param(
        "from aiohttp import web\nasync def h():\n    ws = web.WebSocketResponse()\n"
        "    asyncio.ensure_future(untyped(ws))\n",
        "unserializable-args",
        id="a-connection-the-handler-built",
    ),
    pytest.param(
        "import os, signal\ndef restart():\n    os.kill(os.getpid(), signal.SIGINT)\n"
        "async def h():\n    asyncio.create_task(asyncio.to_thread(restart))\n",
        "host-admin",
        id="the-job-signals-its-own-process-to-restart-it",
    ),
    pytest.param(
        "import os\ndef stop():\n    os._exit(3)\nasync def h():\n"
        "    asyncio.create_task(asyncio.to_thread(stop))\n",
        "host-admin",
        id="the-job-ends-its-own-process",
    ),
    pytest.param(
        "import time\ndef watch(feed):\n    try:\n        while True:\n"
        "            item = next(feed, None)\n            if item is None:\n"
        "                time.sleep(1)\n    except StopIteration:\n        pass\n"
        "async def h(n: int):\n    asyncio.create_task(asyncio.to_thread(watch, n))\n",
        "never-ends",
        id="next-with-a-default-never-ends-the-loop",
    ),
    pytest.param(
        "async def h(db=Depends(object)):\n    asyncio.create_task(untyped(db))\n",
        "unserializable-args",
        id="depends",
    ),
    pytest.param(
        "async def h(s):\n    asyncio.create_task(with_session('x', s))\n",
        "unserializable-args",
        id="non-json-annotation",
    ),
    pytest.param(
        "async def h():\n    asyncio.create_task(untyped(job))\n",
        "unserializable-args",
        id="a-function-as-argument",
    ),
    pytest.param(
        "async def h():\n    asyncio.create_task(untyped(lambda: 1))\n",
        "unserializable-args",
        id="a-lambda-as-argument",
    ),
    pytest.param(
        "async def h(args):\n    asyncio.create_task(job(*args))\n", "star-args", id="star"
    ),
    pytest.param(
        "async def h(kw):\n    asyncio.create_task(job(**kw))\n", "star-args", id="double-star"
    ),
    pytest.param(
        "async def h():\n    asyncio.create_task(job('x'))  # noqa: CCM001\n",
        "suppressed",
        id="noqa-code",
    ),
    pytest.param(
        "async def h():\n    asyncio.create_task(job('x'))  # noqa\n", "suppressed", id="noqa"
    ),
]


@pytest.mark.parametrize(("src", "reason"), SKIPPED)
def test_skipped(src: str, reason: str, tmp_path: Path) -> None:
    assert statuses(src, tmp_path) == [f"skipped/{reason}"]


def test_other_noqa_codes_do_not_suppress(tmp_path: Path) -> None:
    src = "async def h():\n    asyncio.create_task(job('x'))  # noqa: E501\n"
    assert statuses(src, tmp_path) == ["migrated"]


UNVERIFIED = "async def h():\n    x = compute()\n    asyncio.create_task(untyped(x))\n"


def test_allow_unverified_args(tmp_path: Path) -> None:
    assert statuses(UNVERIFIED, tmp_path, allow_unverified_args=True) == ["migrated"]


def test_unverified_args_skipped_when_asked(tmp_path: Path) -> None:
    assert statuses(UNVERIFIED, tmp_path, unverified_args="skip") == ["skipped/unverified-args"]


def test_unverified_args_guarded_by_default(tmp_path: Path) -> None:
    assert statuses(UNVERIFIED, tmp_path) == ["migrated"]


NOT_SITES = [
    pytest.param("def create_task(c): ...\nasync def h():\n    create_task(job('x'))\n", id="own"),
    pytest.param(
        "async def h():\n    async with asyncio.TaskGroup() as tg:\n"
        "        tg.create_task(job('x'))\n",
        id="taskgroup",
    ),
    pytest.param("def h(progress):\n    progress.add_task('x')\n", id="rich-progress"),
    pytest.param(
        "from asyncio import create_task\ncreate_task = print\nasync def h():\n"
        "    create_task(job('x'))\n",
        id="rebound",
    ),
]


@pytest.mark.parametrize("src", NOT_SITES)
def test_not_a_background_call(src: str, tmp_path: Path) -> None:
    assert statuses(src, tmp_path) == []


def test_already_migrated(tmp_path: Path) -> None:
    src = """\
    from app.tasks.x_tasks import job_task
    async def h():
        try:
            task = await asyncio.to_thread(job_task.delay, 'x')
        except job_task.OperationalError:
            asyncio.create_task(job('x'))
    """
    assert statuses(src, tmp_path) == ["already-migrated"]


# --- FastAPI dependencies among the arguments ----------------------------------------------------

DEPENDENCY_HEADER = """\
from typing import Annotated

from fastapi import Security
from pydantic import BaseModel

class Account(BaseModel):
    id: int

def get_db(): ...
def get_request_db(request: Request): ...
def get_account() -> Account: ...
def get_user_id() -> str: ...
DbSession = Annotated[Session, Depends(get_db)]
SessionDep = DbSession  # an alias of the alias
CurrentAccount = Annotated[Account, Depends(get_account)]
async def with_account(account: Account) -> None: ...
"""


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        # re-created in the worker: its provider needs nothing from the request
        ("db: Session = Depends(get_db)", "migrated"),
        ("db: Annotated[Session, Depends(get_db)]", "migrated"),
        ("db: DbSession", "migrated"),
        ("db: SessionDep", "migrated"),
        ("db: Session = Security(get_db)", "migrated"),
        ("db: Session = Depends(get_request_db)", "skipped/unserializable-args"),
        ("db: Session = Depends(object)", "skipped/unserializable-args"),
        # a dependency whose value is data travels as data
        ("db: str = Depends(get_user_id)", "migrated"),
        ("db: Annotated[int, Depends(get_user_id)]", "migrated"),
    ],
)
def test_dependency_arguments(tmp_path: Path, handler: str, expected: str) -> None:
    src = DEPENDENCY_HEADER + f"async def h({handler}):\n    asyncio.create_task(untyped(db))\n"
    assert statuses(src, tmp_path) == [expected]


def test_a_dependency_that_is_a_pydantic_model_travels_as_data(tmp_path: Path) -> None:
    src = DEPENDENCY_HEADER + (
        "async def h(account: CurrentAccount):\n    asyncio.create_task(with_account(account))\n"
    )
    assert statuses(src, tmp_path) == ["migrated"]


def test_the_message_names_the_provider(tmp_path: Path) -> None:
    endpoint = tmp_path / "app" / "api" / "endpoints.py"
    endpoint.parent.mkdir(parents=True)
    src = DEPENDENCY_HEADER + (
        "async def h(db: Session = Depends(get_request_db)):\n"
        "    asyncio.create_task(untyped(db))\n"
    )
    endpoint.write_text(HEADER + src, encoding="utf-8")
    [site] = analyse_file(endpoint, Config(root=tmp_path, paths=(tmp_path,))).sites
    assert site.detail == (
        "argument `db` is the FastAPI dependency `get_request_db`, which a worker cannot "
        "re-create (its parameter `request` is the request); give the worker a provider of its "
        "own in [tool.celery-codemod] dependencies = "
        '{ "app.api.endpoints:get_request_db" = "yourapp.worker:get_request_db" }'
    )


# --- Pydantic models whose set fields the job reads --------------------------------------------

MODEL_HEADER = """\
from pydantic import BaseModel

class EventUpdate(BaseModel):
    title: str | None = None
    description: str | None = None

def update(event_in: EventUpdate) -> dict:
    return event_in.model_dump(exclude_unset=True)

def audit(event_in: EventUpdate) -> list:
    return sorted(event_in.model_fields_set)

async def update_event(event_in: EventUpdate) -> None:
    update(event_in)

async def audit_event(event_in: EventUpdate) -> None:
    audit(event_in)

async def plain_event(event_in: EventUpdate) -> None:
    event_in.model_dump()

async def other_model(event_in: EventUpdate) -> None:
    patch = EventUpdate(title="x")
    patch.model_dump(exclude_unset=True)  # not the argument's set fields
"""


MODEL_JOBS = """\
async def deep(event_in: EventUpdate) -> None:
    await deeper(event_in)

async def deeper(event_in: EventUpdate) -> None:
    await deepest(event_in)

async def deepest(event_in: EventUpdate) -> None:
    await bottom(event_in)

async def bottom(event_in: EventUpdate) -> None:
    event_in.model_dump()

async def escapes(event_in: EventUpdate, client) -> None:
    await client.put(event_in)

async def logged(event_in: EventUpdate) -> None:
    logger.info("got %s", event_in)
    print(event_in, len(str(event_in)))

async def by_keyword(event_in: EventUpdate) -> None:
    update(event_in=event_in)

async def encoded(event_in: EventUpdate) -> None:
    jsonable_encoder(event_in, exclude_unset=True)

async def other_value(event_in: EventUpdate) -> None:
    update(EventUpdate())  # another model, not the argument
"""


@pytest.mark.parametrize(
    ("job", "carried"),
    [
        ("update_event", True),  # exclude_unset=True, one call down
        ("audit_event", True),  # model_fields_set, one call down
        ("by_keyword", True),  # handed on by keyword
        ("encoded", True),  # any call that is handed it with exclude_unset=True
        ("escapes", True),  # handed to code the analysis cannot see into
        ("deep", True),  # handed on deeper than followed
        ("plain_event", False),
        ("other_model", False),
        ("other_value", False),
        ("logged", False),  # logging and builtins cannot tell set fields from defaults
    ],
)
def test_a_model_travels_with_its_set_fields_when_the_job_may_read_them(
    tmp_path: Path, job: str, carried: bool
) -> None:
    """Such a site migrates (it used to be refused): the call site sends the model's set fields
    beside its JSON form, and the wrapper puts them back."""
    src = (
        MODEL_HEADER
        + "import logging\nfrom fastapi.encoders import jsonable_encoder\n"
        + "logger = logging.getLogger(__name__)\n"
        + MODEL_JOBS
        + f"async def h(event_in: EventUpdate):\n    asyncio.create_task({job}(event_in))\n"
    )
    assert statuses(src, tmp_path) == ["migrated"]
    endpoint = tmp_path / "app" / "api" / "endpoints.py"
    [site] = analyse_file(endpoint, Config(root=tmp_path, paths=(tmp_path,))).sites
    assert site.fields_set_args == (((0, "event_in_fields_set"),) if carried else ())
    assert site.signature is not None
    assert [p.fields_set for p in site.signature.params] == [carried] + [False] * (
        len(site.signature.params) - 1
    )


SQLMODEL_HEADER = """\
from typing import Annotated

from sqlmodel import SQLModel

class Context(SQLModel):
    user_id: int

class Row(SQLModel, table=True):
    id: int

def get_context() -> Context: ...
ContextDep = Annotated[Context, Depends(get_context)]

async def with_context(context: ContextDep) -> None: ...
async def with_row(row: Row) -> None: ...
"""


def test_a_sqlmodel_that_is_no_table_travels_as_data(tmp_path: Path) -> None:
    src = SQLMODEL_HEADER + (
        "async def h(context: ContextDep):\n    asyncio.create_task(with_context(context))\n"
    )
    assert statuses(src, tmp_path) == ["migrated"]


def test_a_sqlmodel_table_row_does_not(tmp_path: Path) -> None:
    src = SQLMODEL_HEADER + "async def h(row: Row):\n    asyncio.create_task(with_row(row))\n"
    assert statuses(src, tmp_path) == ["skipped/unserializable-args"]


ROUND_TRIP = [
    pytest.param(
        "class Base(BaseModel):\n    secret: str = Field(default='', exclude=True)\n\n"
        "class Body(Base):\n    email: str\n",
        "whose field `secret` is declared `Field(exclude=True)`",
        id="a field excluded from the dump (in a base)",
    ),
    pytest.param(
        "class Body(BaseModel):\n    model_config = ConfigDict(alias_generator=to_camel)\n"
        "    user_id: int\n",
        "with aliased fields (an `alias_generator`) that it does not populate by name",
        id="an alias generator",
    ),
    pytest.param(
        "class Body(BaseModel):\n    user_id: int = Field(alias='userId')\n",
        "with aliased fields (`user_id`) that it does not populate by name",
        id="a field alias",
    ),
    pytest.param(
        "class Body(BaseModel, extra='forbid'):\n    a: int\n\n    @computed_field\n"
        "    @property\n    def b(self) -> int:\n        return self.a\n",
        "that forbids extra fields and has the computed field `b`",
        id="a computed field on a model that forbids extras",
    ),
    pytest.param(
        "class Tag(BaseModel):\n    tag_name: str = Field(alias='tagName')\n\n"
        "class Body(BaseModel):\n    tags: list[Tag] = []\n",
        "whose field `tags` holds a `Tag`, a model with aliased fields (`tag_name`)",
        id="a nested model with an alias",
    ),
    pytest.param(
        "class Body(BaseModel):\n    model_config = {'alias_generator': to_camel, "
        "'populate_by_name': True}\n    user_id: int\n",
        None,
        id="aliases populated by name: migrates",
    ),
    pytest.param(
        "class Waveform:\n    pass\n\n"
        "class Body(BaseModel):\n    model_config = ConfigDict(arbitrary_types_allowed=True)\n"
        "    audio: Waveform\n    language: str\n",
        "that allows arbitrary types, whose field `audio` holds a `Waveform`",
        id="an arbitrary type in a field (whisperX's np.ndarray)",
    ),
    pytest.param(
        "import datetime\nfrom pydantic import EmailStr\n\n"
        "class Body(BaseModel):\n    model_config = ConfigDict(arbitrary_types_allowed=True)\n"
        "    at: datetime.datetime\n    email: EmailStr\n",
        None,
        id="arbitrary types allowed, data fields only: migrates",
    ),
]


@pytest.mark.parametrize(("model", "detail"), ROUND_TRIP)
def test_a_model_that_would_not_survive_its_own_dump_is_refused(
    tmp_path: Path, model: str, detail: str | None
) -> None:
    """The wrapper validates `model_dump(mode="json")` back into the model: what breaks that
    (verified against Pydantic: a ValidationError, or a field lost) refuses the site."""
    src = (
        "from pydantic import BaseModel, ConfigDict, Field, computed_field\n"
        "from pydantic.alias_generators import to_camel\n\n"
        + model
        + "\nasync def job(body: Body) -> None:\n    print(body)\n\n"
        "async def h(body: Body):\n    asyncio.create_task(job(body))\n"
    )
    endpoint = tmp_path / "app" / "api" / "endpoints.py"
    expected = ["skipped/unserializable-args"] if detail else ["migrated"]
    assert statuses(src, tmp_path) == expected
    if detail:
        [site] = analyse_file(endpoint, Config(root=tmp_path, paths=(tmp_path,))).sites
        assert site.detail.startswith(f"parameter `body` is a Pydantic model {detail}")


def test_a_method_of_a_module_level_instance_is_named_as_such(tmp_path: Path) -> None:
    service = tmp_path / "app" / "log_service.py"
    service.parent.mkdir(parents=True)
    service.write_text(
        "class LogService:\n    async def create(self, entry: str) -> None:\n"
        "        print(entry)\n\nlog_service = LogService()\n",
        encoding="utf-8",
    )
    src = """\
from app.log_service import log_service

async def h(entry: str):
    asyncio.create_task(log_service.create(entry))
"""
    assert statuses(src, tmp_path) == ["skipped/not-importable"]
    endpoint = tmp_path / "app" / "api" / "endpoints.py"
    [site] = analyse_file(endpoint, Config(root=tmp_path, paths=(tmp_path,))).sites
    assert site.detail == (
        "`log_service.create` is the method `LogService.create` (app/log_service.py), not a "
        "module-level function"
    )
