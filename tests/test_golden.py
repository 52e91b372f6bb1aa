"""Every fixture: copy before/ to a temporary folder, run the CLI, compare with after/ exactly."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.golden import Case, all_cases, copy_before, diff_trees, run_cli, tree

CASES = all_cases()


def _migrate(case: Case, tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """Run the case's migration; the tree it leaves, with every report the case expects."""
    work = copy_before(case, tmp_path / "md")
    md = ["--report", "MIGRATION_SUMMARY.md"] if "MIGRATION_SUMMARY.md" in case.reports else []
    result = run_cli(work, "migrate", *case.args, *md)
    assert result.exit_code == case.exit_code, result.output
    actual = tree(work)
    if "report.json" in case.reports:
        other = copy_before(case, tmp_path / "json")
        result = run_cli(other, "migrate", *case.args, "--report", "report.json")
        assert result.exit_code == case.exit_code, result.output
        actual["report.json"] = (other / "report.json").read_bytes()
    return work, actual


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden(case: Case, tmp_path: Path) -> None:
    _, actual = _migrate(case, tmp_path)
    problems = diff_trees(actual, tree(case.after))
    assert not problems, problems


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_second_run_changes_nothing(case: Case, tmp_path: Path) -> None:
    work, first_tree = _migrate(case, tmp_path)
    before = tree(work)
    result = run_cli(work, "migrate", *case.args, "--report", "again.json")
    assert result.exit_code == case.exit_code, result.output
    after = tree(work)
    again_json = after.pop("again.json", None)
    assert after == before
    if again_json is None:  # a configuration error (exit 2) writes no report
        assert case.exit_code == 2
        return
    again = json.loads(again_json)
    if "report.json" in case.reports:
        first = json.loads(first_tree["report.json"])

        def key(site: dict[str, str]) -> tuple[str, str, str]:
            return site["path"], site["function"], site["implementation"]

        migrated = Counter(key(s) for s in first["sites"] if s["status"] == "migrated")
        already = Counter(key(s) for s in again["sites"] if s["status"] == "already-migrated")
        assert migrated <= already
        assert again["summary"]["migrated"] == 0


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_check_and_diff_write_nothing(case: Case, tmp_path: Path) -> None:
    work = copy_before(case, tmp_path)
    before = tree(work)
    changes = {k for k, v in tree(case.after).items() if before.get(k) != v} - set(case.reports)
    check = run_cli(work, "migrate", "--check", *case.args)
    diff = run_cli(work, "migrate", "--diff", *case.args)
    assert tree(work) == before
    if case.exit_code == 0:
        assert check.exit_code == (1 if changes else 0), check.output
        assert diff.exit_code == 0, diff.output
    for name in changes:
        assert f"+++ b/{name}\n" in diff.stdout
