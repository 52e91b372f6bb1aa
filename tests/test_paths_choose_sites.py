"""PATHs choose sites, never the model: `check FILE` and `migrate FILE` (as pre-commit and a team
migrating module by module run them) give that file's sites exactly the statuses, reasons and
messages of the whole-tree run, for every fixture app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.golden import Case, all_cases, copy_before, run_cli

CASES = [case for case in all_cases() if case.exit_code != 2]


def _diagnostics(root: Path, *args: str) -> list[dict[str, object]]:
    result = run_cli(root, "check", "--format", "json", *args)
    assert result.exit_code in (0, 1, 123), result.output
    return list(json.loads(result.stdout))


def _sites(root: Path, *args: str) -> list[tuple[str, int, int, str, str | None]]:
    """(path, line, column, status, reason) of each site: which wrapper a site queues is the
    plan's to place (the first site's module, among those the run migrates), not the model's."""
    report = root.parent / f"{root.name}-report.json"
    result = run_cli(root, "migrate", "--check", "--report", str(report), *args)
    assert result.exit_code in (0, 1, 123), result.output
    data = json.loads(report.read_text())
    report.unlink()
    return sorted(
        (s["path"], s["line"], s["column"], s["status"], s["reason"]) for s in data["sites"]
    )


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_file_s_sites_are_the_same_alone_or_in_the_whole_tree(tmp_path: Path, case: Case) -> None:
    work = copy_before(case, tmp_path)
    options = [a for a in case.args if a not in ("--report",)]
    whole = _diagnostics(work, *options, ".")
    whole_sites = _sites(work, *options, ".")
    files = sorted({str(d["path"]) for d in whole if str(d["code"]) in ("CCM001", "CCM002")})
    for rel in files:
        alone = _diagnostics(work, *options, rel)
        mine = [d for d in whole if d["path"] == rel and d["code"] in ("CCM001", "CCM002")]
        assert [d for d in alone if d["code"] in ("CCM001", "CCM002")] == mine, rel
        assert _sites(work, *options, rel) == [s for s in whole_sites if s[0] == rel], rel


def test_a_handler_file_alone_sees_the_start_up_of_the_app(tmp_path: Path) -> None:
    """pre-commit passes only the staged handler module; the plugin registry that main.py fills
    at start-up still makes its job `needs-startup`, never a migration (a false rewrite from
    naming one file)."""
    case = next(c for c in all_cases() if c.name == "app_startup_state")
    work = copy_before(case, tmp_path)
    rel = "app/api/endpoints/cases.py"
    alone = {(d["line"], d["code"]) for d in _diagnostics(work, rel)}
    assert (23, "CCM002") in alone
    result = run_cli(work, "migrate", rel)
    assert result.exit_code == 0, result.output
    assert "background_tasks.add_task(case_created_flow, case_id)" in (work / rel).read_text()
