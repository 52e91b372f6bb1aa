"""The frozen data that flows between the stages: sites, signatures, the plan and its outcomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Status(StrEnum):
    MIGRATED = "migrated"
    ALREADY_MIGRATED = "already-migrated"
    IGNORED = "ignored"
    SKIPPED = "skipped"


# The diagnostic codes of `check`, with their one-line descriptions.
RULES = {
    "CCM001": "migratable background call site in an endpoint module",
    "CCM002": "background call site that cannot be migrated automatically",
    "CCM003": "generated wrapper out of sync with its implementation",
    "CCM004": "tasks module not registered with the Celery app",
    "CCM100": "unused noqa directive",
    "CCM900": "file could not be read or parsed",
}


def unknown_selectors(codes: list[str]) -> list[str]:
    """The entries that select no code (neither a code nor a prefix of one)."""
    return [c for c in codes if not any(rule.startswith(c.upper()) for rule in RULES) or not c]


# The kind of call of a FastAPI / Starlette `BackgroundTasks.add_task` site.
ADD_TASK = "BackgroundTasks.add_task"
# The other starters of background work: a thread started and let go, an executor's job whose
# future is dropped, and Starlette's `BackgroundTask` given to a response as its `background=`.
THREAD = "threading.Thread"
RUN_IN_EXECUTOR = "loop.run_in_executor"
SUBMIT = "Executor.submit"
BACKGROUND_TASK = "BackgroundTask"
# The forms that run after the response, through the runner's `publish_or_run` once migrated.
AFTER_RESPONSE = frozenset({ADD_TASK, BACKGROUND_TASK})
# The generated runner module, in the tasks package: its own threads are no call sites.
RUNNER = "async_runner"
# The runner's function that gives a Flask project's job the worker's app (a job handed the app).
FLASK_APP_PROVIDER = "flask_app"
# The runner module's helper that a migrated `add_task` site hands to BackgroundTasks.
PUBLISH_OR_RUN = "publish_or_run"
GUARDED_DELAY = "guarded_delay"  # and its check of the arguments, for unverified ones
FIELDS_SET_OF = "fields_set_of"  # a model's set fields, sent beside its JSON form
WITH_FIELDS_SET = "with_fields_set"  # and put back on the model in the worker
RUN_WITH_DEPENDENCIES = "run_with_dependencies"  # a job with dependencies the worker re-creates
FLASK_TASK = "FlaskTask"  # the runner's task base that runs jobs in the Flask app's context


class Reason(StrEnum):
    NOT_A_CALL = "not-a-call"
    NOT_IMPORTABLE = "not-importable"
    HANDLE_STORED = "handle-stored"
    UNSERIALIZABLE_ARGS = "unserializable-args"
    UNVERIFIED_ARGS = "unverified-args"
    STAR_ARGS = "star-args"
    SUPPRESSED = "suppressed"
    STARTUP = "startup"
    NEVER_ENDS = "never-ends"
    NEEDS_STARTUP = "needs-startup"
    NEEDS_REQUEST = "needs-request"
    HOST_ADMIN = "host-admin"
    HOST_PATH = "host-path"
    SHARED_HELPER = "shared-helper"
    SPAWNS_PROCESSES = "spawns-processes"


# What to do about a skipped site, by reason: in the report and in `check`'s CCM002 lines.
HINTS = {
    Reason.NOT_A_CALL: "start the job with a direct call of a module-level coroutine function",
    Reason.NOT_IMPORTABLE: "move the job to a module-level function so a worker can import it",
    Reason.HANDLE_STORED: "the task object is used later; decide how the queued job replaces it",
    Reason.UNSERIALIZABLE_ARGS: "pass ids or plain data, and load the objects inside the job",
    Reason.UNVERIFIED_ARGS: "annotate the job's parameters with JSON-safe types, or pass "
    "--allow-unverified-args",
    Reason.STAR_ARGS: "pass the arguments explicitly",
    Reason.SUPPRESSED: "remove the `# noqa` to migrate it",
    Reason.STARTUP: "app-lifetime work belongs in the worker's own start-up "
    "(a worker_process_init handler) or in Celery beat; or keep it here with `# noqa: CCM002`",
    Reason.NEVER_ENDS: "a job that runs for ever is no task: schedule its body with Celery beat, "
    "or keep it here with `# noqa: CCM002`",
    Reason.NEEDS_STARTUP: "a worker does not run the web app's start-up: list the start-up "
    "callable that sets it in `worker-startup` in [tool.celery-codemod], or keep the job here "
    "with `# noqa: CCM002`",
    Reason.NEEDS_REQUEST: "pass the values the job needs from the request as arguments, or keep "
    "the job here with `# noqa: CCM002`",
    Reason.HOST_PATH: "a worker on another host cannot read that file: pass its contents or upload "
    "it to shared storage first; or set `shared-filesystem = true` if web and workers share a disk",
    Reason.SHARED_HELPER: "move the job to the request-path callers of the helper, or keep it here "
    "with `# noqa: CCM002`",
    Reason.HOST_ADMIN: "keep it in the web process with `# noqa: CCM002`, or route its task to a "
    "queue whose only worker runs on the web host",
    Reason.SPAWNS_PROCESSES: "route its task (`queues`) to a queue that `pools` serves with a "
    "`threads` or `solo` worker, or keep it here with `# noqa: CCM002`",
}


@dataclass(frozen=True)
class Param:
    """One parameter of an implementation, as source text."""

    name: str
    kind: str  # "posonly", "normal", "vararg", "kwonly", "kwarg"
    annotation: str | None
    default: str | None
    model: str | None = None  # the Pydantic v2 model class it takes, qualified
    # The class the wrapper rebuilds the argument as from its value, qualified: an Enum (the
    # member travels as its `.value`) or, with `path`, a pathlib class (it travels as `str(...)`)
    enum: str | None = None
    enum_value: str | None = None  # the type of that enum's values: "str", "int" or "float"
    # A FastAPI dependency the worker re-creates: "module:provider" (the wrapper drops the
    # parameter and runs the provider as FastAPI does).
    provider: str | None = None
    # A model parameter whose set fields the job may read: they travel beside its JSON form
    # (`fields_set_of` at the call site, `with_fields_set` in the wrapper).
    fields_set: bool = False
    path: bool = False  # `enum` is a pathlib class

    def as_wrapper_param(self) -> Param:
        """As the wrapper declares it: a model arrives as its JSON form, a dict; an enum member
        as its value."""
        if self.enum:
            return Param(self.name, self.kind, self.enum_value, self.default)
        return Param(self.name, self.kind, "dict", self.default) if self.model else self


@dataclass(frozen=True)
class Signature:
    """A module-level function that a background job runs."""

    module: str
    name: str
    is_async: bool
    params: tuple[Param, ...]
    # Imports the wrapper needs for the annotations and defaults it copies: (module, name, alias).
    imports: tuple[tuple[str, str | None, str | None], ...] = ()

    @property
    def dotted(self) -> str:
        return f"{self.module}.{self.name}"

    def wrapper_params(self) -> tuple[Param, ...]:
        """The wrapper's parameters (after `self`), as it declares them: re-created dependencies
        left out, and before `**kwargs` the keyword-only carriers of the set fields of models."""
        params = [p.as_wrapper_param() for p in self.params if not p.provider]
        carriers = [
            Param(fields_set_name(p, self.params), "kwonly", "dict | None", "None")
            for p in self.params
            if p.fields_set
        ]
        if not carriers:
            return tuple(params)
        at = next((i for i, p in enumerate(params) if p.kind == "kwarg"), len(params))
        return (*params[:at], *carriers, *params[at:])

    def carrier_of(self, param: Param) -> str | None:
        """The wrapper parameter that carries a model parameter's set fields, if it has one."""
        return fields_set_name(param, self.params) if param.fields_set else None


def fields_set_name(param: Param, params: tuple[Param, ...]) -> str:
    """The name of the wrapper parameter that carries a model parameter's set fields."""
    taken = {p.name for p in params}
    name = f"{param.name}_fields_set"
    while name in taken:
        name += "_"
    return name


@dataclass(frozen=True)
class Site:
    """One background call site, classified. Lines and columns are 1-based, in the original file."""

    path: str  # relative to root, with "/"
    module: str
    line: int
    column: int
    stmt_line: int  # first line of the statement that holds the call
    end_line: int  # last line of the statement group that the fallback keeps
    function: str | None
    # asyncio.create_task, asyncio.ensure_future, loop.create_task, BackgroundTasks.add_task,
    # threading.Thread, loop.run_in_executor, Executor.submit or BackgroundTask
    call: str
    call_text: str
    status: Status
    reason: Reason | None = None
    detail: str = ""
    implementation: str | None = None  # dotted path
    signature: Signature | None = None
    in_async: bool = False
    task: str | None = None  # dotted task name, known for already-migrated sites
    result_name: str = "task"  # the name the publishing statement binds
    # Arguments (positions among the job's arguments, or keyword names) that pass a Pydantic
    # model: the call site sends their `model_dump(mode="json")`.
    model_args: tuple[int | str, ...] = ()
    enum_args: tuple[int | str, ...] = ()  # those that pass an enum member: sent as `.value`
    path_args: tuple[int | str, ...] = ()  # those that pass a pathlib path: sent as `str(...)`
    injected: tuple[int | str, ...] = ()  # dependencies the worker re-creates: not sent
    # Models whose set fields travel beside them: (argument, the wrapper parameter they go to).
    fields_set_args: tuple[tuple[int | str, str], ...] = ()
    # The name asyncio has where the site is (a function-level `import asyncio` counts); None: none.
    asyncio_name: str | None = None
    # The text of line `line`, for its noqa comment (read by the analysis, not again by `check`).
    source_line: str = field(default="", compare=False, repr=False)
    # Why an argument is a path on the web host, when `shared-filesystem` let the site migrate.
    shared_path: str | None = None
    # A site its noqa comment keeps in place: the code it would be reported with otherwise.
    would_report: str | None = None
    # What to do about a skipped site, where its reason's hint (HINTS) does not fit.
    hint: str | None = None
    # The call is a statement of its own (`background_tasks.add_task(job, ...)`): an add_task
    # site then takes the after-the-response form.
    standalone: bool = False
    # Where the job's function and arguments are in the call (model/sites.py JOB_FORMS): the
    # call site is rewritten from them; and the starter's text (`asyncio.create_task`).
    job_form: str = "call"
    starter: str = ""
    # Names the rewrite would use that the site's function binds itself (`partial`).
    shadowed: tuple[str, ...] = ()
    # Arguments whose types could not be proven JSON-safe: the call site publishes through the
    # runner's `guarded_delay`, which checks them at run time (`unverified-args = "guard"`).
    guarded: bool = False
    # How the analysis reached its answer, where `-v` should say so (a name followed by its
    # spelling alone, as the last resort).
    notes: tuple[str, ...] = field(default=(), compare=False)

    @property
    def advice(self) -> str:
        """What to do about a skipped site."""
        return self.hint or (HINTS[self.reason] if self.reason else "")

    @property
    def after_response(self) -> bool:
        """A site that hands Starlette the runner's `publish_or_run`: an `add_task` written as a
        statement of its own, or a response's `BackgroundTask`."""
        return (self.call == ADD_TASK and self.standalone) or self.call == BACKGROUND_TASK


@dataclass(frozen=True)
class FileError:
    path: str
    message: str

    def __post_init__(self) -> None:
        # One line, always: a parser's multi-line message keeps its first line.
        lines = [line.strip() for line in self.message.splitlines() if line.strip()]
        object.__setattr__(self, "message", lines[0] if lines else "unknown error")


@dataclass(frozen=True)
class FileAnalysis:
    path: str
    module: str
    sites: tuple[Site, ...] = ()
    error: FileError | None = None
    noqa: tuple[tuple[int, tuple[str, ...]], ...] = ()  # lines whose noqa comment names CCM codes


@dataclass(frozen=True)
class Wrapper:
    """A Celery task that the plan generates."""

    name: str
    tasks_module: str
    signature: Signature
    existing: bool = False  # already defined in the tasks module: nothing to generate

    @property
    def dotted(self) -> str:
        return f"{self.tasks_module}.{self.name}"


@dataclass(frozen=True)
class TasksModulePlan:
    module: str
    path: str
    created: bool
    registered: bool  # registered with the Celery app once the plan is applied
    needs_registration: bool
    wrappers: tuple[Wrapper, ...]
    sources: tuple[str, ...]  # source modules whose sites use this tasks module


@dataclass(frozen=True)
class CeleryApp:
    module: str
    attr: str
    path: str


@dataclass(frozen=True)
class Drift:
    """A generated wrapper that no longer matches its implementation (CCM003)."""

    path: str
    module: str  # the tasks module
    name: str  # the wrapper
    line: int  # of the `def`
    column: int
    first_line: int  # of its first decorator
    end_line: int
    implementation: str
    message: str
    signature: Signature | None  # the implementation's signature now; None if it is gone


@dataclass(frozen=True)
class MigrationPlan:
    root: str
    celery_app: CeleryApp | None
    sites: tuple[Site, ...]
    tasks_modules: tuple[TasksModulePlan, ...]
    site_tasks: tuple[tuple[Site, Wrapper], ...]  # migratable site -> the wrapper it queues
    errors: tuple[FileError, ...] = ()
    runner_module: str = ""
    runner_path: str = ""
    registration_style: str = ""  # include, imports, init or add-include
    drifts: tuple[Drift, ...] = ()
    unregistered: tuple[tuple[str, str], ...] = ()  # (tasks module, path) holding wrappers
    runner_drift: str | None = None  # the runner on disk does not run `worker-startup` as set
    startup_code: tuple[str, ...] = ()  # the app's start-up: "lifespan `f` (path)", ...
    noqa: tuple[tuple[str, int, tuple[str, ...]], ...] = ()  # (path, line, CCM codes named)
    # The routes module of the tasks package, which the Celery app module applies to its
    # `task_routes`: what it is to hold (generated task -> queue, by `queues`), whether it is to
    # be written (again), whether the app module applies it already, and how the files on disk
    # differ from `queues` ((message, path): CCM003).
    routes: tuple[tuple[str, str], ...] = ()
    routes_module: str = ""
    routes_path: str = ""
    routes_stale: bool = False
    routes_hooked: bool = False
    routes_drift: tuple[str, str] | None = None
    new_packages: tuple[str, ...] = ()  # the `__init__.py` of each new folder of the tasks package

    def wrapper_for(self, site: Site) -> Wrapper | None:
        for s, w in self.site_tasks:
            if s == site:
                return w
        return None


@dataclass
class Outcome:
    """What applying (or rendering) a plan produced: file contents and per-file failures."""

    changes: dict[str, tuple[bytes | None, bytes]] = field(default_factory=dict)
    errors: list[FileError] = field(default_factory=list)
    failed_sites: set[tuple[str, int]] = field(default_factory=set)
    # The code of each wrapper the plan queues, by its dotted name, as this run generates it
    # (the report shows it).
    wrappers: dict[str, str] = field(default_factory=dict)
