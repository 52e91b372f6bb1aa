"""`celery-codemod rule` and its single source (codemod/output/rules*.py): an entry for every code
and reason, each example run through the tool, lookup, the JSON form, and the generated docs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from codemod.models import RULES, Reason
from codemod.output.rules import RULEBOOK, as_markdown, docs_pages, find
from codemod.output.rules_text import Example, Rule
from tests.golden import run_cli

REPO = Path(__file__).resolve().parent.parent
SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"

# Reasons in SPEC §4 and the enum that no analysis reports yet (issue 22 adds them). Their
# examples are written from the SPEC; `test_undetected_reasons_are_named_by_no_analysis` fails as
# soon as one is detected, so that its marker below comes off and its example is checked for real.
UNDETECTED: set[str] = set()


def _params(rules: list[Rule]) -> list[Any]:
    return [
        pytest.param(
            rule,
            id=rule.name,
            marks=[pytest.mark.xfail(strict=True, reason="detected from issue 22 on")]
            if rule.name in UNDETECTED
            else [],
        )
        for rule in rules
    ]


def write_example(root: Path, example: Example, config: str | None = None) -> Path:
    """The example's files, a pyproject.toml holding `config` (default: the example's), and
    the Celery app every project that uses the tool has (`app/celery_app.py`) unless the
    example shows its own."""
    table = example.config if config is None else config
    pyproject = '[project]\nname = "example"\nversion = "0.1.0"\n'
    if table:
        pyproject += f"\n[tool.celery-codemod]\n{table}\n"
    app = ("app/celery_app.py", 'from celery import Celery\n\ncelery_app = Celery("app")\n')
    for name, text in (("pyproject.toml", pyproject), app, *example.files):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def check_json(root: Path) -> list[dict[str, Any]]:
    result = run_cli(root, "check", "--format", "json")
    assert result.exit_code in (0, 1, 123), result.output
    items = json.loads(result.stdout)
    assert isinstance(items, list)
    return items


# --- one entry per code and reason -------------------------------------------------------------


def test_every_code_and_every_reason_has_an_entry() -> None:
    names = [rule.name for rule in RULEBOOK]
    assert len(names) == len(set(names))
    assert set(names) == {*RULES, *(reason.value for reason in Reason)}
    for reason in Reason:  # a new reason without documentation fails here
        rule = find(reason.value)
        assert rule is not None, f"no rule entry for reason {reason.value!r}"
        code = None if reason is Reason.SUPPRESSED else "CCM002"  # its noqa silences it
        assert (rule.kind, rule.code) == ("reason", code)
    for code, summary in RULES.items():
        rule = find(code)
        assert rule is not None and (rule.kind, rule.summary) == ("code", summary)


@pytest.mark.parametrize("rule", RULEBOOK, ids=[r.name for r in RULEBOOK])
def test_every_entry_is_filled_in(rule: Rule) -> None:
    assert rule.summary and "\n" not in rule.summary and len(rule.summary) <= 80
    for text in (rule.what, rule.why, rule.fix):
        assert text.strip() and text == text.strip()
        assert not text.startswith(" ")  # dedented
    assert rule.example.files


# --- each example, run through the tool, produces exactly its code or reason -------------------


@pytest.mark.parametrize("rule", _params(list(RULEBOOK)))
def test_example_reports_exactly_its_code_or_reason(rule: Rule, tmp_path: Path) -> None:
    example = rule.example
    root = write_example(tmp_path, example)
    items = check_json(root)
    if rule.name == "suppressed":  # check silences it; the report says why
        assert items == []
    else:
        assert [(i["code"], i["path"], i["line"]) for i in items] == [
            (rule.code, example.path, example.line)
        ], items
    if rule.kind == "reason" and rule.name != "suppressed":
        [item] = items
        assert f"({rule.name}: " in item["message"]
        assert item["message"].endswith(f" (celery-codemod rule {rule.name})")
    if rule.kind == "reason":  # the report of a migration gives the site that reason
        assert run_cli(root, "migrate", "--report", "report.json").exit_code == 0
        report = json.loads((root / "report.json").read_text(encoding="utf-8"))
        assert [
            (s["path"], s["line"], s["status"], s["reason"])
            for s in report["sites"]
            if s["status"] != "ignored"
        ] == [(example.path, example.line, "skipped", rule.name)]


FIXED = [r for r in RULEBOOK if r.example.fixed_config is not None]


@pytest.mark.parametrize("rule", _params(FIXED))
def test_the_documented_configuration_fix_lets_the_site_migrate(rule: Rule, tmp_path: Path) -> None:
    example = rule.example
    assert example.fixed_config is not None
    assert example.fixed_config.splitlines()[0] in rule.fix  # the fix shows that configuration
    root = write_example(tmp_path, example, config=example.fixed_config)
    items = check_json(root)
    assert [(i["code"], i["path"], i["line"]) for i in items] == [
        ("CCM001", example.path, example.line)
    ], items


def test_undetected_reasons_are_named_by_no_analysis() -> None:
    """Once an analysis reports one of these reasons, remove it from UNDETECTED (and so its
    xfail markers): its example must then really produce it."""
    sources = [*(REPO / "codemod" / "analysis").glob("*.py")]
    sources += [REPO / "codemod" / "plan.py", REPO / "codemod" / "drift.py"]
    for reason in UNDETECTED:
        member = f"Reason.{Reason(reason).name}"
        users = [p.name for p in sources if member in p.read_text(encoding="utf-8")]
        assert users == [], f"{reason} is detected now ({users}): drop it from UNDETECTED"


# --- `celery-codemod rule` ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["CCM002", "ccm002", "Ccm002"])
def test_codes_are_found_in_any_case(name: str, tmp_path: Path) -> None:
    result = run_cli(tmp_path, "rule", name)
    assert result.exit_code == 0
    assert result.stdout == as_markdown(RULEBOOK[1])
    assert result.stdout.startswith("# CCM002: background call site that cannot be migrated")


def test_reason_page_has_what_why_example_and_fix(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "rule", "needs-startup")
    assert result.exit_code == 0
    headings = [line for line in result.stdout.splitlines() if line.startswith("#")]
    assert headings == [
        "# needs-startup: the job needs the web app's start-up or memory",
        "## What it means",
        "## Why it matters in production",
        "## Example",
        "## How to fix it",
    ]
    assert 'worker-startup = ["app.state:connect"]' in result.stdout
    assert "reports CCM002 (needs-startup) at `app/api/items.py:11`" in result.stdout


@pytest.mark.parametrize(
    ("name", "suggested"),
    [
        ("needs-start", "'needs-startup', 'needs-request'?"),
        ("CCM02", "'CCM002'"),
        ("host_path", "'host-path'"),
        ("star-arg", "'star-args'"),
    ],
)
def test_unknown_name_exits_2_with_the_closest_names(
    name: str, suggested: str, tmp_path: Path
) -> None:
    result = run_cli(tmp_path, "rule", name)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: unknown rule '{name}'; did you mean {suggested}")
    assert result.stderr.endswith("?\n") and result.stderr.count("\n") == 1


def test_unknown_name_with_nothing_close(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "rule", "zzzz")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "error: unknown rule 'zzzz'; run 'celery-codemod rule --all' for the list\n"
    )


@pytest.mark.parametrize("args", [[], ["CCM001", "--all"]])
def test_one_name_or_all(args: list[str], tmp_path: Path) -> None:
    result = run_cli(tmp_path, "rule", *args)
    assert result.exit_code == 2
    assert result.stderr == "error: give one CODE_OR_REASON, or --all\n"


def test_all_lists_every_code_and_reason_with_its_summary(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "rule", "--all")
    assert result.exit_code == 0
    listed = re.findall(r"^  (\S+) +(.+)$", result.stdout, flags=re.M)
    assert listed == [(r.name, r.summary) for r in RULEBOOK]


def test_json_of_one_rule_is_stable(tmp_path: Path) -> None:
    """A snapshot: a change of key or shape is a change of the contract (regenerate it with
    `celery-codemod rule star-args --format json > tests/snapshots/rule_star_args.json`)."""
    result = run_cli(tmp_path, "rule", "star-args", "--format", "json")
    assert result.exit_code == 0
    assert result.stdout == (SNAPSHOTS / "rule_star_args.json").read_text(encoding="utf-8")


def test_json_of_all_is_a_list_of_the_same_objects(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "rule", "--all", "--format", "json")
    assert result.exit_code == 0
    items = json.loads(result.stdout)
    assert [i["name"] for i in items] == [r.name for r in RULEBOOK]
    one = json.loads(run_cli(tmp_path, "rule", "host-path", "--format", "json").stdout)
    assert items[[r.name for r in RULEBOOK].index("host-path")] == one
    for item in items:
        assert list(item) == ["name", "kind", "code", "summary", "what", "why", "example", "fix"]
        assert list(item["example"]) == ["files", "config", "reported"]
        assert all(list(f) == ["path", "text"] for f in item["example"]["files"])


# --- the docs pages, generated from the same source -------------------------------------------


def test_docs_rules_pages_are_generated_from_the_entries() -> None:
    """Regenerate with `python -m codemod.output.rules docs/rules` after changing an entry."""
    folder = REPO / "docs" / "rules"
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in folder.glob("*.md")}
    expected = docs_pages()
    assert sorted(on_disk) == sorted(expected)
    stale = [name for name, text in expected.items() if on_disk[name] != text]
    assert stale == [], "stale: run `python -m codemod.output.rules docs/rules`"
