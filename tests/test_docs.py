"""The documentation against the code: every configuration key and command-line option is on the
configuration page with the default the code has, the mkdocs nav holds every page, and the README
stays short, with its two set-up commands and working links."""

from __future__ import annotations

import re
import shutil
from dataclasses import fields
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from codemod.cli import main
from codemod.config import _KEYS, DEFAULT_ENDPOINT_GLOBS, DEFAULT_EXCLUDE, Config
from codemod.output.rules import RULEBOOK
from tests.golden import FIXTURES, run_cli, tree

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
CONFIGURATION = (DOCS / "configuration.md").read_text(encoding="utf-8")
README = (REPO / "README.md").read_text(encoding="utf-8")

# Keys the SPEC has and other work adds now: documented ahead, checked once the code accepts them.
UPCOMING: set[str] = set()  # keys documented before the code has them
# Defaults that the page gives in words (the code's value means "computed at run time").
IN_WORDS = {"jobs", "celery-app", "cache-dir", "tasks-package"}


def _sections(text: str) -> dict[str, str]:
    """`### \\`key\\`` heading -> the text up to the next heading."""
    parts = re.split(r"^#{2,3} ", text, flags=re.M)
    out = {}
    for part in parts:
        title, _, body = part.partition("\n")
        match = re.fullmatch(r"`([a-z-]+)`", title.strip())
        if match:
            out[match.group(1)] = body
    return out


SECTIONS = _sections(CONFIGURATION)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f'"{k}" = {_toml(v)}' for k, v in value.items()) + "}"
    return str(value)


def _default(name: str) -> Any:
    field = next(f for f in fields(Config) if f.name == name)
    return field.default_factory() if callable(field.default_factory) else field.default


@pytest.mark.parametrize("key", sorted({*_KEYS, *UPCOMING}))
def test_every_configuration_key_has_a_section(key: str) -> None:
    assert key in SECTIONS, f"docs/configuration.md has no section ### `{key}`"
    assert "Default:" in SECTIONS[key]


@pytest.mark.parametrize("key", sorted(_KEYS))
def test_the_documented_default_is_the_code_s(key: str) -> None:
    body = " ".join(SECTIONS[key].split())
    default = _default(_KEYS[key][0])
    if key == "endpoint-globs" or key == "exclude":
        globs = DEFAULT_ENDPOINT_GLOBS if key == "endpoint-globs" else DEFAULT_EXCLUDE
        assert default == globs
        listed = re.findall(r"`(\*\*/[^`]+)`", body.split("Default:", 1)[1])
        assert listed == list(globs)
    elif key in IN_WORDS:
        assert re.search(r"Default: [a-z]", body)
    elif default is None:
        assert "Default: none" in body
    else:
        assert f"Default: `{_toml(default)}`" in body, (key, _toml(default))


def _options(command: click.Command) -> list[str]:
    return [
        opt
        for param in command.params
        if isinstance(param, click.Option)
        for opt in param.opts
        if opt.startswith("--") and opt != "--help"
    ]


@pytest.mark.parametrize("command", sorted(main.commands))
def test_every_option_of_every_command_is_documented(command: str) -> None:
    missing = [o for o in _options(main.commands[command]) if f"`{o}" not in CONFIGURATION]
    assert missing == []


def test_the_group_options_are_documented() -> None:
    assert [o for o in _options(main) if f"`{o}" not in CONFIGURATION] == []


# --- the site ---------------------------------------------------------------------------------


def _nav_pages(nav: Any) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [page for item in nav for page in _nav_pages(item)]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in _nav_pages(value)]
    return []


def test_mkdocs_nav_holds_every_page_once() -> None:
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))
    nav = _nav_pages(config["nav"])
    pages = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
    assert sorted(nav) == pages
    assert len(nav) == len(set(nav))
    rules = [p.removeprefix("rules/") for p in nav if p.startswith("rules/")]
    assert rules == ["index.md", *(f"{r.name}.md" for r in RULEBOOK)]


# --- the README -------------------------------------------------------------------------------

SET_UP = [
    "python3 -m venv .venv && .venv/bin/pip install -q . && "
    ".venv/bin/celery-codemod migrate --diff fixtures/seed_app/before",
    "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m pytest",
]


def test_readme_is_short() -> None:
    assert len(README.splitlines()) <= 250


def test_readme_try_it_holds_the_two_set_up_commands() -> None:
    section = README.split("\n## Try it\n", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"```sh\n(.*?)\n```", section, re.S) == SET_UP
    assert "\n.venv/bin/python -m pytest" not in section  # nothing else to type


def test_readme_first_command_shows_the_migration_and_writes_nothing() -> None:
    """The first command after its install step (CI installs the package and runs the suite,
    the second command, itself)."""
    seed = FIXTURES / "seed_app" / "before"
    before = tree(seed)
    args = SET_UP[0].rsplit(".venv/bin/celery-codemod ", 1)[1].split()
    try:
        result = run_cli(REPO, *args)
    finally:  # the analysis cache it keeps (ignored by git), not to be left in the fixture
        shutil.rmtree(seed / ".celery-codemod-cache", ignore_errors=True)
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\n+++ b/") == 13
    assert "regenerate_pde_mappings_task.delay" in result.stdout
    assert tree(seed) == before


@pytest.mark.parametrize("target", sorted(set(re.findall(r"\]\(([^)#:]+\.md)\)", README))), ids=str)
def test_readme_links_lead_to_files(target: str) -> None:
    assert (REPO / target).is_file()


def test_readme_links_into_every_docs_page_but_the_rules() -> None:
    top = sorted(p.name for p in DOCS.glob("*.md") if p.name != "index.md")
    assert [name for name in top if f"(docs/{name})" not in README] == []
