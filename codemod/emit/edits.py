"""What a module's rewrite is given: each site with its wrapper, the names the module has."""

from __future__ import annotations

from dataclasses import dataclass

from codemod.models import BACKGROUND_TASK, Site, Wrapper


@dataclass(frozen=True)
class SiteEdit:
    site: Site
    wrapper: Wrapper

    @property
    def in_place(self) -> bool:
        """The call is rewritten where it is (a response's task), not its statement."""
        return self.site.call == BACKGROUND_TASK


@dataclass(frozen=True)
class ModuleNames:
    """What the module already calls asyncio and its logger (None: to be added)."""

    asyncio: str | None
    logger: str | None
    has_logging: str | None  # the name `logging` is bound to, if imported
    # What `functools.partial` is called here: its name if imported, "functools.partial" if
    # the name `partial` means something else (then `import functools` is added); None: to add.
    partial: str | None = None
    has_functools: bool = False  # `import functools` is there
