"""What the plan will call a site's wrapper and its tasks module (SPEC §4, "Naming"): asked
before the plan too, where a site's queue decides whether it may migrate."""

from __future__ import annotations

from typing import NamedTuple, Protocol

from codemod.config import Config

IMPL_SUFFIXES = ("_async", "_background", "_bg", "_impl", "_job", "_worker")
SOURCE_SUFFIXES = ("_service", "_endpoints", "_endpoint", "_router", "_routes", "_api", "_views")


def task_name(implementation: str) -> str:
    name = implementation.lstrip("_")
    for suffix in IMPL_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return f"{name}_task"


def tasks_module_for(site: _Located, config: Config) -> str:
    """The tasks module of a site's wrapper (by the module and path the site is in)."""
    mapped = config.task_modules.get(site.module) or config.task_modules.get(site.path)
    if mapped:
        return mapped if "." in mapped else f"{config.tasks_package}.{mapped}"
    name = site.module.rsplit(".", 1)[-1]
    name = "".join(c if c.isalnum() or c == "_" else "_" for c in name)  # `my-views.py`
    for suffix in SOURCE_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return f"{config.tasks_package}.{name}_tasks"


class Located(NamedTuple):
    """Where a site is, as naming reads it."""

    module: str
    path: str


class _Located(Protocol):
    @property
    def module(self) -> str: ...

    @property
    def path(self) -> str: ...
