"""Skip reasons about the call site itself (CCM002): what each means, why, an example, the fix."""

from __future__ import annotations

from codemod.output.rules_text import CCM002, ENDPOINT, Example, Rule

SITE_REASONS = (
    Rule(
        name="not-a-call",
        code=CCM002,
        summary="the first argument is not a direct call of the job",
        what="""
            The call starts a coroutine object made elsewhere (`create_task(coro)` with `coro` a
            variable or a parameter), so the tool cannot tell which function runs, nor with
            which arguments.
            """,
        why="""
            A Celery message names a function and carries its arguments; a coroutine object is
            neither, and it cannot be sent to another process.
            """,
        example=Example(
            files=(
                (
                    ENDPOINT,
                    """
                    import asyncio


                    async def refresh(item_id: int) -> None: ...


                    async def update_item(item_id: int) -> None:
                        job = refresh(item_id)
                        asyncio.create_task(job)
                    """,
                ),
            ),
            reported=f"{ENDPOINT}:9",
        ),
        fix="""
            Start the job with a direct call of a module-level coroutine function:
            `asyncio.create_task(refresh(item_id))`.
            """,
    ),
    Rule(
        name="not-importable",
        code=CCM002,
        summary="the job is not a module-level function a worker can import",
        what="""
            The job is a method (`self.run()`, `service.run()`), a function nested in another, a
            lambda, a function of another package (a library, or asyncio's own `to_thread` and
            `wait_for`), or a module that imports its neighbours as if a sub-folder were on
            `sys.path` (the message then names the `--root` to run with).
            """,
        why="""
            A worker runs a job by importing it by its dotted path (`app.api.items.refresh`).
            A method needs its object, a nested function or a lambda has no such path, and a
            wrapper must mirror a signature the tool can read.
            """,
        example=Example(
            files=(
                (
                    ENDPOINT,
                    """
                    import asyncio


                    class Indexer:
                        async def reindex(self, item_id: int) -> None: ...


                    indexer = Indexer()


                    async def update_item(item_id: int) -> None:
                        asyncio.create_task(indexer.reindex(item_id))
                    """,
                ),
            ),
            reported=f"{ENDPOINT}:12",
        ),
        fix="""
            Move the job to a module-level function that builds what it needs, and start that:

            ```python
            async def reindex(item_id: int) -> None:
                await Indexer().reindex(item_id)


            async def update_item(item_id: int) -> None:
                asyncio.create_task(reindex(item_id))
            ```
            """,
    ),
    Rule(
        name="handle-stored",
        code=CCM002,
        summary="the task object is kept to be awaited or cancelled later",
        what="""
            The `asyncio.Task` is stored where it may be awaited, cancelled or inspected later: an
            attribute, a dict, a list that something iterates. A strong-reference guard does not
            count (`tasks.add(t)` on a set whose only other use is `.discard`, or
            `t.add_done_callback(...)`): such sites migrate.
            """,
        why="""
            A queued Celery job has no `asyncio.Task`. The code that later cancels the task or
            reads its state (a cancel endpoint, a status page) would find nothing, or a task of
            the fallback that never ran.
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
            Decide what replaces the handle. For status or cancellation, keep the Celery task's
            id (`task.id`; `AsyncResult(id).state`, `celery_app.control.revoke(id)`) in the
            database or Redis. If the task was kept only so that it is not garbage-collected,
            use the guard that migrates:

            ```python
            task = asyncio.create_task(refresh(item_id))
            BACKGROUND.add(task)
            task.add_done_callback(BACKGROUND.discard)
            ```
            """,
    ),
    Rule(
        name="unserializable-args",
        code=CCM002,
        summary="an argument cannot travel as JSON to a worker",
        what="""
            An argument is evidently not JSON data: `request`, `websocket`, `self`, a part of the
            request that is an object (`request.query_params`, `request.headers`, `await
            request.form()`, `await request.body()`: the message says how to hand on its data),
            a connection, client, lock or stream the handler builds (`web.WebSocketResponse()`,
            `httpx.AsyncClient()`), a value whose annotation is a class of the repository (an
            ORM row, a client), a
            function, or a FastAPI dependency (`Depends(get_db)`) whose provider needs the
            request or another dependency, so that the worker cannot re-create it. The message
            names the argument or the provider.
            """,
        why="""
            Celery sends arguments as JSON. An object that is not data fails at publish time, or
            arrives as something else; a database session or a request is only valid in the
            process and the moment that made it.
            """,
        example=Example(
            files=(
                (
                    ENDPOINT,
                    """
                    import asyncio

                    from fastapi import Request


                    async def log_visit(request: Request) -> None: ...


                    async def update_item(request: Request) -> None:
                        asyncio.create_task(log_visit(request))
                    """,
                ),
            ),
            reported=f"{ENDPOINT}:10",
        ),
        fix="""
            Pass ids and plain data, and load the objects inside the job:
            `asyncio.create_task(log_visit(str(request.url), request.client.host))`. Pydantic v2
            models, enums, `UUID`, `datetime`, `date` and `Decimal` travel as they are. A
            dependency whose provider needs the request can be mapped to one the worker can call:

            ```toml
            [tool.celery-codemod]
            dependencies = { "app.db:get_db" = "app.worker_db:get_db" }
            ```
            """,
    ),
    Rule(
        name="unverified-args",
        code=CCM002,
        summary='an argument\'s type cannot be proven JSON-safe (with `unverified-args = "skip"`)',
        what="""
            Only with `unverified-args = "skip"`: the job's parameter has no JSON-safe
            annotation, and the argument is neither a literal nor a name annotated with a
            JSON-safe type where it is defined. With the default, `guard`, such a site migrates
            with a run-time check instead.
            """,
        why="""
            Arguments that are not JSON fail the publish or arrive changed (a tuple as a list, a
            dict's int keys as strings). `skip` keeps every site whose arguments the tool cannot
            prove safe out of the migration.
            """,
        example=Example(
            files=(
                (
                    ENDPOINT,
                    """
                    import asyncio


                    async def refresh(item_id) -> None: ...


                    async def update_item(item_id) -> None:
                        asyncio.create_task(refresh(item_id))
                    """,
                ),
            ),
            config='unverified-args = "skip"',
            fixed_config='unverified-args = "guard"',
            reported=f"{ENDPOINT}:8",
        ),
        fix="""
            Annotate the job's parameters with JSON-safe types (`item_id: int`). Or let the
            default, `unverified-args = "guard"`, migrate the site: the call site then checks the
            arguments at run time, and runs the job in the web process (with a warning) when they
            would not come back from the serializer the same.
            """,
    ),
    Rule(
        name="star-args",
        code=CCM002,
        summary="the job is called with `*args` or `**kwargs`",
        what="The call passes `*args` or `**kwargs` to the job.",
        why="""
            The wrapper mirrors the job's parameters so that a wrong argument fails at the call
            site, not in the worker; arguments unpacked at run time cannot be checked against
            them, nor their types proven JSON-safe.
            """,
        example=Example(
            files=(
                (
                    ENDPOINT,
                    """
                    import asyncio


                    async def refresh(item_id: int) -> None: ...


                    async def update_item(*args: int) -> None:
                        asyncio.create_task(refresh(*args))
                    """,
                ),
            ),
            reported=f"{ENDPOINT}:8",
        ),
        fix="Pass the arguments explicitly: `asyncio.create_task(refresh(item_id))`.",
    ),
    Rule(
        name="suppressed",
        code=None,  # the site's noqa comment silences it: `check` reports nothing
        summary="a `# noqa` comment keeps the site in the web process",
        what="""
            The line where the call starts has `# noqa: CCM001` (or a bare `# noqa`): the site is
            left as it is, and `check` does not report it. The migration report lists it with
            this reason.
            """,
        why="""
            It is how a team keeps one job in the web process on purpose. The job keeps every
            problem of CCM001: it competes with requests, is lost on a deploy and is never retried.
            """,
        example=Example(
            files=(
                (
                    ENDPOINT,
                    """
                    import asyncio


                    async def refresh(item_id: int) -> None: ...


                    async def update_item(item_id: int) -> None:
                        asyncio.create_task(refresh(item_id))  # noqa: CCM001
                    """,
                ),
            ),
            reported=f"{ENDPOINT}:8",
        ),
        fix="Remove the `# noqa` to migrate the site with the next `celery-codemod migrate`.",
    ),
)
