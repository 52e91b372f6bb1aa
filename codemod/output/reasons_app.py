"""Skip reasons about what a job needs from the web app (CCM002): meaning, why, example, fix."""

from __future__ import annotations

from codemod.output.rules_text import CCM002, ENDPOINT, Example, Rule

APP_REASONS = (
    Rule(
        name="startup",
        code=CCM002,
        summary="the site runs when the app starts, not in a request",
        what="""
            The call is in a lifespan, a start-up or shut-down handler
            (`@app.on_event("startup")`, `on_startup=[...]`, `add_event_handler`), or a function
            that only they reach (up to 8 calls deep), not in a request.
            """,
        why="""
            Work started at start-up belongs to the app's lifetime: a cache warmer, a scheduler, a
            consumer loop. As a Celery task it would run once, on one worker, every time a web
            process starts, and stop being tied to the process it serves.
            """,
        example=Example(
            files=(
                (
                    "app/main.py",
                    """
                    import asyncio
                    from contextlib import asynccontextmanager

                    from fastapi import FastAPI


                    async def warm_cache() -> None: ...


                    @asynccontextmanager
                    async def lifespan(app: FastAPI):
                        asyncio.create_task(warm_cache())
                        yield


                    app = FastAPI(lifespan=lifespan)


                    @app.get("/health")
                    async def health() -> dict:
                        return {}
                    """,
                ),
            ),
            reported="app/main.py:12",
        ),
        fix="""
            Run app-lifetime work in the worker's own start-up (a `worker_process_init` signal
            handler) or schedule it with Celery beat; or keep it in the web process with
            `# noqa: CCM002`.
            """,
    ),
    Rule(
        name="never-ends",
        code=CCM002,
        summary="the job never finishes",
        what="""
            The job, or a function it awaits or calls directly, holds a `while True:` loop that no
            `break` or `return` leaves (nor the end of an iterator it advances by hand, caught by a
            `try` around it), or is decorated by a repeating decorator (`repeat_every`, or one of
            the app whose wrapper loops for ever).
            """,
        why="""
            A task that never ends holds a worker process for ever, is never acknowledged (with
            at-least-once delivery the broker hands it to another worker after the visibility
            timeout, and there are two), and is started again by every request that queues it.
            """,
        example=Example(
            files=(
                (
                    ENDPOINT,
                    """
                    import asyncio


                    async def poll_prices() -> None:
                        while True:
                            await asyncio.sleep(60)


                    async def start_polling() -> None:
                        asyncio.create_task(poll_prices())
                    """,
                ),
            ),
            reported=f"{ENDPOINT}:10",
        ),
        fix="""
            Make the loop's body a job of its own and schedule it with Celery beat
            (`celery_app.conf.beat_schedule = {"poll-prices": {"task": ..., "schedule": 60.0}}`);
            or keep it in the web process with `# noqa: CCM002`.
            """,
    ),
    Rule(
        name="needs-startup",
        code=CCM002,
        summary="the job needs the web app's start-up or memory",
        what="""
            The job, or a function of the repository it calls, reads state that only the web
            app's start-up sets: a module-level name, an attribute of a module-level object, or a
            module-level container set or filled by the lifespan, a start-up handler, an app
            factory or a module-level call of the app's main module. The message names what it
            reads, where, and what sets it. In a Flask project a worker creates the app (the
            `flask-app` setting, or the app found), so what creating it sets (the factory and what
            it calls, extensions' `init_app`) is there; what a `before_first_request` hook sets
            is not.

            The same reason covers a job that shares the web process's memory: it changes a
            module-level object (a status dict, a connection manager, a counter, a class used as
            a holder, a `ContextVar`) that code the web process runs itself reads or changes too.
            """,
        why="""
            A Celery worker imports the tasks module and the job, and nothing else of the app: it
            never runs the web app's start-up, so what the start-up sets is `None` (or empty)
            there. And a worker has a copy of its own of every module-level object: the web
            process never sees what the job writes to it.
            """,
        example=Example(
            files=(
                (
                    "app/state.py",
                    """
                    client = None


                    def connect() -> None:
                        global client
                        client = object()
                    """,
                ),
                (
                    "app/main.py",
                    """
                    from contextlib import asynccontextmanager

                    from fastapi import FastAPI

                    from app.state import connect


                    @asynccontextmanager
                    async def lifespan(app: FastAPI):
                        connect()
                        yield


                    app = FastAPI(lifespan=lifespan)
                    """,
                ),
                (
                    ENDPOINT,
                    """
                    import asyncio

                    from app import state


                    async def refresh(item_id: int) -> None:
                        print(state.client, item_id)


                    async def update_item(item_id: int) -> None:
                        asyncio.create_task(refresh(item_id))
                    """,
                ),
            ),
            fixed_config='worker-startup = ["app.state:connect"]',
            reported=f"{ENDPOINT}:11",
        ),
        fix="""
            List the start-up callable that sets the state in `worker-startup`: the generated
            runner runs it once in every worker process before its first job.

            ```toml
            [tool.celery-codemod]
            worker-startup = ["app.state:connect"]
            ```

            For state shared with the web process, move it where both reach it (Redis, the
            database) first, or keep the job in the web process with `# noqa: CCM002`.
            """,
    ),
    Rule(
        name="needs-request",
        code=CCM002,
        summary="the job reads the request's context",
        what="""
            The job, or a function of the repository it calls, reads what only a request's
            context has: Flask's `request` or `session`, an attribute of `g` that the job does
            not set itself, flask_login's `current_user`, an ASGI app's per-request store
            (starlette_context's `context`, fastapi_globals' `g`); or it is wrapped with (or
            calls) `copy_current_request_context`. The message names what it reads and where.
            """,
        why="""
            A worker runs the job in the Flask app's context (`FlaskTask`), never in a request's:
            `request` and `session` raise `RuntimeError: Working outside of request context`,
            `current_user` is `None`, and `g` is the task's own, empty. Even in the web process
            a thread or a task started by the handler outlives the request it reads from.
            """,
        example=Example(
            files=(
                (
                    ENDPOINT,
                    """
                    import asyncio

                    from flask import Flask, request

                    app = Flask(__name__)


                    async def log_visit(page: str) -> None:
                        print(page, request.remote_addr)


                    @app.get("/items")
                    async def items() -> list:
                        asyncio.create_task(log_visit("items"))
                        return []
                    """,
                ),
            ),
            reported=f"{ENDPOINT}:14",
        ),
        fix="""
            Pass the values the job needs from the request as arguments, read in the handler:

            ```python
            async def log_visit(page: str, address: str | None) -> None:
                print(page, address)


            asyncio.create_task(log_visit("items", request.remote_addr))
            ```

            Or keep the job in the web process with `# noqa: CCM002`.
            """,
    ),
    Rule(
        name="host-path",
        code=CCM002,
        summary="the job needs a file or folder on the web host's disk",
        what="""
            An argument is a path the handler created on the web host (a `tempfile` file or
            folder, a path built on one, a written `UploadFile`), or the job reads or writes a
            folder that code of the web process also uses, one of the two writing (a folder the
            app serves with `StaticFiles`, an upload folder).
            """,
        why="""
            A worker usually runs on another host or container, with a disk of its own: the file
            is not there, or what the job writes never reaches the web process that serves it.
            """,
        example=Example(
            files=(
                (
                    ENDPOINT,
                    """
                    import asyncio
                    import tempfile

                    from fastapi import UploadFile


                    async def transcribe(path: str) -> None: ...


                    async def upload(file: UploadFile) -> None:
                        with tempfile.NamedTemporaryFile(delete=False) as out:
                            out.write(await file.read())
                        asyncio.create_task(transcribe(out.name))
                    """,
                ),
            ),
            fixed_config="shared-filesystem = true",
            reported=f"{ENDPOINT}:13",
        ),
        fix="""
            Pass the contents, or upload the file to storage both sides reach (object storage,
            the database) and pass its key. If web and worker processes do share a disk, say so:

            ```toml
            [tool.celery-codemod]
            shared-filesystem = true
            ```
            """,
    ),
    Rule(
        name="shared-helper",
        code=CCM002,
        summary="the site is in a helper that many code paths call",
        what="""
            The call is inside a helper that many code paths call (a telemetry or notification
            emitter called from dozens of places, most of them not request handlers, or reached
            from handlers only through long call chains), not a request handler's own work. The
            message names how many callers there are and where.
            """,
        why="""
            Migrating the helper turns every one of those calls into a broker message, outside
            requests too (scripts, other jobs, start-up), where a broker may not be configured.
            """,
        example=Example(
            files=(
                (
                    "app/services/telemetry.py",
                    """
                    import asyncio


                    async def send_event(name: str) -> None: ...


                    def track(name: str) -> None:
                        asyncio.create_task(send_event(name))
                    """,
                ),
                (
                    "app/api/items.py",
                    """
                    from app.services.telemetry import track


                    async def update_item(item_id: int) -> None:
                        track("item.updated")
                    """,
                ),
                (
                    "app/sync.py",
                    # Two dozen callers outside any request, one a line.
                    "from app.services.telemetry import track\n\n\n"
                    + "".join(
                        f'def on_{n}() -> None: track("{n}")\n'
                        for n in [
                            "user_created",
                            "user_deleted",
                            "user_renamed",
                            "order_placed",
                            "order_paid",
                            "order_shipped",
                            "order_cancelled",
                            "invoice_sent",
                            "invoice_paid",
                            "cart_saved",
                            "cart_emptied",
                            "login",
                            "logout",
                            "password_reset",
                            "email_verified",
                            "export_started",
                            "export_done",
                            "import_started",
                            "import_done",
                            "sync_started",
                            "sync_done",
                            "cache_cleared",
                            "report_built",
                            "backup_done",
                        ]
                    ),
                ),
            ),
            reported="app/services/telemetry.py:8",
        ),
        fix="""
            Start the job at the request-path callers instead (each then migrates as a site of
            its own), or keep it in the helper with `# noqa: CCM002`.
            """,
    ),
    Rule(
        name="spawns-processes",
        code=CCM002,
        summary="the job starts processes, which a prefork worker's children may not",
        what="""
            The job, or a function of the repository it calls, starts processes:
            `multiprocessing.Process(...).start()`, `multiprocessing.Pool`,
            `concurrent.futures.ProcessPoolExecutor`, `os.fork`.
            """,
        why="""
            The children of Celery's default prefork pool are daemonic, and daemonic processes
            may not have children: the job fails with `AssertionError: daemonic processes are not
            allowed to have children` on every run.
            """,
        example=Example(
            files=(
                (
                    ENDPOINT,
                    """
                    import asyncio
                    from concurrent.futures import ProcessPoolExecutor


                    def encode(video_id: int) -> None: ...


                    async def render(video_id: int) -> None:
                        with ProcessPoolExecutor() as pool:
                            pool.submit(encode, video_id).result()


                    async def upload_video(video_id: int) -> None:
                        asyncio.create_task(render(video_id))
                    """,
                ),
            ),
            fixed_config="""
                queues = { "render_task" = "video" }
                pools = { "video" = "threads" }
                """,
            reported=f"{ENDPOINT}:14",
        ),
        fix="""
            Route the job's task to a queue whose workers run the `threads` or `solo` pool; the
            site then migrates, and the report's Next Steps print that queue's worker command
            (`celery -A app.celery_app worker -Q video -P threads`):

            ```toml
            [tool.celery-codemod]
            queues = { "render_task" = "video" }
            pools = { "video" = "threads" }
            ```

            On a `threads` worker a child started with the `fork` method may end with exit code
            1 although its target finished (CPython's `concurrent.futures` exit hook, in a forked
            child of a pool thread): use `solo`, or the `spawn` start method, for a job that
            checks its children's exit codes. Or keep it in the web process with `# noqa: CCM002`.
            """,
    ),
    Rule(
        name="host-admin",
        code=CCM002,
        summary="the job administers the web host",
        what="""
            The job, or a function of the repository it calls, runs commands (`subprocess`,
            `os.system`) that administer the host it runs on: `sudo`, `systemctl`, a package
            manager (`apt-get`, `dpkg`, `pip install`), a command run as root (`user="root"`),
            a reboot; or it signals or ends a process of the host (`os.kill(os.getpid(),
            SIGINT)` to have the web app restarted, `os._exit`, `signal.raise_signal`). The
            message names the command or the call and its line.
            """,
        why="""
            Such a job acts on the machine it runs on: installs the web app's dependencies,
            restarts its services, rewrites its files. A worker runs it on the worker's host,
            where it changes the wrong machine or fails for want of `sudo`, and the web host is
            left as it was.
            """,
        example=Example(
            files=(
                (
                    ENDPOINT,
                    """
                    import asyncio
                    import subprocess


                    def restart_frontend() -> None:
                        subprocess.run(["sudo", "systemctl", "restart", "frontend"], check=True)


                    async def apply_settings() -> None:
                        asyncio.create_task(asyncio.to_thread(restart_frontend))
                    """,
                ),
            ),
            reported=f"{ENDPOINT}:10",
        ),
        fix="""
            Keep the job in the web process with `# noqa: CCM002`; or route its task (`queues`)
            to a queue whose only worker runs on the web host, and keep it there by hand.
            """,
    ),
)
