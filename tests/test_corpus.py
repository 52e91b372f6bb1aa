"""Corpus smoke test (issue 5, item 3): `migrate` over a copy of the installed standard library,
with every file treated as an endpoint module.

The copy holds the stdlib's `.py` files, without its test suites (test/, tests/, idlelib/idle_test,
lib2to3's tests), site-packages, and files that are not valid Python of this interpreter on
purpose (lib2to3 and test data that older grammar examples live in are excluded with the tests).
A Celery app module is added so that the plan has one. The stdlib itself has no background call
site of the kind this tool migrates, so one is injected at the end of every tenth file (sorted
order, when its path is a dotted module name: see test_bad_input.test_module_path_not_importable):
a module-level coroutine and a function that fire-and-forgets it, which exercises the
rewrite and import placement on real module headers (docstrings, `__future__`, `__all__`,
conditional imports). Asserted: no crash (exit 0 or 123, no
traceback), every written file compiles, no file without a background call site changes by a
single byte, and a second run changes nothing. The counts are printed (`pytest -s` shows them).

It runs on the whole stdlib (about 1,900 files), with `-j 2` so that CI machines with few cores
take the same time as a developer's; it takes about a minute.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from collections import Counter
from pathlib import Path

from tests.golden import SKIP_NAMES

REPO = Path(__file__).resolve().parent.parent
SKIP_DIRS = {"test", "tests", "idle_test", "lib2to3", "site-packages", "dist-packages"}
SKIP_DIRS |= {"__pycache__", "ensurepip"}
CELERY_APP = 'from celery import Celery\n\ncelery_app = Celery("corpus", include=[])\n'


INJECT_EVERY = 10
INJECTED = """

async def _corpus_job_background(item_id: int, label: str = "x") -> None:
    pass


async def _corpus_endpoint(item_id: int) -> None:
    import asyncio as _corpus_asyncio

    _corpus_asyncio.create_task(_corpus_job_background(item_id, label="corpus"))
"""


def copy_stdlib(target: Path) -> tuple[int, set[str]]:
    """Copy the stdlib; inject one call site into every INJECT_EVERY-th file (sorted order)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    count = 0
    injected: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(stdlib):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        base = Path(dirpath)
        for name in sorted(filenames):
            if name.endswith(".py"):
                rel = Path("lib") / (base / name).relative_to(stdlib)
                destination = target / rel
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(base / name, destination)
                importable = all(part.isidentifier() for part in rel.with_suffix("").parts)
                if count % INJECT_EVERY == 0 and importable:
                    data = destination.read_bytes()
                    newline = b"\r\n" if b"\r\n" in data else b"\n"
                    ending = b"" if not data or data.endswith(b"\n") else newline
                    extra = INJECTED.replace("\n", newline.decode()).encode("ascii")
                    destination.write_bytes(data + ending + extra)
                    injected.add(rel.as_posix())
                count += 1
    return count, injected


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file() and not SKIP_NAMES & set(path.parts)
    }


def run(root: Path, report: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "codemod", "migrate", "-j", "2", "--report", report]
    return subprocess.run(
        command,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )


def test_stdlib_corpus(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    files, injected = copy_stdlib(root)
    (root / "corpus_app").mkdir()
    (root / "corpus_app" / "__init__.py").write_text("")
    (root / "corpus_app" / "celery_app.py").write_text(CELERY_APP)
    (root / "pyproject.toml").write_text(
        "[tool.celery-codemod]\n"
        'endpoint-globs = ["lib/**/*.py"]\n'
        "exclude = []\n"
        'tasks-package = "corpus_app.tasks"\n'
        'celery-app = "corpus_app.celery_app:celery_app"\n'
        "allow-unverified-args = true\n"
    )
    before = snapshot(root)

    start = time.monotonic()
    first = run(root, "../first.json")
    elapsed = time.monotonic() - start
    assert first.returncode in (0, 123), first.stderr[-3000:]
    assert "Traceback" not in first.stderr, first.stderr[-3000:]
    report = json.loads((tmp_path / "first.json").read_text("utf-8"))

    after = snapshot(root)
    changed = {name for name in after if after[name] != before.get(name)}
    with_sites = {site["path"] for site in report["sites"]}
    support = {name for name in changed if name.startswith("corpus_app/")}
    # no file without a background call site changes by a single byte
    assert changed - support <= with_sites, sorted(changed - support - with_sites)
    assert set(before) <= set(after)  # nothing deleted
    for name in changed:
        compile(after[name], name, "exec", dont_inherit=True)  # every written file compiles
    migrated_files = {s["path"] for s in report["sites"] if s["status"] == "migrated"}
    failed_files = {e["path"] for e in report["errors"]}
    assert changed - support == migrated_files - failed_files
    error_lines = [line for line in first.stderr.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == len(report["errors"])

    # the injected sites: each migrated (its file rewritten) or its file reported as an error
    injected_sites = {s["path"]: s for s in report["sites"] if "_corpus_" in (s["function"] or "")}
    assert set(injected_sites) == injected - failed_files, sorted(injected ^ set(injected_sites))
    assert all(s["status"] == "migrated" for s in injected_sites.values())
    for name in injected - failed_files:
        assert b"corpus_job_task.delay" in after[name], name

    statuses = Counter(site["status"] for site in report["sites"])
    reasons = Counter(site["reason"] for site in report["sites"] if site["reason"])
    print(
        f"\nstdlib corpus: {files} files ({len(injected)} with an injected site),"
        f" {len(report['sites'])} sites in {len(with_sites)} files"
        f"; by status {dict(sorted(statuses.items()))}; skipped by reason"
        f" {dict(sorted(reasons.items()))}; {len(changed)} files written"
        f" ({len(support)} support files); {len(report['errors'])} errors; {elapsed:.1f} s"
    )
    for error in report["errors"]:
        print(f"  error: {error['path']}: {error['message']}")

    second = run(root, "../second.json")
    assert second.returncode in (0, 123), second.stderr[-3000:]
    assert "Traceback" not in second.stderr
    assert snapshot(root) == after  # the second run is a no-op
    again = json.loads((tmp_path / "second.json").read_text("utf-8"))
    assert again["summary"]["migrated"] == 0
