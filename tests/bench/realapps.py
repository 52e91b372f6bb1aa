"""Real FastAPI apps, measured: what `migrate` finds, migrates and skips (by reason) on each, and
how fast `check` is against `ruff check --select RUF006` on the larger ones.

    .venv/bin/python -m tests.bench.realapps [--mirror DIR] [--repeat 5] [--keep DIR]

It is a benchmark, not a test: the apps come from the search tool's `fetch` (bare git
directories `DIR/<owner>+<name>/repo`, default /work/.mirror), which CI cannot reach. Each app is
archived at its pinned commit (its Python files and pyproject.toml only) into a fresh folder,
given a probe Celery app (`celery_probe.py`, so that no app needs one of its own), and migrated
with `--report report.json`. Nothing of the apps is kept or committed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent
# The command that runs the tool: --tool replaces it (e.g. an older checkout, for a before/after).
TOOL = [str(BIN / "celery-codemod")]


@dataclass(frozen=True)
class App:
    repo: str  # owner/name
    commit: str
    root: str = "."  # the project root inside the repository (where its imports start)
    timed: bool = False  # check's speed against ruff's on this tree


APPS = (
    App("Netflix/dispatch", "dd2837e82a0bf5565b1b4b4b91ea30b7262d4061"),
    App("mealie-recipes/mealie", "b5643a9399465d8b4ea339e7a6639df2d697741b"),
    App("khoj-ai/khoj", "ae229ca894c0b80ad84664afcfdde523b5e87057"),
    App("Skyvern-AI/skyvern", "07222e7a7caae79aacd5908c30e4a4445fce5f9b", timed=True),
    App("infiniflow/ragflow", "b1b8cd623520b97b2526ffb1514bd812bdcc7eaf", timed=True),
    # just before its team moved 18 add_task jobs to Celery by hand
    App("MODSetter/SurfSense", "031dc055da6310be4663409c54150ba4f4721b83", "surfsense_backend"),
    # SQLModel app: dependencies whose values are data (issue 14)
    App("ProjectTech4DevAI/kaapi-backend", "448a85176ea88896f803f5ef369c7a2685fdb6d9", "backend"),
    # its report job writes the files that the app serves (the web host's disk), and its
    # modules import each other as if backend/ were on sys.path (it puts it there itself)
    App("assafelovic/gpt-researcher", "5d84d2f5553e70a2765a8ff3a0d2672d60437ce8"),
    # its backtest and pairlist jobs keep their state in a class (`ApiBG`) that the status
    # endpoints read: the web process's memory
    App("freqtrade/freqtrade", "c9ae5e1e9ff25bb55dd61f5e5519f7c479291edb"),
    # model workers whose jobs release a semaphore of the web process (module-level objects
    # that `if __name__ == "__main__":` fills)
    App("lm-sys/FastChat", "0e6d3e4beaab66f4d3f93db72541a4abab8af28d"),
)
PROBE = 'import celery\n\ncelery_app = celery.Celery("probe")\n'


def extract(app: App, mirror: Path, target: Path) -> Path:
    git_dir = mirror / app.repo.replace("/", "+") / "repo"
    target.mkdir(parents=True)
    archive = subprocess.run(
        [
            "git",
            f"--git-dir={git_dir}",
            "archive",
            app.commit,
            "--",
            ":(glob)**/*.py",
            ":(glob)**/pyproject.toml",
        ],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    root = target / app.root
    (root / "celery_probe.py").write_text(PROBE, encoding="utf-8")
    return root


def codemod(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TOOL, *args], cwd=cwd, capture_output=True, text=True, check=False)


def measure(app: App, root: Path) -> dict[str, object]:
    files = sum(1 for _ in root.rglob("*.py"))
    result = codemod(
        "migrate",
        "--root",
        ".",
        "--celery-app",
        "celery_probe:celery_app",
        "--report",
        "report.json",
        "-q",
        ".",
        cwd=root,
    )
    report_path = root / "report.json"
    if not report_path.is_file():
        raise SystemExit(f"{app.repo}: no report (exit {result.returncode}): {result.stderr}")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    reasons = Counter(s["reason"] for s in report["sites"] if s["status"] == "skipped")
    return {
        "files": files,
        "summary": report["summary"],
        "reasons": reasons,
        "sites": report["sites"],
        "exit": result.returncode,
    }


def timing(root: Path, repeat: int) -> tuple[float, float]:
    """Medians of `check` and of `ruff check --select RUF006`, interleaved, on the same tree."""
    ours: list[float] = []
    ruff: list[float] = []
    commands = (
        (
            ours,
            [
                str(BIN / "celery-codemod"),
                "check",
                "-q",
                "--celery-app",
                "celery_probe:celery_app",
                ".",
            ],
        ),
        (
            ruff,
            [
                str(BIN / "ruff"),
                "check",
                "--no-cache",
                "--isolated",
                "--select",
                "RUF006",
                "--exit-zero",
                "-q",
                ".",
            ],
        ),
    )
    for _ in range(repeat):
        for times, command in commands:
            start = time.perf_counter()
            subprocess.run(command, cwd=root, capture_output=True, check=False)
            times.append(time.perf_counter() - start)
    return statistics.median(ours), statistics.median(ruff)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=Path("/work/.mirror"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="keep the migrated copies here")
    parser.add_argument("--sites", action="store_true", help="list every site found")
    parser.add_argument(
        "--tool", help="the command that runs celery-codemod (default: this environment's)"
    )
    args = parser.parse_args()
    if args.tool:
        TOOL[:] = args.tool.split()
    # As installed (see speed.py): an editable install under PYTHONDONTWRITEBYTECODE=1 would
    # compile our modules from source again on every run, which no user's run does.
    package = Path(__file__).resolve().parents[2] / "codemod"
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)
    work = Path(tempfile.mkdtemp(prefix="realapps-"))
    rows, speed = [], []
    try:
        for app in APPS:
            fresh = extract(app, args.mirror, work / app.repo.replace("/", "+") / "timed")
            if app.timed:
                speed.append((app, *timing(fresh, args.repeat)))
            root = extract(app, args.mirror, work / app.repo.replace("/", "+") / "migrated")
            result = measure(app, root)
            rows.append((app, result))
            if args.sites:
                for site in result["sites"]:  # type: ignore[attr-defined]
                    why = f" ({site['reason']})" if site["reason"] else ""
                    print(f"  {app.repo} {site['path']}:{site['line']} {site['status']}{why}")
        print("| app (commit) | files | sites | migrated | ignored | skipped, by reason |")
        print("|---|---:|---:|---:|---:|---|")
        for app, result in rows:
            summary = result["summary"]
            reasons = ", ".join(f"{r} {n}" for r, n in sorted(result["reasons"].items()))
            print(
                f"| {app.repo} ({app.commit[:8]}) | {result['files']} | {summary['sites']} | "
                f"{summary['migrated']} | {summary['ignored']} | {summary['skipped']}"
                f"{': ' + reasons if reasons else ''} |"
            )
        if speed:
            print("\n| tree | check | ruff --select RUF006 | ratio |")
            print("|---|---:|---:|---:|")
            for app, ours, ruff in speed:
                print(f"| {app.repo} | {ours:.3f} s | {ruff:.3f} s | {ours / ruff:.2f}x |")
        if args.keep:
            shutil.copytree(work, args.keep, dirs_exist_ok=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
