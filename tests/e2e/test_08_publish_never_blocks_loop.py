"""8. With the broker down, publishing never runs on the web process's event loop.

Every `apply_async` (which `.delay()` calls) is recorded with whether it ran on a thread with a
running event loop. The generated call sites must publish off the loop (`asyncio.to_thread`), so a
broker that refuses, or answers slowly, cannot block the other requests. For contrast, the seed
app's hand-migrated call site calls `.delay()` on the loop: the recording must see that one.

A ticker coroutine also runs beside the burst and the longest gap between two ticks is printed, as
a figure for the README; it is not asserted on (tests never assert on wall-clock time).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from celery.app.task import Task

from tests.e2e.support import SEED_AFTER, copy_tree, imported, refused_url
from tests.e2e.web import SEED_ENDPOINTS, client, finished_job, start_job

pytestmark = pytest.mark.e2e

TICK = 0.005
ROUNDS = 2
HAND_MIGRATED = "app.tasks.data_profiling_tasks.generate_profiling_rules_task"


async def max_stall(work: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    """Run `work` beside a ticker; the ticker's longest stall (seconds) and `work`'s result."""
    stall = 0.0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal stall
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(TICK)
            now = time.perf_counter()
            stall = max(stall, now - last - TICK)
            last = now

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0.05)  # the ticker is running before the first request
    try:
        result = await work()
    finally:
        done.set()
        await ticking
    return stall, result


def on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def test_publishing_to_a_down_broker_never_runs_on_the_event_loop(
    tmp_path: Path, app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = copy_tree(SEED_AFTER, tmp_path / "seed")
    monkeypatch.setenv("CELERY_BROKER_URL", refused_url())
    generated = [request for task, request in SEED_ENDPOINTS.items() if task != HAND_MIGRATED]
    publishes: list[tuple[str, bool]] = []
    apply_async = Task.apply_async

    def recorded(self: Task, *args: Any, **kwargs: Any) -> Any:
        publishes.append((self.name, on_event_loop()))
        return apply_async(self, *args, **kwargs)

    monkeypatch.setattr(Task, "apply_async", recorded)

    async def burst(requests: list[tuple[str, dict[str, Any] | None]]) -> list[dict[str, Any]]:
        async with client(main.app) as http:
            ids = await asyncio.gather(*(start_job(http, p, b) for p, b in requests))
            return list(await asyncio.gather(*(finished_job(http, i) for i in ids)))

    async def rounds() -> list[dict[str, Any]]:
        return [job for _ in range(ROUNDS) for job in await burst(generated)]

    async def run() -> tuple[float, list[dict[str, Any]], float]:
        await burst(generated[:1])  # warm-up: first-use imports and connection setup
        stall, jobs = await max_stall(rounds)
        control, _ = await max_stall(lambda: burst([SEED_ENDPOINTS[HAND_MIGRATED]]))
        return stall, jobs, control

    with imported(tree, "app.main") as main:
        stall, jobs, control = asyncio.run(run())

    print(
        f"\nbroker down, {len(jobs)} requests: longest event-loop stall {stall * 1000:.0f} ms"
        f" (hand-migrated `.delay()` on the loop: {control * 1000:.0f} ms)"
    )
    assert all(j["status"] == "completed" and j["pid"] == os.getpid() for j in jobs), jobs
    on_loop = {name for name, loop in publishes if loop}
    off_loop = {name for name, loop in publishes if not loop}
    assert on_loop == {HAND_MIGRATED}, "the recording does not see a publish on the loop"
    assert off_loop == set(SEED_ENDPOINTS) - {HAND_MIGRATED}
    assert len(publishes) == 1 + len(generated) * ROUNDS + 1  # every request published once
