"""How a check says a site cannot move (Skip, with its reason) or is no background work at all
(Ignored): raised inside classification only, and caught right there."""

from __future__ import annotations

from codemod.models import Reason


class Skip(Exception):
    """The site is background work that cannot be migrated safely."""

    def __init__(self, reason: Reason, detail: str, hint: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.hint = hint  # what to do, where the reason's own hint does not fit


class Ignored(Exception):
    """Not background work: the task object is waited on, or the call is part of an expression."""
