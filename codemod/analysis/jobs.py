"""What a job's code needs that only the web process has, asked of the job and of each FastAPI
dependency the worker re-creates for it (a provider runs in the worker too): start-up state, the
web process's memory and disk, the right to start processes; and whether it ends at all."""

from __future__ import annotations

from dataclasses import dataclass

from codemod.analysis.context import Context
from codemod.analysis.disk import HINT as DISK_HINT
from codemod.analysis.disk import SharedDisk
from codemod.analysis.endless import never_ends
from codemod.analysis.helpers import shared_helper
from codemod.analysis.hostadmin import AdministersHost
from codemod.analysis.importable import HINT as IMPORT_HINT
from codemod.analysis.importable import sub_root_import
from codemod.analysis.memory import HINT as MEMORY_HINT
from codemod.analysis.memory import SharedMemory
from codemod.analysis.naming import Located, task_name, tasks_module_for
from codemod.analysis.needs_startup import needs_startup
from codemod.analysis.processes import SpawnsProcesses
from codemod.analysis.request_context import NeedsRequest
from codemod.analysis.skip import Skip
from codemod.model.resolve import Func
from codemod.model.summary import Chain, SiteFact
from codemod.models import Reason, Signature

# The pools whose workers may start processes (their job does not run in a daemonic child).
NON_DAEMONIC_POOLS = frozenset({"threads", "solo"})


@dataclass(frozen=True)
class Part:
    """A function that runs in the worker for the job: the job itself, or the provider of a
    dependency the worker re-creates for it."""

    function: Func
    job: str  # the job's name
    dependency: str | None = None  # the job's parameter the provider gives (None: the job)

    def says(self, what: str) -> str:
        """`what` said of this part: the job's own words, or a dependency's in front of them."""
        if self.dependency is None:
            return what
        return (
            f"`{self.job}`'s dependency `{self.dependency}` is re-created in the worker by "
            f"`{self.function.display}`: {what}"
        )


def job(signature: Signature | None, ctx: Context) -> Func | None:
    """The job's function, as the checks of what it does read it."""
    found = ctx.resolver.target(signature.dotted) if signature is not None else None
    return found if isinstance(found, Func) else None


def parts(
    signature: Signature, injected: tuple[tuple[int | str, str, str], ...], ctx: Context
) -> list[Part]:
    """The job, then the providers of the dependencies the worker re-creates (`injected`:
    (argument, the job's parameter, "module:provider"))."""
    found = job(signature, ctx)
    out = [Part(found, signature.name)] if found is not None else []
    for _, name, spec in injected:
        module, _, function = spec.partition(":")
        provider = ctx.resolver.target(f"{module}.{function}")
        if isinstance(provider, Func):
            out.append(Part(provider, signature.name, name))
    return out


def check_started_at_startup(fact: SiteFact, ctx: Context) -> None:
    where = ctx.reach.started_at_startup(fact.scope_key) if fact.scope_key else None
    if where is not None:
        name = f"`{fact.function}`" if fact.function else "the code"
        raise Skip(
            Reason.STARTUP,
            f"{name} runs when the app starts or stops, not in a request: reached from {where}, "
            "and from no route handler",
        )


def check_shared_helper(fact: SiteFact, ctx: Context) -> None:
    why = shared_helper(fact, ctx)
    if why is not None:
        raise Skip(Reason.SHARED_HELPER, why)


def check_never_ends(signature: Signature | None, ctx: Context) -> None:
    function = job(signature, ctx)
    why = never_ends(function, ctx.resolver) if function is not None else None
    if why is not None and signature is not None:
        raise Skip(Reason.NEVER_ENDS, f"`{signature.name}` never finishes: {why}")


def check_host_admin(parts: list[Part], ctx: Context) -> None:
    """A job that administers the host (sudo, services, packages) must run on the web host."""
    check = AdministersHost.of(ctx.resolver, ctx.sources, ctx.reach.state.code)
    why = next((part.says(found) for part in parts if (found := check.shared(part.function))), None)
    if why is not None:
        raise Skip(Reason.HOST_ADMIN, why)


def check_spawns_processes(parts: list[Part], signature: Signature, ctx: Context) -> None:
    """A job that starts processes cannot run in a prefork child (daemonic: no children of its
    own); it may where its task is routed to a queue that a threads or solo worker serves."""
    spawns = SpawnsProcesses.of(ctx.resolver, ctx.sources, ctx.reach.state.code)
    why = next(
        (part.says(found) for part in parts if (found := spawns.shared(part.function))), None
    )
    if why is None:
        return
    config = ctx.config
    module = tasks_module_for(Located(ctx.summary.module, ctx.rel), config)
    task = task_name(signature.name)
    queue = config.queue_for(module, task)
    if config.pool_for(queue) in NON_DAEMONIC_POOLS:
        return
    where = (
        f"queue `{queue}`, which `pools` serves with `{config.pool_for(queue)}`"
        if queue
        else ("Celery's default queue, served by prefork")
    )
    raise Skip(
        Reason.SPAWNS_PROCESSES,
        f"{why}: the children of Celery's prefork pool are daemonic and may not start processes "
        f"(AssertionError: daemonic processes are not allowed to have children), and its task "
        f"`{module}.{task}` would go to {where}",
    )


def check_needs_request(parts: list[Part], ctx: Context) -> None:
    """A job that reads the request's context (Flask's `request`, `session`, the `g` of a
    request, `current_user`) has none in a worker, which runs it in the app's context at most."""
    found = NeedsRequest.of(ctx.resolver, ctx.sources, ctx.reach.state.code)
    for part in parts:
        why = found.shared(part.function)
        if why is not None:
            raise Skip(Reason.NEEDS_REQUEST, part.says(why))


def check_needs_startup(parts: list[Part], ctx: Context) -> None:
    if not ctx.reach.state or ctx.lookups is None:
        return
    for part in parts:
        found = needs_startup(part.function, ctx.resolver, ctx.reach.state, ctx.lookups)
        if found is None:
            continue
        setter = found.setter
        if found.by_name is not None:
            ctx.notes.append(
                f"`{part.function.display}`'s read was found by following {found.by_name} by "
                "its name alone: the object it is called on has no class the program tells"
            )
        if setter.entry is not None:
            todo = (
                f'to run it in the worker, add `worker-startup = ["{setter.entry}"]` '
                "to [tool.celery-codemod]"
            )
        else:
            todo = (
                "move that set-up into a function a worker can run, and list it in `worker-startup`"
            )
        reads = f"`{part.function.display}` reads `{found.text}, set by {setter.what}; {todo}"
        raise Skip(Reason.NEEDS_STARTUP, part.says(reads))


def check_shared_memory(parts: list[Part], ctx: Context, starter: str | None = None) -> None:
    """A job that shares module-level state with the web side (a status dict a handler reads,
    a connection manager a websocket handler fills) would see a copy of its own in a worker;
    so would a dependency whose provider hands the job such an object. Reported as
    `needs-startup` (state only the web process has), with a hint of its own."""
    shared = SharedMemory.of(ctx.resolver, ctx.sources, ctx.reach.state.code)
    for part in parts:
        why = shared.shared(part.function)
        if why is None and part.dependency is not None:
            why = shared.handed(part.function, starter)
        if why is not None:
            raise Skip(Reason.NEEDS_STARTUP, part.says(why), MEMORY_HINT)


def check_shared_disk(
    parts: list[Part], ctx: Context, fact: SiteFact, signature: Signature
) -> str | None:
    """A job that writes files the web side reads or serves (or reads what it wrote) needs the
    web host's disk: `host-path`, with a hint of its own, unless `shared-filesystem` says web
    and workers share one (then why, for the report's Next Steps). The folders the call site
    hands the job (`clean_cache(config.cache_dir)`) count as the job's own."""
    disk = SharedDisk.of(ctx.resolver, ctx.sources, ctx.reach.state.code)
    for part in parts:
        why = disk.shared(part.function)
        if why is None and part.dependency is None:
            why = disk.shared_through(part.function, ctx.summary, _named_args(fact, signature))
        if why is None:
            continue
        why = part.says(why)
        if not ctx.config.shared_filesystem:
            raise Skip(Reason.HOST_PATH, why, DISK_HINT)
        return why
    return None


def _named_args(fact: SiteFact, signature: Signature) -> dict[str, Chain]:
    """The job's parameters that the call site gives a name or an attribute chain."""
    names = [p.name for p in signature.params]
    out: dict[str, Chain] = {}
    for arg in fact.args:
        if arg.evident or not all(part.isidentifier() for part in arg.text.split(".")):
            continue
        name = names[arg.key] if isinstance(arg.key, int) and arg.key < len(names) else arg.key
        if isinstance(name, str) and name:
            out[name] = tuple(arg.text.split("."))
    return out


def check_importable(signature: Signature, ctx: Context) -> None:
    """The job's module must import from the project root, as the worker imports it."""
    why = sub_root_import(signature.module, ctx.resolver.program)
    if why is not None:
        raise Skip(Reason.NOT_IMPORTABLE, why, IMPORT_HINT)
