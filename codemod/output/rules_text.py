"""What each diagnostic code means, why it matters, an example and the fix: the code entries."""

from __future__ import annotations

import inspect
import textwrap
from dataclasses import dataclass

from codemod.models import RULES


@dataclass(frozen=True)
class Example:
    """A tiny project that triggers a rule: its files, the `[tool.celery-codemod]` lines of its
    `pyproject.toml`, and where `check` reports it (`path:line`)."""

    files: tuple[tuple[str, str], ...]
    reported: str
    config: str = ""
    # The configuration that lets the site migrate, where the fix is a configuration line:
    # with it, the same project reports CCM001 at the same place instead.
    fixed_config: str | None = None

    def __post_init__(self) -> None:
        files = tuple((path, textwrap.dedent(text).lstrip("\n")) for path, text in self.files)
        object.__setattr__(self, "files", files)
        object.__setattr__(self, "config", textwrap.dedent(self.config).strip())
        if self.fixed_config is not None:
            object.__setattr__(self, "fixed_config", textwrap.dedent(self.fixed_config).strip())

    @property
    def path(self) -> str:
        return self.reported.rpartition(":")[0]

    @property
    def line(self) -> int:
        return int(self.reported.rpartition(":")[2])


@dataclass(frozen=True)
class Rule:
    """The documentation of one diagnostic code or skip reason; the Markdown texts are
    dedented, so that entries can be written indented."""

    name: str  # CCM001 or needs-startup
    # The code it is reported as: itself, CCM002 for a reason, None for `suppressed` (not reported)
    code: str | None
    summary: str  # one line
    what: str
    why: str
    example: Example
    fix: str

    def __post_init__(self) -> None:
        for field in ("what", "why", "fix"):
            object.__setattr__(self, field, inspect.cleandoc(getattr(self, field)))

    @property
    def kind(self) -> str:
        return "code" if self.name == self.code else "reason"


ENDPOINT = "app/api/items.py"  # where the examples' request handlers live
CCM002 = "CCM002"  # the code every skip reason is reported as

CODES = (
    Rule(
        name="CCM001",
        code="CCM001",
        summary=RULES["CCM001"],
        what="""
            A request handler (or a function it calls) starts a job with `asyncio.create_task`,
            `asyncio.ensure_future`, `loop.create_task` or FastAPI's `BackgroundTasks.add_task`,
            and `celery-codemod migrate` can move that job to a Celery worker safely: the job is
            a module-level function, its arguments travel as JSON, and it needs nothing that only
            the web process has.
            """,
        why="""
            A job started this way runs inside the web process. It competes with the requests for
            the same event loop and CPU (the app hangs while it runs), it is lost on every restart,
            deploy or crash of the web process, it cannot be scaled apart from the web tier, and
            it is never retried when it fails.
            """,
        example=Example(
            files=(
                (
                    ENDPOINT,
                    """
                    import asyncio


                    async def refresh(item_id: int) -> None: ...


                    async def update_item(item_id: int) -> None:
                        asyncio.create_task(refresh(item_id))
                    """,
                ),
                (
                    "app/celery_app.py",
                    """
                    from celery import Celery

                    celery_app = Celery("app", include=[])
                    """,
                ),
            ),
            reported=f"{ENDPOINT}:8",
        ),
        fix="""
            Run `celery-codemod migrate --diff` to see the change, then `celery-codemod migrate`.
            It writes a Celery task that runs the job (`app/tasks/items_tasks.py`), registers it
            with the Celery app, and rewrites the call site to queue the task, keeping the old
            call as the fallback when the broker is unreachable:

            ```python
            try:
                task = await asyncio.to_thread(refresh_task.delay, item_id)
                logger.info("Queued Celery task %s", task.id)
            except refresh_task.OperationalError as exc:
                logger.warning("Celery broker unavailable (%s); falling back to asyncio", exc)
                asyncio.create_task(refresh(item_id))
            ```

            To keep this one job in the web process, add `# noqa: CCM001` on the line where the
            call starts.
            """,
    ),
    Rule(
        name="CCM002",
        code="CCM002",
        summary=RULES["CCM002"],
        what="""
            A job started from a request handler runs in the web process, and moving it to a
            worker would change what it does, so `migrate` leaves it as it is. The message names
            the reason and ends with `(celery-codemod rule REASON)`, which explains that reason:
            `not-a-call`, `not-importable`, `handle-stored`, `unserializable-args`,
            `unverified-args`, `star-args`, `startup`, `never-ends`, `needs-startup`,
            `needs-request`, `host-admin`, `host-path`, `shared-helper` or `spawns-processes`.
            """,
        why="""
            The job still has every problem of CCM001 (it competes with requests, is lost on a
            deploy, is never retried), and a mechanical move would add worse ones: a worker
            that cannot import the job, arguments that do not survive JSON, state or files that
            only the web process has. A person has to decide.
            """,
        example=Example(
            files=(
                (
                    ENDPOINT,
                    """
                    import asyncio

                    RUNNING: dict[int, asyncio.Task[None]] = {}


                    async def refresh(item_id: int) -> None: ...


                    async def update_item(item_id: int) -> None:
                        RUNNING[item_id] = asyncio.create_task(refresh(item_id))
                    """,
                ),
            ),
            reported=f"{ENDPOINT}:10",
        ),
        fix="""
            Read the reason's page (`celery-codemod rule handle-stored` here) and change the code
            or the configuration as it says; the next `migrate` then moves the job. To keep the
            job in the web process, add `# noqa: CCM002` on the line where the call starts. To
            adopt the tool on a codebase with many such sites, write a baseline once with
            `celery-codemod check --add-noqa`, or leave CCM002 out of the hook with
            `--ignore CCM002` (or `per-file-ignores`).
            """,
    ),
    Rule(
        name="CCM003",
        code="CCM003",
        summary=RULES["CCM003"],
        what="""
            A Celery task that `migrate` generated no longer matches what it wraps or what the
            configuration asks for: the implementation's parameters changed (added, removed,
            renamed, retyped, a new default), the implementation is gone, or the wrapper's
            delivery mode (`delivery`), queue (`queues`), time limits (`time-limits`) or worker
            start-up (`worker-startup`) differ from the configuration. The runner module
            (`app/tasks/async_runner.py`) is reported too when its `WORKER_STARTUP` differs from
            `worker-startup`.
            """,
        why="""
            Call sites publish the implementation's arguments. A wrapper that declares other
            parameters fails every message with a `TypeError` in the worker (retried, then lost),
            or silently drops a new argument's value for its default. A stale queue or delivery
            mode sends the job where no worker, or the wrong guarantee, waits for it.
            """,
        example=Example(
            files=(
                (
                    "app/jobs.py",
                    "async def refresh(item_id: int, force: bool = False) -> None: ...\n",
                ),
                (
                    "app/tasks/items_tasks.py",
                    """
                    from app.celery_app import celery_app
                    from app.tasks.async_runner import run_coroutine


                    @celery_app.task(
                        bind=True,
                        name="app.tasks.items_tasks.refresh_task",
                        autoretry_for=(Exception,),
                        acks_late=True,
                        reject_on_worker_lost=True,
                        ignore_result=True,
                    )
                    def refresh_task(self, item_id: int) -> None:
                        from app.jobs import refresh

                        run_coroutine(refresh, item_id)
                    """,
                ),
                (
                    "app/celery_app.py",
                    """
                    from celery import Celery

                    celery_app = Celery("app", include=["app.tasks.items_tasks"])
                    """,
                ),
            ),
            reported="app/tasks/items_tasks.py:13",
        ),
        fix="""
            Run `celery-codemod migrate`: it regenerates the wrapper from the implementation and
            the configuration (the rest of the tasks module stays as it is). When the
            implementation is gone (renamed, moved, deleted), `migrate` cannot: restore it, or
            remove the wrapper and the call sites that queue it.
            """,
    ),
    Rule(
        name="CCM004",
        code="CCM004",
        summary=RULES["CCM004"],
        what="""
            A tasks module holds generated wrappers, but the Celery app does not import it: it is
            in neither the app's `include=[...]` nor its `imports`, nor imported by the tasks
            package's `__init__.py`.
            """,
        why="""
            A worker imports only the modules its app registers. The web process publishes the
            task, and the worker rejects every message with "Received unregistered task of type
            ..." and discards it: the job never runs, and nothing in the web process notices.
            """,
        example=Example(
            files=(
                (
                    "app/jobs.py",
                    "async def refresh(item_id: int) -> None: ...\n",
                ),
                (
                    "app/tasks/items_tasks.py",
                    """
                    from app.celery_app import celery_app
                    from app.tasks.async_runner import run_coroutine


                    @celery_app.task(
                        bind=True,
                        name="app.tasks.items_tasks.refresh_task",
                        autoretry_for=(Exception,),
                        acks_late=True,
                        reject_on_worker_lost=True,
                        ignore_result=True,
                    )
                    def refresh_task(self, item_id: int) -> None:
                        from app.jobs import refresh

                        run_coroutine(refresh, item_id)
                    """,
                ),
                (
                    "app/celery_app.py",
                    """
                    from celery import Celery

                    celery_app = Celery("app", include=[])
                    """,
                ),
            ),
            reported="app/tasks/items_tasks.py:1",
        ),
        fix="""
            Run `celery-codemod migrate`: it adds the module the way the app already registers
            its tasks (`include=["app.tasks.items_tasks"]` here, or `imports`, or an import in
            the tasks package's `__init__.py`).
            """,
    ),
    Rule(
        name="CCM100",
        code="CCM100",
        summary=RULES["CCM100"],
        what="""
            A `# noqa: CCM00x` comment names a code that its line would not report: the site moved,
            the comment is on a call's second line, the call is not background work (awaited,
            gathered, returned), or a `# noqa: CCM001` sits on a site that cannot be migrated
            (whose code is CCM002).
            """,
        why="""
            A stale `noqa` silences nothing today and hides a real problem tomorrow: the next job
            someone starts on that line is never reported.
            """,
        example=Example(
            files=(
                (
                    ENDPOINT,
                    """
                    import asyncio


                    async def refresh(item_id: int) -> None: ...


                    async def update_item(item_id: int) -> None:
                        task = asyncio.create_task(refresh(item_id))  # noqa: CCM001
                        await task
                    """,
                ),
            ),
            reported=f"{ENDPOINT}:8",
        ),
        fix="""
            Remove the comment, or the code it names (the line and column point at the `#`).
            `migrate` leaves these comments alone; list them with
            `celery-codemod check --select CCM100 --format json`. To keep one on purpose, add
            `CCM100` to the same comment: `# noqa: CCM001, CCM100`.
            """,
    ),
    Rule(
        name="CCM900",
        code="CCM900",
        summary=RULES["CCM900"],
        what="""
            A file the tool had to analyse could not be read (a dangling symlink, no permission,
            an unknown encoding) or does not parse with the Python that runs the tool; the message
            has the parser's line, column and reason. Every other file is still checked, and the
            command exits 123.
            """,
        why="""
            The tool cannot see the call sites of a file it cannot parse: they stay unreported
            and unmigrated. Syntax of a newer Python (3.12's `type` statements and f-strings, 3.14's
            template strings) reads as an error to an older one.
            """,
        example=Example(
            files=(
                (
                    ENDPOINT,
                    """
                    import asyncio


                    async def update_item(item_id: int) -> None
                        asyncio.create_task(refresh(item_id))
                    """,
                ),
            ),
            reported=f"{ENDPOINT}:4",
        ),
        fix="""
            Fix the syntax error, or run celery-codemod with the project's own Python (the message
            says so where the error reads as newer syntax). A file that is not the app's code can
            be left out with `exclude = ["scripts/**"]`. A `# noqa` cannot silence CCM900: the tool
            could not read the comment.
            """,
    ),
)
