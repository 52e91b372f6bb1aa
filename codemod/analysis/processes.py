"""Jobs that start processes: the children of Celery's prefork pool are daemonic and may not have
children of their own (`AssertionError: daemonic processes are not allowed to have children`)."""

from __future__ import annotations

from codemod.analysis.webside import JobCheck
from codemod.model.resolve import Func
from codemod.model.summary import CALLED

# What starts a process (or a pool of them), by qualified name.
STARTERS = frozenset(
    {
        "multiprocessing.Process",
        "multiprocessing.context.Process",
        "multiprocessing.Pool",
        "multiprocessing.pool.Pool",
        "multiprocessing.context.Pool",
        "concurrent.futures.ProcessPoolExecutor",
        "concurrent.futures.process.ProcessPoolExecutor",
        "os.fork",
        "os.forkpty",
    }
)
# `ctx = multiprocessing.get_context(...)`: its `Process` and `Pool` start processes too.
CONTEXTS = frozenset({"multiprocessing.get_context", "multiprocessing.context.get_context"})
CONTEXT_STARTERS = frozenset({"Process", "Pool"})


class SpawnsProcesses(JobCheck):
    """Where a job, or a function of the program it calls, starts processes (jobs asked once)."""

    def _shared(self, job: Func) -> str | None:
        program = self.resolver.program
        for function in self.walk(job):
            found = self._starts(function)
            if found is not None:
                text, line = found
                where = f"{program.rel(function.module)}:{line}"
                if function is job:
                    return f"`{job.display}` calls `{text}(...)` ({where})"
                return (
                    f"`{job.display}` reaches `{function.display}`, which calls `{text}(...)` "
                    f"({where})"
                )
        return None

    def _starts(self, function: Func) -> tuple[str, int] | None:
        """(the call as spelled, its line) of the first call that starts a process."""
        resolver = self.resolver
        for ref in function.fn.refs:
            if not ref.flags & CALLED:
                continue
            chain = ref.chain
            qualname = resolver.qualify_local(chain, function, function.summary)
            if qualname in STARTERS:
                return ".".join(chain), ref.line
            if len(chain) == 2 and chain[1] in CONTEXT_STARTERS:
                local = function.fn.locals.get(chain[0])
                made = resolver.qualify_chain(function.summary, local.cls) if local else None
                if made in CONTEXTS:
                    return ".".join(chain), ref.line
        return None
