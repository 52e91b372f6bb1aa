"""Negative controls (issue 5, item 4): fixture cases named negative_* must never be touched.

The golden test already compares each case with its after/ tree; this one pins the property
itself, so that a regenerated after/ tree cannot quietly accept a rewrite: every file of after/
other than the report is byte-identical to before/, and no site is migrated.
"""

from __future__ import annotations

import json

import pytest

from tests.golden import Case, all_cases, tree

NEGATIVE = [c for c in all_cases() if c.name.startswith("negative_")]


def test_there_are_negative_controls() -> None:
    assert len(NEGATIVE) >= 5


@pytest.mark.parametrize("case", NEGATIVE, ids=[c.name for c in NEGATIVE])
def test_negative_control_is_never_touched(case: Case) -> None:
    after = tree(case.after)
    report = json.loads(after.pop("report.json"))
    assert after == tree(case.before)
    assert report["summary"]["migrated"] == 0
    assert report["tasks_modules"] == []
    assert all(site["status"] in ("ignored", "skipped") for site in report["sites"])
