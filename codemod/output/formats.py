"""The names of `check`'s output formats, for the command line to offer without importing them."""

from __future__ import annotations

FORMAT_NAMES = frozenset({"text", "json", "github", "sarif"})
