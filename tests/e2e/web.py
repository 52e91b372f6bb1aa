"""Drive the migrated seed app through HTTP, in this process (httpx's ASGI transport)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

API = "/api/v1"

# One request per migrated call site of the seed app (see fixtures/seed_app/after/report.json),
# plus the call site that the seed app had already migrated by hand: (method, path, json body).
SEED_ENDPOINTS: dict[str, tuple[str, dict[str, Any] | None]] = {
    "app.tasks.planning_tasks.regenerate_pde_mappings_task": (
        "/planning/cycles/1/reports/2/pde-mappings/regenerate",
        None,
    ),
    "app.tasks.planning_tasks.auto_map_pdes_task": (
        "/planning/cycles/1/reports/2/pde-mappings/auto-map?overwrite_existing=true",
        None,
    ),
    "app.tasks.planning_tasks.classify_pdes_batch_task": (
        "/planning/cycles/1/pde-classifications/suggest-batch",
        {"pde_ids": [1, 2, 3]},
    ),
    "app.tasks.planning_tasks.generate_llm_attributes_task": (
        "/planning/cycles/1/reports/2/attributes/generate-llm-background",
        None,
    ),
    "app.tasks.sample_selection_tasks.intelligent_sampling_task": (
        "/sample-selection/cycles/1/reports/2/samples/generate-intelligent-v2?sample_size=8",
        None,
    ),
    "app.tasks.scoping_tasks.generate_scoping_recommendations_task": (
        "/scoping/cycles/1/reports/2/recommendations/generate-legacy",
        None,
    ),
    "app.tasks.test_execution_tasks.execute_test_case_celery_task": (
        "/test-execution/cycles/1/test-cases/3/executions",
        None,
    ),
    # FastAPI BackgroundTasks with a Pydantic body: sent as JSON, validated back in the worker.
    "app.tasks.observations_tasks.export_observations_task": (
        "/observations/cycles/1/reports/2/observations/export",
        {"severities": ["medium", "critical"], "export_format": "xlsx", "requested_by": "qa"},
    ),
    "app.tasks.data_profiling_tasks.generate_profiling_rules_task": (
        "/data-profiling/cycles/1/reports/2/rules/generate",
        None,
    ),
}


def client(asgi_app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=asgi_app)
    return httpx.AsyncClient(transport=transport, base_url="http://seed.test", timeout=60)


async def start_job(http: httpx.AsyncClient, path: str, body: dict[str, Any] | None) -> str:
    response = await http.post(API + path, json=body)
    assert response.status_code == 200, response.text
    job_id = response.json()["job_id"]
    assert isinstance(job_id, str)
    return job_id


async def finished_job(http: httpx.AsyncClient, job_id: str, timeout: float = 30) -> dict[str, Any]:
    """Poll `/jobs/{job_id}` until the job is completed or failed."""
    deadline = time.monotonic() + timeout
    while True:
        response = await http.get(f"{API}/jobs/{job_id}")
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        if job["status"] in ("completed", "failed"):
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still {job['status']} after {timeout} s: {job}")
        await asyncio.sleep(0.05)


async def run_seed_jobs(asgi_app: Any) -> dict[str, dict[str, Any]]:
    """Start every seed endpoint's job over HTTP; each job's record once it has finished."""
    async with client(asgi_app) as http:
        ids = {
            task: await start_job(http, path, body) for task, (path, body) in SEED_ENDPOINTS.items()
        }
        jobs = await asyncio.gather(*(finished_job(http, i) for i in ids.values()))
    return dict(zip(ids, jobs, strict=True))
