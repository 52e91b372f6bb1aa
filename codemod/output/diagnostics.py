"""Plan -> CCM diagnostics for `check`, rendered as text, json, github or sarif."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from codemod import __version__
from codemod.model.noqa import suppressed
from codemod.models import RULES, MigrationPlan, Reason, Site, Status

if TYPE_CHECKING:
    from codemod.output.rules_text import Rule


@dataclass(frozen=True)
class Selection:
    """Which codes `check` reports, as ruff selects them: a code is reported when `select` is
    empty or one of its entries is a prefix of it, and no entry of `ignore` nor of the
    `per-file-ignores` globs matching its path is."""

    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def reports(self, code: str, path: str) -> bool:
        from codemod.model.files import glob_match

        if self.select and not any(code.startswith(s) for s in self.select):
            return False
        if any(code.startswith(i) for i in self.ignore):
            return False
        return not any(
            glob_match(glob, path) and any(code.startswith(c) for c in codes)
            for glob, codes in self.per_file_ignores
        )


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    path: str  # relative to root, with "/"
    line: int
    column: int
    fixable: bool


def _site_diagnostic(site: Site, path: str) -> Diagnostic | None:
    if site.status is Status.MIGRATED:
        return Diagnostic(
            "CCM001",
            f"{site.call_text} runs in the web process; "
            "run 'celery-codemod migrate' to queue it as a Celery task",
            path,
            site.line,
            site.column,
            True,
        )
    if site.status is Status.SKIPPED and site.reason is not Reason.SUPPRESSED:
        assert site.reason is not None
        return Diagnostic(
            "CCM002",
            f"{site.call_text} runs in the web process and cannot be migrated automatically "
            f"({site.reason.value}: {site.detail}); {site.advice} "
            f"(celery-codemod rule {site.reason.value})",
            path,
            site.line,
            site.column,
            False,
        )
    return None


def diagnostics(plan: MigrationPlan, selection: Selection | None = None) -> list[Diagnostic]:
    """Every problem of the plan that no `# noqa` silences and the selection reports, sorted
    by path and position; unused `# noqa: CCM...` directives are problems too (CCM100)."""
    raw = _raw(plan)
    lines = _Lines(plan.root)
    for site in plan.sites:  # the analysis read their lines already
        lines.known[(site.path, site.line)] = site.source_line
    out = [d for d in raw if d.code == "CCM900" or not suppressed(lines.get(d), d.code)]
    out += _unused_noqa(plan, raw, lines)
    if selection is not None:
        out = [d for d in out if selection.reports(d.code, d.path)]
    return sorted(out, key=lambda d: (d.path, d.line, d.column, d.code))


class _Lines:
    """The text of a diagnostic's line, read from its file once (for its `# noqa`)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.known: dict[tuple[str, int], str] = {}
        self._files: dict[str, list[str]] = {}

    def get(self, found: Diagnostic) -> str:
        return self.line(found.path, found.line)

    def line(self, path: str, number: int) -> str:
        text = self.known.get((path, number))
        if text is not None:
            return text
        if path not in self._files:
            from pathlib import Path

            from codemod.model.syntax import decode_source, split_lines

            try:
                self._files[path] = split_lines(
                    decode_source((Path(self.root) / path).read_bytes())
                )
            except (OSError, SyntaxError, UnicodeDecodeError, LookupError):
                self._files[path] = []
        found = self._files[path]
        return found[number - 1].rstrip("\r\n") if 0 < number <= len(found) else ""


def _unused_noqa(plan: MigrationPlan, raw: list[Diagnostic], lines: _Lines) -> list[Diagnostic]:
    """CCM100 for each `# noqa: CCM...` naming a code that its line would not report."""
    reported: dict[tuple[str, int], set[str]] = {}
    for found in raw:
        reported.setdefault((found.path, found.line), set()).add(found.code)
    for site in plan.sites:  # a site its noqa keeps in place: the code it would have
        if site.status is Status.SKIPPED and site.reason is Reason.SUPPRESSED:
            code = site.would_report or "CCM001"
            reported.setdefault((site.path, site.line), set()).add(code)
    out: list[Diagnostic] = []
    for path, number, codes in plan.noqa:
        unused = [c for c in codes if c != "CCM100" and c not in reported.get((path, number), ())]
        if not unused or "CCM100" in codes:
            continue
        text = lines.line(path, number)
        column = text.find("#") + 1 if "#" in text else 1
        out.append(
            Diagnostic(
                "CCM100",
                f"unused `noqa` directive (unused: {', '.join(unused)}); remove it",
                path,
                number,
                column,
                False,
            )
        )
    return out


def _raw(plan: MigrationPlan) -> list[Diagnostic]:
    """Every problem of the plan, before `# noqa` comments and selection."""
    out: list[Diagnostic] = []
    for site in plan.sites:
        found = _site_diagnostic(site, site.path)
        if found:
            out.append(found)
    for drift in plan.drifts:
        out.append(
            Diagnostic(
                "CCM003",
                f"wrapper `{drift.name}`{'' if drift.signature else ':'} {drift.message}; "
                + (
                    "run 'celery-codemod migrate' to regenerate it"
                    if drift.signature
                    else "restore the implementation or remove the wrapper and its callers"
                ),
                drift.path,
                drift.line,
                drift.column,
                drift.signature is not None,
            )
        )
    if plan.runner_drift is not None:
        message = f"{plan.runner_drift}; run 'celery-codemod migrate' to regenerate it"
        out.append(Diagnostic("CCM003", message, plan.runner_path, 1, 1, True))
    if plan.routes_drift is not None:
        message, path = plan.routes_drift
        out.append(
            Diagnostic(
                "CCM003",
                f"{message}; run 'celery-codemod migrate' to route them by `queues`",
                path,
                1,
                1,
                True,
            )
        )
    for module, path in plan.unregistered:
        out.append(_unregistered(module, path, plan))
    for error in plan.errors:
        line, column = _error_position(error.message)
        out.append(Diagnostic("CCM900", error.message, error.path, line, column, False))
    return out


def statistics(found: list[Diagnostic]) -> str:
    """One line per code, `COUNT<TAB>CODE<TAB>description`, the most frequent first."""
    counts: dict[str, int] = {}
    for d in found:
        counts[d.code] = counts.get(d.code, 0) + 1
    order = sorted(counts, key=lambda code: (-counts[code], code))
    return "".join(f"{counts[code]}\t{code}\t{RULES[code]}\n" for code in order)


def _unregistered(module: str, path: str, plan: MigrationPlan) -> Diagnostic:
    app = f"{plan.celery_app.module}:{plan.celery_app.attr}" if plan.celery_app else "the app"
    return Diagnostic(
        "CCM004",
        f"tasks module {module} is not registered with the Celery app {app}, so workers "
        "reject its tasks as unregistered; run 'celery-codemod migrate' to register it",
        path,
        1,
        1,
        True,
    )


def _error_position(message: str) -> tuple[int, int]:
    match = re.search(r"line (\d+)(?:, column (\d+))?", message)
    if not match:
        return 1, 1
    return int(match.group(1)), int(match.group(2) or 1)


# --- formats ----------------------------------------------------------------------------------


Show = Callable[[str], str]


def as_text(found: list[Diagnostic], show: Show) -> str:
    lines = [f"{show(d.path)}:{d.line}:{d.column}: {d.code} {d.message}" for d in found]
    if found:
        fixable = sum(d.fixable for d in found)
        noun = "problem" if len(found) == 1 else "problems"
        lines.append(
            f"Found {len(found)} {noun} ({fixable} fixable with 'celery-codemod migrate')."
        )
    else:
        lines.append("All checks passed.")
    return "\n".join(lines) + "\n"


def as_json(found: list[Diagnostic], show: Show) -> str:
    import json  # the formats import what only they need: `check` starts in ~0.1 s

    items = [{**asdict(d), "path": show(d.path)} for d in found]
    return json.dumps(items, indent=2, ensure_ascii=False) + "\n"


def _github_escape(text: str, property_value: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def as_github(found: list[Diagnostic], show: Show) -> str:
    return "".join(
        f"::error file={_github_escape(show(d.path), True)},line={d.line},col={d.column},"
        f"title={d.code}::{_github_escape(d.message)}\n"
        for d in found
    )


def as_sarif(found: list[Diagnostic], show: Show) -> str:
    """SARIF 2.1.0; locations are URI references relative to the project root (%SRCROOT%)."""
    import json
    from urllib.parse import quote

    from codemod.output.rules import find, sarif_help

    rule_ids = list(RULES)
    sarif = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "celery-codemod",
                        "version": __version__,
                        "informationUri": "https://pypi.org/project/celery-codemod/",
                        "rules": [
                            {
                                "id": code,
                                "name": code,
                                "shortDescription": {"text": text},
                                "fullDescription": {"text": _what(find(code))},
                                "help": sarif_help(code),
                                "defaultConfiguration": {"level": "error"},
                            }
                            for code, text in RULES.items()
                        ],
                    }
                },
                # SARIF §3.14.14: without a uriBaseId of its own, a base's uri must be absolute;
                # the output stays machine-independent, so the root is described, not located.
                "originalUriBaseIds": {
                    "%SRCROOT%": {
                        "description": {
                            "text": "The project root: --root, else the nearest folder above the "
                            "first PATH that holds pyproject.toml."
                        }
                    }
                },
                "results": [
                    {
                        "ruleId": d.code,
                        "ruleIndex": rule_ids.index(d.code),
                        "level": "error",
                        "message": {"text": d.message},
                        "locations": [
                            {
                                "physicalLocation": {
                                    "artifactLocation": {
                                        "uri": quote(d.path),
                                        "uriBaseId": "%SRCROOT%",
                                    },
                                    "region": {"startLine": d.line, "startColumn": d.column},
                                }
                            }
                        ],
                        "properties": {"fixable": d.fixable},
                    }
                    for d in found
                ],
            }
        ],
    }
    return json.dumps(sarif, indent=2, ensure_ascii=False) + "\n"


def _what(rule: Rule | None) -> str:
    assert rule is not None  # every code has an entry (tests/test_rules.py)
    return rule.what


FORMATS = {"text": as_text, "json": as_json, "github": as_github, "sarif": as_sarif}
