"""Jobs that administer the web host itself: packages installed, services restarted, commands
run as root. A worker runs them on its own host, or not at all (no sudo there)."""

from __future__ import annotations

import re

from codemod.analysis.webside import JobCheck
from codemod.model.resolve import Func
from codemod.model.summary import CALLED

# What runs a command, by qualified name.
RUNNERS = frozenset(
    {
        "subprocess.run",
        "subprocess.call",
        "subprocess.check_call",
        "subprocess.check_output",
        "subprocess.Popen",
        "subprocess.getoutput",
        "subprocess.getstatusoutput",
        "os.system",
        "os.popen",
        "asyncio.create_subprocess_shell",
        "asyncio.create_subprocess_exec",
    }
)
# What in a function that runs commands says the commands administer the host.
# A command's words may be one string (`"pip install x"`) or a list's items (`"pip", "install"`).
_NEXT = rb"(?:['\"]\s*,\s*['\"]|\s+)"
ADMIN = re.compile(
    rb"\bsudo\b|\bsystemctl\b|\bsupervisorctl\b|\bapt-get\b|\bapt" + _NEXT + rb"install\b|"
    rb"\bdpkg\b|\breboot\b|\bpip3?" + _NEXT + rb"install\b|\buser\s*=\s*['\"]root['\"]|"
    rb"\bservice\s+\S+\s+(?:re)?start\b"
)


# Calls that signal or end a process of this host: the web process's own (`os.kill(os.getpid(),
# SIGINT)` to have it restarted) is the worker's own in a worker.
SIGNALS = frozenset({"os.kill", "os.killpg"})
OWN_PIDS = frozenset({"os.getpid", "os.getppid"})
ENDS = frozenset({"os._exit", "os.abort", "signal.raise_signal"})


class AdministersHost(JobCheck):
    """Where a job, or a function of the program it calls, runs host administration: a command
    run through `subprocess` / `os.system` (by it or what it reaches) that uses `sudo`,
    `systemctl`, a package manager, or runs as root; or a signal to a process of the host, or
    the end of its own (`os.kill(os.getpid(), SIGINT)`, `os._exit(3)`)."""

    def _shared(self, job: Func) -> str | None:
        walked = self.walk(job)
        for function in walked:
            signal = self._signals(function)
            if signal is not None:
                return (
                    f"{self._who(job, function, signal)} signals or ends a process of this host "
                    f"(`{signal[0]}`, {self._where(function, signal)}): in a worker that is the "
                    "worker's own, not the web process"
                )
        if not any(self._runs_commands(f) for f in walked):
            return None
        for function in walked:
            found = self._admin(function)
            if found is not None:
                return (
                    f"{self._who(job, function, found)} runs host administration "
                    f"(`{found[0]}`, {self._where(function, found)})"
                )
        return None

    @staticmethod
    def _who(job: Func, function: Func, found: tuple[str, int]) -> str:
        """The job, or the function of its walk where it was found."""
        if function is job:
            return f"`{job.display}`"
        return f"`{job.display}` reaches `{function.display}`, which"

    def _where(self, function: Func, found: tuple[str, int]) -> str:
        return f"{self.resolver.program.rel(function.module)}:{found[1]}"

    def _signals(self, function: Func) -> tuple[str, int] | None:
        """A call that ends the process, or signals one the function names by `os.getpid()`
        / `os.getppid()` (a child it started and kills is its own business)."""
        resolver = self.resolver
        called = [
            (ref, resolver.qualify_local(ref.chain, function, function.summary))
            for ref in function.fn.refs
            if ref.flags & CALLED
        ]
        own = any(name in OWN_PIDS for _, name in called)
        for ref, name in called:
            if name in ENDS or (name in SIGNALS and own):
                return ".".join(ref.chain), ref.line
        return None

    def _runs_commands(self, function: Func) -> bool:
        resolver = self.resolver
        return any(
            ref.flags & CALLED
            and resolver.qualify_local(ref.chain, function, function.summary) in RUNNERS
            for ref in function.fn.refs
        )

    def _admin(self, function: Func) -> tuple[str, int] | None:
        """(what it spells, its line) of the first sign of host administration in a function."""
        rel = self.resolver.program.rel(function.module)
        if rel not in self.sources:
            return None
        data = self.sources.data(rel)
        lines = data.splitlines(keepends=True)
        first, last = function.fn.line, function.fn.end_line
        text = b"".join(lines[first - 1 : last])
        found = ADMIN.search(text)
        if found is None:
            return None
        line = first + text.count(b"\n", 0, found.start())
        spelled = re.sub(rb"['\"]\s*,\s*['\"]", b" ", found.group(0))  # a list's items
        return spelled.decode("utf-8", "replace"), line
