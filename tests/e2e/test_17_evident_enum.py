"""17. What the call site makes evident travels as that type, on a real worker.

`fixtures/cases/args_evident_types/before`, migrated by `celery-codemod migrate`: the jobs'
parameters have no annotation, but the handlers build their arguments (`Phase[name]`,
`Item.model_validate(data)`). Driven over HTTP through the rewritten handlers (which publish
`phase.value` and `item.model_dump(mode="json")`), a real prefork worker hands `advance` a real
`Phase` member (not the string `Phase` mixes in: `type(phase)` is `Phase`, its `.name` is the
member's) and `price_item` a real `Item` equal to the request's. The site whose argument may be a
model or a string (`list[DocumentContent] | list[str] | str`) is the control: left in the web
process as `unserializable-args`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import FIXTURES, RedisServer, Worker, copy_tree, imported, migrate, wait_for
from tests.e2e.web import client

pytestmark = pytest.mark.e2e

CASE = FIXTURES / "cases" / "args_evident_types" / "before"

# The fixture's jobs print; the copy's record what they were handed, from the worker.
ADVANCE = "    print(cycle_id, phase.name)\n"
PRICE = "    print(item.name, item.price)\n"
RECORD = """

def _record(job: str, key: object, value: object, **data: object) -> None:
    import json
    import os

    from app.schemas import Item, Phase

    record = {
        "job": job,
        "key": key,
        "type": type(value).__name__,
        "module": type(value).__module__,
        "is_phase": isinstance(value, Phase),
        "is_item": isinstance(value, Item),
        "pid": os.getpid(),
        **data,
    }
    with open(os.environ["E2E_SEEN"], "a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\\n")
"""

MAIN = '''\
"""ASGI entry point (written by the test)."""

from fastapi import FastAPI

from app.api.webhooks import router

app = FastAPI()
app.include_router(router)
'''


def seen(path: Path) -> dict[tuple[str, Any], dict[str, Any]]:
    if not path.exists():
        return {}
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return {(r["job"], r["key"]): r for r in records}


def test_the_worker_gets_the_enum_member_and_the_model_the_handler_built(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: Callable[..., Worker],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tree = copy_tree(CASE, tmp_path / "evident")
    migrate(tree, "--report", "report.json")
    report = json.loads((tree / "report.json").read_text(encoding="utf-8"))
    sites = {site["function"]: site for site in report["sites"]}
    assert sites["change_phase"]["status"] == sites["add_item"]["status"] == "migrated", sites
    assert (sites["add_documents"]["status"], sites["add_documents"]["reason"]) == (
        "skipped",
        "unserializable-args",
    )
    handlers = (tree / "app/api/webhooks.py").read_text(encoding="utf-8")
    assert "advance_task.delay, cycle_id, phase.value)" in handlers, handlers
    assert 'price_item_task.delay, item.model_dump(mode="json")' in handlers, handlers

    jobs = tree / "app/services/jobs.py"
    source = jobs.read_text(encoding="utf-8")
    assert source.count(ADVANCE) == source.count(PRICE) == 1, source
    source = source.replace(
        ADVANCE, '    _record("advance", cycle_id, phase, name=getattr(phase, "name", None))\n'
    ).replace(
        PRICE, '    _record("price_item", "item", item, dump=getattr(item, "__dict__", None))\n'
    )
    jobs.write_text(source + RECORD, encoding="utf-8")
    (tree / "app/main.py").write_text(MAIN, encoding="utf-8")

    record = tmp_path / "seen.jsonl"
    broker = redis_server.url()
    monkeypatch.setenv("CELERY_BROKER_URL", broker)  # wins over the app's hard-coded broker
    worker = start_worker(tree, broker, env={"E2E_SEEN": str(record)})

    with imported(tree, "app.main") as main:

        async def run() -> None:
            async with client(main.app) as http:
                for cycle_id, name in ((4, "TESTING"), (5, "PLANNING")):
                    response = await http.post(f"/cycles/{cycle_id}/phase/{name}")
                    assert response.status_code == 200, response.text
                response = await http.post("/items", json={"name": "lamp", "price": 12})
                assert response.status_code == 200, response.text

        asyncio.run(run())

    try:
        done = wait_for(
            lambda: (lambda found: found if len(found) == 3 else None)(seen(record)),
            60,
            "every job to run in the worker",
        )
    except TimeoutError as exc:
        raise AssertionError(f"{exc}; the worker's log:\n{worker.log()}") from exc
    pool = worker.process_ids() - {worker.pid}
    for cycle_id, name in ((4, "TESTING"), (5, "PLANNING")):
        phase = done["advance", cycle_id]
        assert phase["pid"] in pool, phase
        assert (phase["type"], phase["module"], phase["is_phase"]) == ("Phase", "app.schemas", True)
        assert phase["name"] == name, phase
    item = done["price_item", "item"]
    assert item["pid"] in pool, item
    assert (item["type"], item["module"], item["is_item"]) == ("Item", "app.schemas", True), item
    assert item["dump"] == {"name": "lamp", "price": 12.0}, item
