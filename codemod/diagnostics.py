"""Plan -> CCM diagnostics for `check`, rendered as text, json, github or sarif."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass

from codemod import __version__
from codemod.models import HINTS, MigrationPlan, Reason, Site, Status
from codemod.noqa import suppressed

RULES = {
    "CCM001": "migratable background call site in an endpoint module",
    "CCM002": "background call site that cannot be migrated automatically",
    "CCM003": "generated wrapper out of sync with its implementation",
    "CCM004": "tasks module not registered with the Celery app",
    "CCM900": "file could not be read or parsed",
}


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
            f"({site.reason.value}: {site.detail}); {HINTS[site.reason]}",
            path,
            site.line,
            site.column,
            False,
        )
    return None


def diagnostics(plan: MigrationPlan) -> list[Diagnostic]:
    """Every problem of the plan, sorted by path and position."""
    out: list[Diagnostic] = []
    for site in plan.sites:
        found = _site_diagnostic(site, site.path)
        if found and not suppressed(site.source_line, found.code):
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
    for module, path in plan.unregistered:
        out.append(_unregistered(module, path, plan))
    for error in plan.errors:
        line, column = _error_position(error.message)
        out.append(Diagnostic("CCM900", error.message, error.path, line, column, False))
    return sorted(out, key=lambda d: (d.path, d.line, d.column, d.code))


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


FORMATS = {"text": as_text, "json": as_json, "github": as_github, "sarif": as_sarif}
