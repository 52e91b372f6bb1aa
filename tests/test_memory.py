"""Jobs that share the web process's memory (`memory.py`): refused as `needs-startup` with a hint
of their own, while constants, a job's own memo, registries filled at import, lazy initialisers
and start-up state (the needs-startup check's business) let a job migrate."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import codemod.analysis.memory
from tests.golden import run_cli

CELERY = 'from celery import Celery\n\ncelery_app = Celery("app")\n'
HEADER = """\
import asyncio

from fastapi import APIRouter

router = APIRouter()
"""


def check(root: Path, endpoint: str, **modules: str) -> list[str]:
    files = {
        "app/__init__.py": "",
        "app/api/__init__.py": "",
        "app/celery_app.py": CELERY,
        "app/api/jobs.py": HEADER + textwrap.dedent(endpoint),
        **{f"app/{name}.py": textwrap.dedent(text) for name, text in modules.items()},
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    result = run_cli(root, "check", ".")
    return [line for line in result.stdout.splitlines() if " CCM00" in line]


def codes(lines: list[str]) -> list[str]:
    return [line.split()[1] for line in lines]


SHARED = [
    pytest.param(
        """
        STATUS = {}

        async def job(key: str) -> None:
            STATUS[key] = "done"

        @router.post("/")
        async def start(key: str) -> None:
            asyncio.create_task(job(key))

        @router.get("/")
        async def status(key: str) -> str:
            return STATUS.get(key, "")
        """,
        "`job` changes the module-level `STATUS` (app/api/jobs.py:7), which `status` "
        "(app/api/jobs.py:18) reads too in the web process",
        id="a status dict a handler reads",
    ),
    pytest.param(
        """
        from collections import deque

        EVENTS = deque(maxlen=10)

        async def job(key: str) -> None:
            print(list(EVENTS))

        @router.post("/")
        async def start(key: str) -> None:
            EVENTS.append(key)
            asyncio.create_task(job(key))
        """,
        "`job` reads the module-level `EVENTS` (app/api/jobs.py:9), which `start` "
        "(app/api/jobs.py:16) changes too in the web process",
        id="a container the handler changes, the job reads",
    ),
    pytest.param(
        """
        from app import state

        async def job(key: str) -> None:
            state.SEEN[key] = True

        @router.get("/")
        async def seen() -> int:
            return len(state.SEEN)

        @router.post("/")
        async def start(key: str) -> None:
            asyncio.create_task(job(key))
        """,
        "`job` changes the module-level `SEEN` (app/state.py:1), which `seen` "
        "(app/api/jobs.py:14) reads too in the web process",
        id="through the module's name",
    ),
]


SHARED.append(
    pytest.param(
        """
        class JobState:
            running = False
            results: dict = {}

        async def job(key: str) -> None:
            JobState.running = True
            JobState.results[key] = 1

        @router.post("/")
        async def start(key: str) -> None:
            asyncio.create_task(job(key))

        @router.get("/")
        async def status() -> bool:
            return JobState.running
        """,
        "`job` changes the module-level `JobState` (app/api/jobs.py:7), which `status` "
        "(app/api/jobs.py:21) reads too in the web process",
        id="class-level state (freqtrade's ApiBG)",
    )
)


SHARED.append(
    pytest.param(
        """
        from contextvars import ContextVar

        from fastapi import Request

        tenant: ContextVar[str] = ContextVar("tenant", default="")

        async def job(key: str) -> None:
            print(tenant.get(), key)

        async def tenant_middleware(request: Request, call_next):
            tenant.set(request.headers.get("x-tenant", ""))
            return await call_next(request)

        @router.post("/")
        async def start(key: str) -> None:
            asyncio.create_task(job(key))
        """,
        "`job` reads the module-level `tenant` (app/api/jobs.py:11), which `tenant_middleware` "
        "(app/api/jobs.py:17) changes too in the web process",
        id="a context variable a middleware sets per request",
    )
)


SHARED.append(
    pytest.param(
        """
        class State:
            paused = False

        state = State()

        async def job(key: str) -> None:
            if not state.paused:
                print(key)

        @router.post("/")
        async def start(key: str) -> None:
            asyncio.create_task(job(key))

        @router.post("/pause")
        async def pause() -> None:
            state.paused = True
        """,
        "`job` reads the module-level `state` (app/api/jobs.py:10), which `pause` "
        "(app/api/jobs.py:22) changes too in the web process",
        id="an instance whose attribute a handler sets (lnbits' settings, by its admin API)",
    )
)


SHARED.append(
    pytest.param(
        """
        class Manager:
            def __init__(self):
                self.loops = {}

            @classmethod
            def get_instance(cls) -> "Manager":
                return cls()

            def start(self, sid: str) -> None:
                self.loops[sid] = sid

            def stop(self, sid: str) -> None:
                self.loops.pop(sid, None)

        manager = Manager.get_instance()

        async def job(sid: str) -> None:
            manager.stop(sid)

        @router.post("/start")
        async def start(sid: str) -> None:
            manager.start(sid)

        @router.post("/stop")
        async def stop(sid: str) -> None:
            asyncio.create_task(job(sid))
        """,
        "`job` changes the module-level `manager` (app/api/jobs.py:21), which `start` "
        "(app/api/jobs.py:28) changes too in the web process",
        id="an instance a factory classmethod makes (OpenHands' conversation manager)",
    )
)


@pytest.mark.parametrize(("endpoint", "detail"), SHARED)
def test_a_job_that_shares_state_with_the_web_side_is_refused(
    tmp_path: Path, endpoint: str, detail: str
) -> None:
    lines = check(tmp_path, endpoint, state="SEEN: dict[str, bool] = {}\n")
    assert codes(lines) == ["CCM002"], lines
    assert f"(needs-startup: {detail}); {codemod.analysis.memory.HINT}" in lines[0]


MIGRATES = [
    pytest.param(
        """
        LIMITS = {"a": 1}

        async def job(key: str) -> None:
            print(LIMITS[key])

        @router.post("/")
        async def start(key: str) -> None:
            print(LIMITS)
            asyncio.create_task(job(key))
        """,
        id="a constant both read",
    ),
    pytest.param(
        """
        _memo = {}

        def cached(key: str) -> int:
            if key not in _memo:
                _memo[key] = len(key)
            return _memo[key]

        async def job(key: str) -> None:
            cached(key)

        @router.post("/")
        async def start(key: str) -> None:
            cached(key)
            asyncio.create_task(job(key))
        """,
        id="a memo that only the job's own calls touch",
    ),
    pytest.param(
        """
        import httpx

        client = httpx.AsyncClient()

        async def job(key: str) -> None:
            await client.get(key)

        @router.post("/")
        async def start(key: str) -> None:
            await client.get(key)
            asyncio.create_task(job(key))
        """,
        id="a library client",
    ),
]


MIGRATES.append(
    pytest.param(
        """
        class UserService:
            @staticmethod
            def update(key: str) -> None:
                print(key)

            @staticmethod
            def pop(key: str) -> None:
                print(key)

        async def job(key: str) -> None:
            UserService.update(key)

        @router.post("/")
        async def start(key: str) -> None:
            UserService.pop(key)
            asyncio.create_task(job(key))
        """,
        id="a service class whose methods are named like a container's",
    )
)


MIGRATES.append(
    pytest.param(
        """
        SEEN = set()

        async def first(key: str) -> None:
            SEEN.add(key)

        async def second(key: str) -> None:
            print(key in SEEN)

        @router.post("/")
        async def start(key: str) -> None:
            asyncio.create_task(first(key))
            asyncio.create_task(second(key))
        """,
        id="state only jobs use: no handler runs it",
    )
)


MIGRATES.append(
    pytest.param(
        """
        class Config:
            threshold = 0

        config = Config()
        config.threshold = 5

        async def job(amount: int) -> None:
            if amount > config.threshold:
                print(amount)

        @router.post("/")
        async def start(amount: int) -> None:
            print(config.threshold)
            asyncio.create_task(job(amount))
        """,
        id="an instance whose attributes are set at import only",
    )
)


@pytest.mark.parametrize("endpoint", MIGRATES)
def test_state_that_is_not_shared_lets_the_job_migrate(tmp_path: Path, endpoint: str) -> None:
    lines = check(tmp_path, endpoint)
    assert set(codes(lines)) == {"CCM001"}, lines


def test_a_name_spelled_in_too_many_modules_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(codemod.analysis.memory, "MAX_FILES", 0)
    lines = check(
        tmp_path,
        """
        SEEN = set()

        async def job(key: str) -> None:
            SEEN.add(key)

        @router.post("/")
        async def start(key: str) -> None:
            asyncio.create_task(job(key))
        """,
    )
    assert codes(lines) == ["CCM002"], lines
    assert "whose name more than 0 modules spell: its other users were not checked" in lines[0]


def test_state_the_start_up_sets_is_left_to_the_needs_startup_check(tmp_path: Path) -> None:
    """A global that a start-up handler rebinds: needs-startup names the start-up; with that
    start-up in `worker-startup`, the job migrates (the handler's change is no request's)."""
    endpoint = """
        from fastapi import FastAPI

        from app import settings

        app = FastAPI(on_startup=[settings.load])

        async def job(key: str) -> None:
            print(settings.SERVER, key)

        @router.post("/")
        async def start(key: str) -> None:
            asyncio.create_task(job(key))
        """
    config = """
        SERVER = None

        def load() -> None:
            global SERVER
            SERVER = "smtp.example.com"
        """
    lines = check(tmp_path, endpoint, settings=config)
    assert codes(lines) == ["CCM002"] and "set by" in lines[0], lines
    with (tmp_path / "pyproject.toml").open("w", encoding="utf-8") as out:
        out.write('[tool.celery-codemod]\nworker-startup = ["app.settings:load"]\n')
    assert codes(check(tmp_path, endpoint, settings=config)) == ["CCM001"]


def test_a_name_bound_under_the_main_guard_is_start_up_state(tmp_path: Path) -> None:
    """FastChat's multi-model worker: `args, workers = create_workers()` under `if __name__ ==
    "__main__":` fills what the job reads; a worker importing the module never runs it."""
    endpoint = """
        from fastapi import FastAPI

        app = FastAPI()
        workers = []

        def release() -> None:
            workers[0].release()

        def create_workers() -> list:
            return [object()]

        @app.post("/")
        async def start(background_tasks: BackgroundTasks) -> None:
            background_tasks.add_task(release)

        if __name__ == "__main__":
            workers = create_workers()
        """
    lines = check(tmp_path, endpoint.replace("FastAPI\n", "FastAPI, BackgroundTasks\n", 1))
    assert codes(lines) == ["CCM002"], lines
    assert "(needs-startup: `release` reads `workers`, set by the module level of" in lines[0]


SINGLETON_BUS = """
import queue


class Singleton(type):
    _instances: dict = {}

    def __call__(cls, *args, **kwargs):
        if cls not in cls._instances:
            cls._instances[cls] = super().__call__(*args, **kwargs)
        return cls._instances[cls]


class EventBus(metaclass=Singleton):
    def __init__(self):
        self._queue = queue.Queue()

    def send(self, event: dict) -> None:
        self._queue.put(event)


class Chain:
    def __init__(self):
        self.events = EventBus()

    def message(self, key: str) -> None:
        self.events.send({"key": key})
"""


@pytest.mark.parametrize(
    "job",
    [
        pytest.param("EventBus().send({'key': key})", id="built by the job"),
        pytest.param("Chain().message(key)", id="built by the constructor of a class it builds"),
    ],
)
def test_a_singleton_is_the_web_process_s_own(tmp_path: Path, job: str) -> None:
    """MoviePilot's webhook job sends its event through `EventManager()` (`metaclass=Singleton`),
    whose queue only the web process's threads consume: in a worker the event is lost."""
    endpoint = f"""
    from app.bus import Chain, EventBus

    def webhook_job(key: str) -> None:
        {job}

    @router.post("/")
    async def start(key: str) -> None:
        asyncio.create_task(asyncio.to_thread(webhook_job, key))
    """
    lines = check(tmp_path, endpoint, bus=SINGLETON_BUS)
    assert codes(lines) == ["CCM002"], lines
    assert "one instance per process (its metaclass `Singleton`)" in lines[0], lines


def test_a_class_built_afresh_is_no_singleton(tmp_path: Path) -> None:
    endpoint = """
    from app.bus import Chain

    def webhook_job(key: str) -> None:
        Chain().message(key)

    @router.post("/")
    async def start(key: str) -> None:
        asyncio.create_task(asyncio.to_thread(webhook_job, key))
    """
    plain = SINGLETON_BUS.replace("(metaclass=Singleton)", "")
    assert codes(check(tmp_path, endpoint, bus=plain)) == ["CCM001"]


LAZY_GETTER = """
import functools


class Cache:
    def __init__(self):
        self._d = {}

    def set(self, key: str, value: str) -> None:
        self._d[key] = value


class Client:
    def __init__(self):
        self.url = "http://example.com"

    def send(self, key: str) -> None:
        print(self.url, key)


_cache = None
_client = None


def get_cache() -> Cache:
    global _cache
    if _cache is None:
        _cache = Cache()
    return _cache


def get_client() -> Client:
    global _client
    if _client is None:
        _client = Client()
    return _client


@functools.lru_cache
def cached_cache():
    return Cache()


@functools.cache
def get_settings() -> Client:
    return Client()
"""


@pytest.mark.parametrize(
    ("job", "code"),
    [
        pytest.param("get_cache().set(key, 'x')", "CCM002", id="a cache its methods change"),
        pytest.param("get_client().send(key)", "CCM001", id="a client nothing changes"),
        pytest.param("cached_cache().set(key, 'x')", "CCM002", id="an lru_cache getter"),
        pytest.param("get_settings().send(key)", "CCM001", id="a cached getter of settings"),
    ],
)
def test_a_lazy_getter_of_an_instance_is_a_singleton(tmp_path: Path, job: str, code: str) -> None:
    """`global _cache; if _cache is None: _cache = Cache(); return _cache`: one per process."""
    endpoint = f"""
    from app.lazy import cached_cache, get_cache, get_client, get_settings

    def warm(key: str) -> None:
        {job}

    @router.post("/")
    async def start(key: str) -> None:
        asyncio.create_task(asyncio.to_thread(warm, key))
    """
    lines = check(tmp_path, endpoint, lazy=LAZY_GETTER)
    assert codes(lines) == [code], lines
    if code == "CCM002":
        assert "which makes one `Cache` per process" in lines[0], lines


@pytest.mark.parametrize(
    ("server", "code"),
    [
        pytest.param('socketio.AsyncServer(async_mode="asgi")', "CCM002", id="no message queue"),
        pytest.param(
            'socketio.AsyncServer(\n    async_mode="asgi",\n'
            '    client_manager=socketio.AsyncRedisManager("redis://"),\n)',
            "CCM001",
            id="a Redis client manager",
        ),
        pytest.param(
            'socketio.AsyncServer(async_mode="asgi")\n\n\ndef create_app(app):\n'
            '    sio.init_app(app, message_queue="redis://")\n',
            "CCM001",
            id="a message queue given in init_app",
        ),
    ],
)
def test_a_socket_io_push_needs_the_web_process_s_server(
    tmp_path: Path, server: str, code: str
) -> None:
    """Flask-SocketIO's or python-socketio's server without a message queue reaches only the
    browsers connected to the process that made it: a worker's emit goes nowhere, silently."""
    sockets = f"import socketio\n\nsio = {server}\n"
    endpoint = """
    from app.sockets import sio

    async def convert(job_id: str) -> None:
        for pct in (50, 100):
            await sio.emit("progress", {"job": job_id, "pct": pct})

    @router.post("/")
    async def start(job_id: str) -> None:
        asyncio.create_task(convert(job_id))
    """
    lines = check(tmp_path, endpoint, sockets=sockets)
    assert codes(lines) == [code], lines
    if code == "CCM002":
        assert "on the Socket.IO server `sio` (app/sockets.py:3), which has no message" in lines[0]
