"""What classification asks of the program about the sites of one module."""

from __future__ import annotations

from dataclasses import dataclass, field

from codemod.analysis.needs_startup import Lookups
from codemod.analysis.reach import Reach
from codemod.config import Config
from codemod.model.resolve import Resolver
from codemod.model.sources import Sources
from codemod.model.summary import ModuleSummary
from codemod.models import RUNNER


@dataclass
class Context:
    """What classification asks of the program, for the sites of one module."""

    summary: ModuleSummary
    rel: str
    resolver: Resolver
    config: Config
    sources: Sources
    reach: Reach = field(default_factory=Reach)
    lookups: Lookups | None = None
    # What `-v` says of the site being classified (how an answer was reached).
    notes: list[str] = field(default_factory=list)

    @property
    def program_root_runner(self) -> str:
        return f"{self.config.tasks_package}.{RUNNER}"

    def rebased(self, qualname: str | None) -> str | None:
        """A name qualified in the site's module, as its imports name it from the root."""
        if qualname is None:
            return None
        return self.resolver.program.rebase(self.summary.module, qualname)
