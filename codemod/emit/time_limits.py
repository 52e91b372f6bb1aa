"""The loop runner's variant for `time-limits`: an exception that a signal handler raises into the
event loop while a job waits (Celery's SoftTimeLimitExceeded) is thrown into the job's coroutine
where it awaits, instead of leaving the job on the loop to wake up during the next task."""

from __future__ import annotations

# The runner's `_run_on_thread_loop` as RUNNER_SOURCE (emit.runner) has it, and its variant.
PLAIN_THREAD_LOOP_RUN = """\
def _run_on_thread_loop(fn: Callable[..., Awaitable[T]], args: Any, kwargs: Any) -> T:
    loop = _thread_loop()
    return loop.run_until_complete(_call(fn, args, kwargs))


async def _call(fn: Callable[..., Awaitable[T]], args: Any, kwargs: Any) -> T:
    # The coroutine is created inside the loop, so it sees the loop as running from its start.
    return await fn(*args, **kwargs)
"""
DELIVERING_THREAD_LOOP_RUN = '''\
def _run_on_thread_loop(fn: Callable[..., Awaitable[T]], args: Any, kwargs: Any) -> T:
    loop = _thread_loop()
    raised: list[BaseException] = []
    task = loop.create_task(_call(fn, args, kwargs, raised))
    try:
        return loop.run_until_complete(task)
    except BaseException as exc:
        if task.done():
            raise
        # Raised into the loop while the job waited, not by the job: a signal handler's, such
        # as Celery's SoftTimeLimitExceeded. The job gets it where it waits and may clean up
        # (until the hard time limit); it never stays on the loop to go on with the next task.
        raised.append(exc)
        task.cancel()
        return loop.run_until_complete(task)


async def _call(
    fn: Callable[..., Awaitable[T]], args: Any, kwargs: Any, raised: list[BaseException]
) -> T:
    # The coroutine is created inside the loop, so it sees the loop as running from its start.
    return await _delivering(fn(*args, **kwargs), raised)


@types.coroutine
def _delivering(job: Awaitable[T], raised: list[BaseException]) -> Generator[Any, Any, T]:
    """`await job`, except that the cancellation by which `_run_on_thread_loop` hands the job
    an exception raised into the loop throws that exception into the job instead."""
    steps = job.__await__()
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = steps.send(value) if error is None else steps.throw(error)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        value, error = None, None
        try:
            value = yield step
        except GeneratorExit:
            steps.close()
            raise
        except asyncio.CancelledError as cancelled:
            error = raised.pop() if raised else cancelled
        except BaseException as other:
            error = other
'''


def with_time_limits(source: str) -> str:
    """The runner's source with `_delivering` (for `time-limits`)."""
    replacements = (
        (PLAIN_THREAD_LOOP_RUN, DELIVERING_THREAD_LOOP_RUN),
        ("import threading\n", "import threading\nimport types\n"),
        (
            "from collections.abc import Awaitable, Callable\n",
            "from collections.abc import Awaitable, Callable, Generator\n",
        ),
    )
    for old, new in replacements:
        assert source.count(old) == 1, old
        source = source.replace(old, new)
    return source
