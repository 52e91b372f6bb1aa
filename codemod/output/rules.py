"""The documentation of every code and reason, rendered for `rule`, SARIF help and docs/rules."""

from __future__ import annotations

import difflib
import json
import sys
from pathlib import Path
from typing import Any

from codemod.models import RULES, Reason
from codemod.output.reasons_app import APP_REASONS
from codemod.output.reasons_site import SITE_REASONS
from codemod.output.rules_text import CODES, Rule

# Every code of `check`, then every reason of CCM002, in the order the SPEC lists them.
RULEBOOK: tuple[Rule, ...] = (
    *sorted(CODES, key=lambda r: list(RULES).index(r.name)),
    *sorted((*SITE_REASONS, *APP_REASONS), key=lambda r: list(Reason).index(Reason(r.name))),
)
_BY_NAME = {rule.name.lower(): rule for rule in RULEBOOK}


def find(name: str) -> Rule | None:
    """A code (any case: `ccm002`) or a reason as the SPEC spells it (`needs-startup`)."""
    return _BY_NAME.get(name.strip().lower())


def closest(name: str) -> list[str]:
    """The names nearest to a misspelt one, best first."""
    lowered = name.strip().lower()
    found = difflib.get_close_matches(lowered, list(_BY_NAME), n=3, cutoff=0.6)
    return [_BY_NAME[n].name for n in found]


# --- Markdown: `rule`, the docs pages and SARIF help ----------------------------------------


def as_markdown(rule: Rule, links: bool = False) -> str:
    """The page of one rule; `links`: as a docs page, with links to the other pages."""

    def ref(name: str) -> str:
        return f"[`{name}`]({name}.md)" if links else f"`{name}`"

    if rule.kind == "code":
        fixable = "fixable" if rule.name in ("CCM001", "CCM003", "CCM004") else "not fixable"
        kind = f"Diagnostic code, {fixable} by `celery-codemod migrate`."
    elif rule.code:
        kind = (
            f"Skip reason, reported as {ref(rule.code)} (not fixable by `celery-codemod migrate`)."
        )
    else:
        kind = "Skip reason, not reported by `celery-codemod check`: the `# noqa` silences it."
    parts = [
        f"# {rule.name}: {rule.summary}",
        kind,
        "## What it means",
        rule.what,
        "## Why it matters in production",
        rule.why,
        "## Example",
        _example(rule),
        "## How to fix it",
        rule.fix,
    ]
    if rule.name == "CCM002":
        reasons = [r for r in RULEBOOK if r.kind == "reason" and r.code]
        hint = "" if links else " Each has its page: `celery-codemod rule REASON`."
        parts += [
            "## Reasons",
            f"The message of a CCM002 names one of these reasons.{hint}",
            "\n".join(f"- {ref(r.name)}: {r.summary}" for r in reasons),
        ]
    return "\n\n".join(parts) + "\n"


def _example(rule: Rule) -> str:
    example = rule.example
    blocks = [f"`{path}`:\n\n```python\n{text.rstrip()}\n```" for path, text in example.files]
    if example.config:
        config = f"[tool.celery-codemod]\n{example.config}"
        blocks.append(f"`pyproject.toml`:\n\n```toml\n{config}\n```")
    if rule.name == "suppressed":
        blocks.append(
            "`celery-codemod check` does not report it; the migration report lists it as "
            f"`suppressed` at `{example.reported}`."
        )
    else:
        shown = rule.name if rule.kind == "code" else f"{rule.code} ({rule.name})"
        blocks.append(f"`celery-codemod check` reports {shown} at `{example.reported}`.")
    return "\n\n".join(blocks)


def sarif_help(code: str) -> dict[str, str]:
    """A code's `help` in a SARIF rule (a multiformat message: text and Markdown)."""
    rule = _BY_NAME[code.lower()]
    text = "\n\n".join((rule.what, rule.why, rule.fix, f"More: celery-codemod rule {rule.name}"))
    return {"text": text, "markdown": as_markdown(rule)}


# --- `celery-codemod rule` ----------------------------------------------------------------


def as_json(rule: Rule) -> dict[str, Any]:
    """One rule as JSON, its keys stable."""
    example = rule.example
    return {
        "name": rule.name,
        "kind": rule.kind,
        "code": rule.code,
        "summary": rule.summary,
        "what": rule.what,
        "why": rule.why,
        "example": {
            "files": [{"path": path, "text": text} for path, text in example.files],
            "config": example.config,
            "reported": example.reported,
        },
        "fix": rule.fix,
    }


def render(rule: Rule | None, output_format: str) -> str:
    """`rule NAME` (one rule) or `rule --all` (None), as text or JSON."""
    if output_format == "json":
        data = as_json(rule) if rule else [as_json(r) for r in RULEBOOK]
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if rule:
        return as_markdown(rule)
    width = max(len(r.name) for r in RULEBOOK)
    lines = ["Codes:"]
    lines += [f"  {r.name:<{width}}  {r.summary}" for r in RULEBOOK if r.kind == "code"]
    lines += ["", "Skip reasons (a CCM002 names one; suppressed sites are not reported):"]
    lines += [f"  {r.name:<{width}}  {r.summary}" for r in RULEBOOK if r.kind == "reason"]
    lines += ["", "Run 'celery-codemod rule NAME' for one of them."]
    return "\n".join(lines) + "\n"


# --- docs/rules: one page per rule, written by `python -m codemod.output.rules DIR` -----------


GENERATED = (
    "<!-- Generated from codemod/output/rules_text.py, reasons_site.py and reasons_app.py by "
    "`python -m codemod.output.rules docs/rules`: edit those, not this page. -->"
)


def docs_pages() -> dict[str, str]:
    """File name -> content of every page of docs/rules."""
    pages = {
        f"{rule.name}.md": f"{GENERATED}\n\n{as_markdown(rule, links=True)}" for rule in RULEBOOK
    }

    def row(rule: Rule) -> str:
        return f"| [`{rule.name}`]({rule.name}.md) | {rule.summary} |"

    index = [
        GENERATED,
        "# Rules",
        "Every diagnostic code of `celery-codemod check`, and every reason a site is skipped for. "
        "The same text is printed by `celery-codemod rule NAME` and carried as help by the "
        "SARIF output.",
        "## Codes",
        "| code | summary |\n|---|---|\n" + "\n".join(row(r) for r in RULEBOOK if r.kind == "code"),
        "## Skip reasons",
        "Each CCM002 names one; `suppressed` sites are not reported.",
        "| reason | summary |\n|---|---|\n"
        + "\n".join(row(r) for r in RULEBOOK if r.kind == "reason"),
    ]
    pages["index.md"] = "\n\n".join(index) + "\n"
    return pages


def write_docs(folder: Path) -> list[str]:
    """Write the pages into `folder` (removing pages of rules that are gone); the names written."""
    folder.mkdir(parents=True, exist_ok=True)
    pages = docs_pages()
    for stale in folder.glob("*.md"):
        if stale.name not in pages:
            stale.unlink()
    for name, text in pages.items():
        (folder / name).write_text(text, encoding="utf-8")
    return sorted(pages)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m codemod.output.rules DOCS_RULES_FOLDER")
    print(f"wrote {len(write_docs(Path(sys.argv[1])))} pages")
