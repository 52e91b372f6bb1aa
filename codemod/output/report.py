"""Plan + outcome -> the migration summary, as Markdown for people and JSON for machines."""

from __future__ import annotations

import ast
import json
import textwrap
from typing import Any

from codemod.config import DEFAULT_QUEUE, HARD_LIMIT_GRACE, Config
from codemod.model.source import SourceFile
from codemod.models import FLASK_TASK, MigrationPlan, Outcome, Reason, Site, Status, Wrapper


def reported_sites(plan: MigrationPlan, outcome: Outcome) -> list[Site]:
    """Every site but those of a file whose rewrite failed: that file is an error instead, just
    as an unparsable file contributes an error and no sites."""
    return [
        s
        for s in plan.sites
        if not (s.status is Status.MIGRATED and (s.path, s.line) in outcome.failed_sites)
    ]


def summary(plan: MigrationPlan, outcome: Outcome) -> dict[str, int]:
    counts = {s.value.replace("-", "_"): 0 for s in Status}
    sites = reported_sites(plan, outcome)
    for site in sites:
        counts[site.status.value.replace("-", "_")] += 1
    return {"sites": len(sites), **counts, "errors": len(outcome.errors)}


def _task_of(plan: MigrationPlan, site: Site, outcome: Outcome) -> str | None:
    if site.status is Status.ALREADY_MIGRATED:
        return site.task
    wrapper = plan.wrapper_for(site)
    if wrapper is None or (site.path, site.line) in outcome.failed_sites:
        return None
    return wrapper.dotted


def to_json(plan: MigrationPlan, outcome: Outcome) -> str:
    data: dict[str, Any] = {
        "version": 1,
        "root": ".",
        "summary": summary(plan, outcome),
        "tasks_modules": [
            {
                "path": tm.path,
                "created": tm.created,
                "registered": tm.registered,
                "tasks": [
                    {"name": w.name, "implementation": w.signature.dotted} for w in tm.wrappers
                ],
            }
            for tm in plan.tasks_modules
        ],
        "sites": [
            {
                "path": s.path,
                "line": s.line,
                "column": s.column,
                "function": s.function,
                "call": s.call,
                "implementation": s.implementation,
                "status": s.status.value,
                "reason": s.reason.value if s.reason else None,
                "task": _task_of(plan, s, outcome),
            }
            for s in reported_sites(plan, outcome)
        ],
        "errors": [{"path": e.path, "message": e.message} for e in outcome.errors],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _title(module: str) -> str:
    name = module.rsplit(".", 1)[-1].removesuffix("_tasks")
    return " ".join(word.capitalize() for word in name.split("_"))


def to_markdown(plan: MigrationPlan, outcome: Outcome, config: Config) -> str:
    counts = summary(plan, outcome)
    out: list[str] = ["# Celery Migration Summary", "", "## Overview"]
    n_modules = len(plan.tasks_modules)
    calls = [f"`{c}()`" for c in sorted({s.call for s in plan.sites})] or [
        "`asyncio.create_task()`"
    ]
    starters = " and ".join([", ".join(calls[:-1]), calls[-1]] if len(calls) > 1 else calls)
    out.append(
        f"Migrated {counts['migrated']} of {counts['sites']} background call sites from "
        f"{starters} to Celery tasks across {n_modules} tasks "
        f"module{'s' if n_modules != 1 else ''}. "
        f"{counts['already_migrated']} already migrated, {counts['ignored']} ignored (not "
        f"fire-and-forget), {counts['skipped']} "
        f"need{'s' if counts['skipped'] == 1 else ''} manual review, {counts['errors']} "
        f"file error{'s' if counts['errors'] != 1 else ''}."
    )
    out += ["", "## Changes Made", ""]
    out += _changes(plan, outcome)
    out += ["## Needs Manual Review", ""]
    skipped = [s for s in plan.sites if s.status is Status.SKIPPED]
    if not skipped:
        out += ["Nothing: every fire-and-forget call site was migrated.", ""]
    for site in skipped:
        assert site.reason is not None
        out.append(
            f"- `{site.path}:{site.line}` in `{site.function or '<module>'}` - "
            f"{site.reason.value}: {site.detail}. Hint: {site.advice}."
        )
    if skipped:
        out.append("")
    if outcome.errors:
        out += ["## Errors", ""]
        out += [f"- `{e.path}`: {e.message}" for e in outcome.errors]
        out.append("")
    out += _pattern(plan, outcome, config)
    out += _next_steps(plan, config)
    return "\n".join(out).rstrip("\n") + "\n"


def _changes(plan: MigrationPlan, outcome: Outcome) -> list[str]:
    out: list[str] = []
    sections: list[tuple[str, list[str]]] = []
    for tm in plan.tasks_modules:
        lines = [f"- ✅ {'Created' if tm.created else 'Updated'} `{tm.path}` with Celery tasks:"]
        lines += [f"  - `{w.name}` - wraps `{w.signature.name}`" for w in tm.wrappers]
        by_path: dict[str, list[str]] = {}
        for site, wrapper in plan.site_tasks:
            if wrapper.tasks_module != tm.module or (site.path, site.line) in outcome.failed_sites:
                continue
            by_path.setdefault(site.path, []).append(
                f"  - `{site.function or '<module>'}` (line {site.line}) - Uses `{wrapper.name}`"
            )
        for path, entries in by_path.items():
            lines.append(f"- ✅ Updated endpoints in `{path}`:")
            lines += entries
        sections.append((tm.module, lines))
    already: dict[str, list[Site]] = {}
    for site in plan.sites:
        if site.status is Status.ALREADY_MIGRATED:
            module = (site.task or "").rpartition(".")[0] or site.module
            already.setdefault(module, []).append(site)
    for module, sites in sorted(already.items()):
        lines = [f"- ✅ Already migrated in `{sites[0].path}`:"]
        lines += [
            f"  - `{s.function or '<module>'}` (line {s.line}) - Uses "
            f"`{(s.task or '?').rpartition('.')[2]}`"
            for s in sites
        ]
        existing = next((i for i, (m, _) in enumerate(sections) if m == module), None)
        if existing is not None:
            sections[existing][1].extend(lines)
        else:
            sections.append((module, lines))
    if not sections:
        out += ["No call site needed migrating.", ""]
    for number, (module, lines) in enumerate(sections, 1):
        out += [f"### {number}. **{_title(module)}**", *lines, ""]
    return out


def _pattern(plan: MigrationPlan, outcome: Outcome, config: Config) -> list[str]:
    out = ["## Pattern Implementation", ""]
    countdowns = ", ".join(f"{config.retry_backoff * 2**n} s" for n in range(config.max_retries))
    options = (
        f"Options: `max-retries` {config.max_retries}, `retry-backoff` {config.retry_backoff} s "
        f"(countdowns {countdowns}), "
        f"`retry-on` {', '.join(config.retry_on)}, fallback {'on' if config.fallback else 'off'}."
    )
    out += [options, ""]
    if not plan.site_tasks or plan.celery_app is None:
        return [*out, "No wrapper was generated in this run.", ""]
    examples = [
        (site, wrapper, code)
        for site, wrapper in plan.site_tasks
        if (code := _generated_site(site, wrapper.name, outcome)) is not None
    ]
    if not examples:
        return [*out, "No call site was rewritten in this run.", ""]
    # The first of each kind of call, so that every pattern the run wrote is shown once.
    shown: dict[str, tuple[Site, Wrapper, str]] = {}
    for site, wrapper, code in examples:
        shown.setdefault(site.call, (site, wrapper, code))

    def recreates(wrapper: Wrapper) -> bool:
        return any(p.provider for p in wrapper.signature.params)

    if not any(recreates(w) for _, w, _ in shown.values()):  # and one that re-creates one
        found = next(((s, w, c) for s, w, c in examples if recreates(w)), None)
        if found is not None:
            shown["re-created dependency"] = found
    for site, wrapper, code in shown.values():
        out += [f"A Celery task wrapper (`{wrapper.dotted}`):", "", "```python"]
        out += outcome.wrappers[wrapper.dotted].strip("\n").splitlines()
        out += ["```", "", f"Its call site in `{site.path}` (`{site.call}`):", "", "```python"]
        out += [*code.splitlines(), "```", ""]
    return out


def _generated_site(site: Site, task: str, outcome: Outcome) -> str | None:
    """The statement this run wrote for a site, as written (dedented); None if it wrote none."""
    change = outcome.changes.get(site.path)
    if change is None:
        return None
    source = SourceFile.from_bytes(change[1]).text
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
            isinstance(h.type, ast.Attribute)
            and h.type.attr == "OperationalError"
            and isinstance(h.type.value, ast.Name)
            and h.type.value.id == task
            for h in node.handlers
        ):
            return _dedented(source, node)
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr | ast.Assign) and any(
            isinstance(n, ast.Attribute)
            and n.attr == "delay"
            and isinstance(n.value, ast.Name)
            and n.value.id == task
            for n in ast.walk(node)
        ):
            return _dedented(source, node)
    return None


def _dedented(source: str, node: ast.stmt) -> str:
    lines = source.splitlines()[node.lineno - 1 : node.end_lineno]
    return textwrap.dedent("\n".join(lines))


def _next_steps(plan: MigrationPlan, config: Config) -> list[str]:
    app = plan.celery_app.module if plan.celery_app else "<your celery app module>"
    steps = [
        f"Start a worker: `celery -A {app} worker -l info`. Use the prefork (default), "
        "threads or solo pool; not gevent or eventlet, which cannot run the wrappers' event loops.",
        "Bound publishing when the broker hangs: Celery sets no socket timeout by default, so "
        "a publish to a broker that accepts connections but never answers blocks its request "
        "for good. Set `broker_connection_timeout = 2`, "
        "`broker_transport_options = {'socket_timeout': 2, 'socket_connect_timeout': 2, "
        "'max_retries': 1}` and a short "
        "`task_publish_retry_policy = {'max_retries': 1, 'interval_start': 0, "
        "'interval_step': 0.2}`, so a request falls back within about 2 seconds.",
        "Make every job idempotent: a retried job runs again from the start "
        f"(up to {config.max_retries} retries).",
        _queues_step(plan, config, app),
        f"Monitor workers and jobs with Flower (`celery -A {app} flower`).",
        _delivery_step(config),
        *_time_limits_step(config),
        *_startup_steps(plan, config),
        *_session_step(plan),
    ]
    return [
        "## Next Steps",
        "",
        *(f"{number}. {step}" for number, step in enumerate(steps, 1)),
        "",
    ]


def _session_step(plan: MigrationPlan) -> list[str]:
    """What a dependency re-created in the worker means, when a wrapper re-creates one."""
    providers = sorted(
        {p.provider for _, w in plan.site_tasks for p in w.signature.params if p.provider}
    )
    if not providers:
        return []
    listed = ", ".join(f"`{p}`" for p in providers)
    return [
        f"The worker re-creates {listed} for the jobs that took them from the request: "
        "a session opened there is the job's own, with its own transaction. A job must not "
        "expect rows that the request has not committed yet (an `add_task` job is published "
        "after the response, as the original ran); with `task_always_eager` the job runs in the "
        "request's thread, with a session of its own all the same."
    ]


def _delivery_step(config: Config) -> str:
    """What the delivery mode means for the worker's settings and for the jobs."""
    if not config.acks_late:
        return (
            'Delivery is at-most-once (`delivery = "at-most-once"`, Celery\'s default '
            "acknowledgement when a worker starts a job): a job whose worker is killed while it "
            "runs (SIGKILL, out of memory, a deploy that does not wait) is lost."
        )
    return (
        "Delivery is at-least-once (`acks_late=True`, `reject_on_worker_lost=True`): a "
        "message is acknowledged when its job ends, and a job whose worker is killed while it "
        "runs (SIGKILL, out of memory, a deploy that does not wait) runs again from the start, "
        "so every job must be idempotent (the retries assume it already). Set "
        "`worker_prefetch_multiplier = 1` for long jobs (a worker then holds no message it has "
        "not started), and, with a Redis broker, `broker_transport_options = "
        "{'visibility_timeout': N}` with N above the longest job's seconds: a message not "
        "acknowledged within N is handed to another worker while the first still runs it "
        "(Redis's default is one hour). kombu looks for such messages every "
        "`unacked_restore_interval` times `unacked_restore_throttle` seconds (100 by default), "
        "so a killed worker's job comes back up to that long after its visibility timeout: "
        "lower both for a faster recovery. In this tool's end-to-end tests a killed prefork "
        "child's job ran again at once; a whole worker SIGKILLed mid-job had its job run by a "
        "new worker 3 s after the kill (`visibility_timeout` 3, interval and throttle 1); and a "
        "2 s job with a 2 s `visibility_timeout` was run a second time while its first run was "
        "still going. A job that kills its worker (out of memory) is handed out again and "
        "again, since no broker counts requeues "
        "(celery/celery discussion 8969): the log shows the same task id received over and "
        "over, each time with `WorkerLostError`; cap the worker with "
        "`worker_max_memory_per_child`, or run such a task at-most-once (`acks_late=False`)."
    )


def _queues_step(plan: MigrationPlan, config: Config, app: str) -> str:
    """One worker command per queue, with its pool, when `queues` or `pools` is set; else
    the advice."""
    if not config.queues and not config.pools:
        return "Route jobs to queues by their needs (`task_routes`); size each queue's workers."
    routed = {queue for _, queue in plan.routes}
    queues = sorted(set(config.queues.values()) | set(config.pools) | routed | {DEFAULT_QUEUE})
    commands = "; ".join(
        f"`celery -A {app} worker -Q {q} -P {config.pool_for(q)} -l info`"
        + (" (the default queue)" if q == DEFAULT_QUEUE else "")
        for q in queues
    )
    step = (
        f"Start one worker per queue, each sized for its jobs, with the pool that `pools` in "
        f"[tool.celery-codemod] gives its queue (prefork by default): {commands}."
    )
    if not plan.routes:
        return step
    return (
        f"{step} The routes of the generated tasks are kept in `{plan.routes_path}` "
        "(`TASK_ROUTES`, from `queues`), which the Celery app module applies to its "
        "`task_routes`: the web process, where a task's queue is chosen, and the workers route "
        "alike. The wrappers do not set the `queue` task attribute, which Celery 5 deprecates."
    )


def _time_limits_step(config: Config) -> list[str]:
    """What `time-limits` does, and the visibility timeout it calls for."""
    if not config.time_limits:
        return []
    limits = ", ".join(
        f"`{glob}` {soft} s (hard {soft + HARD_LIMIT_GRACE} s)"
        for glob, soft in config.time_limits.items()
    )
    longest = max(config.time_limits.values()) + HARD_LIMIT_GRACE
    step = (
        f"Time limits (`time-limits`): {limits}. A job past its soft limit gets "
        "`SoftTimeLimitExceeded` where it is (an async job where it awaits) and a minute to "
        "clean up before the hard limit kills its worker process; the prefork pool enforces "
        "them, the threads and solo pools do not. With `retry-on` covering it (`Exception` "
        "does), a job that timed out is retried like any failure."
    )
    if config.acks_late:
        step += (
            f" The longest limit, {longest} s, is the floor for a Redis `visibility_timeout` "
            "(`broker_transport_options = {'visibility_timeout': N}`): a shorter one hands a "
            "job that is still running to a second worker."
        )
    return [step]


def _startup_steps(plan: MigrationPlan, config: Config) -> list[str]:
    """What a worker does not have of the web process: its start-up code, and its disk."""
    steps: list[str] = []
    if plan.startup_code or config.worker_startup:
        code = ", ".join(plan.startup_code) or "none found"
        if config.worker_startup:
            runs = ", ".join(f"`{s}`" for s in config.worker_startup)
            done = f"The generated runner runs {runs} in every worker process before its first job."
        else:
            done = (
                "Jobs that read what it sets were left in the web process (`needs-startup`): "
                "list the start-up callables they need in `worker-startup`, or set it up in a "
                "`worker_process_init` handler."
            )
        steps.append(f"The web app's start-up, which a worker does not run: {code}. {done}")
    if config.flask_app:
        steps.append(
            f"The worker creates the Flask app `{config.flask_app}` once in every worker process, "
            f"and runs every job inside its app context (`{FLASK_TASK}` in "
            f"`{plan.runner_path}`): `current_app` and extensions such as Flask-SQLAlchemy's "
            "`db.session` work in the jobs. Whatever creating the app does runs in every worker "
            "process too: its extensions' `init_app`, and any scheduler or thread it starts "
            "(one more per worker process, beside the web process's). Make such start-up skip "
            "the workers (an environment variable their command sets, say), or move it to "
            "Celery beat. `before_first_request` hooks never run there: no request comes."
            + _factory_work(plan)
        )
    shared = [s for s in plan.sites if s.status is Status.MIGRATED and s.shared_path]
    if shared:
        where = ", ".join(f"`{s.path}:{s.line}`" for s in shared)
        steps.append(
            f"`shared-filesystem = true` was assumed: {len(shared)} migrated "
            f"job(s) read a file the handler wrote on the web host ({where}); web and worker "
            "processes must share that disk (a shared volume), or pass the contents instead."
        )
    return steps


def render_report(plan: MigrationPlan, outcome: Outcome, config: Config, target: str) -> str:
    return (
        to_json(plan, outcome) if target.endswith(".json") else to_markdown(plan, outcome, config)
    )


def _factory_work(plan: MigrationPlan) -> str:
    """The background work an app factory starts, found as its start-up sites: what every
    worker process that creates the app starts too."""
    found = [
        f"`{s.call_text}` in `{s.function}` (`{s.path}:{s.line}`)"
        for s in plan.sites
        if s.reason is Reason.STARTUP and "app factory" in s.detail
    ]
    if not found:
        return ""
    return " Creating the app starts background work that every worker process starts too: " + (
        ", ".join(found) + "."
    )
