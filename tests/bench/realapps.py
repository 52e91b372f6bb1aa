"""Real FastAPI and Flask apps, measured: what `migrate` finds, migrates and skips (by reason) on
each, how fast `check` is against `ruff check --select RUF006` on the larger ones, and how the
sites it reports compare with a hand triage of them (`expected_sites.json`).

    .venv/bin/python -m tests.bench.realapps [--mirror DIR] [--repeat 5] [--keep DIR] [--sites]
        [--app OWNER/NAME ...] [--expected FILE] [--tool COMMAND]
    .venv/bin/python -m tests.bench.realapps --derive TRIAGE.json [--mirror DIR]

It is a benchmark, not a test: the apps come from the search tool's `fetch` (bare git
directories `DIR/<owner>+<name>/repo`, default /work/.mirror), which CI cannot reach. Each app is
archived at its pinned commit (its Python files and pyproject.toml only) into a fresh folder,
given a probe Celery app (`celery_probe.py`, so that no app needs one of its own), and migrated
with `--report report.json`. Nothing of the apps is kept or committed.

Expectations: `expected_sites.json` (beside this script) lists, per app, call sites triaged by
hand (issue 24: every site of the thread, executor, `to_thread` and response-`BackgroundTask`
forms) with the verdict the tool should give, in its vocabulary: `migrated`, `ignored`,
`skipped:<reason>`, or `absent` (a site in no web process, that the tool should not report).
After the counts, each app with expectations gets a table of its disagreements, false rewrites
(the tool migrates what must not move) first; the run exits with status 1 if there is any.
`--derive` writes that file from the triage's `apps.json` (paths made relative to each app's
root, the verdicts put in the tool's words, the call read from the line).
"""

from __future__ import annotations

import argparse
import ast
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
from typing import Any

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
    # Flask apps (issue 24), each with its thread and executor sites triaged by hand in
    # expected_sites.json.
    # Flask app factory and Flask-SQLAlchemy; its admin cache-refresh jobs start threads that are
    # handed the Flask app object (`app_arg=app._get_current_object()`), progress kept in the DB
    App("ets-berkeley-edu/boac", "004cb1f1e5857abaf04c2e70210c1b33867f12d3"),
    # boac's sibling: `export_evaluations` is the cleanest Flask-app-context candidate (its only
    # argument that is no data is the app); an APScheduler scheduler started by the factory
    App("ets-berkeley-edu/damien", "5595ed63f250db9f67d22be7efff248f4f6ff298"),
    # blueprints built by `construct_blueprint(datastore)`: every request-path thread targets a
    # closure over the in-memory datastore; joined threads, threads kept in lists and polled,
    # threads started by the app factory
    App("dgtlmoon/changedetection.io", "fce24780e74199bf34c62a0d90188cc2fc12f061"),
    # web-side jobs administer the host (apt/pip as root, template regeneration, frontend
    # restarts: they must stay on the web host), and a hardware daemon of its own with 82
    # threads that no web request starts
    App("kizniche/Mycodo", "6972814b1bc423441f38146b7d9b8bcc7f9045e1"),
    # the Flask Mega-Tutorial's `send_email` thread (`args=(current_app._get_current_object(),
    # msg)`), the idiom copied into countless Flask apps
    App("miguelgrinberg/microblog", "a975ef64864354867c88e0ed3a17ba7d17dca752"),
    # `Thread(target=self.retrieve_idp_data())`: the target is a call's result (the work already
    # ran; the thread runs None)
    App("PowerDNS-Admin/PowerDNS-Admin", "742dd103e63d2e57e387e3487980c01d290e1cc2"),
    # `self._pool.submit(self._send_to_smtp, ...)` with the future dropped, on a long-lived
    # executor: a bound method, an email message, a branch nothing enables
    App("simple-login/app", "dbc45fcce4e8e6b4fa615cc729ca95a67bf75266"),
    # Apps beyond the hand triage, each for a shape it showed (fixed 2026-12-03; counts only):
    # a webhook job that sends through a `metaclass=Singleton` event manager whose queue the
    # web process's threads consume, and request parts (`query_params`, `form()`) as arguments
    App("jxxghp/MoviePilot", "bab1f73480bf469936288240ae7c567c52de6828"),
    # aiohttp websockets (`WebSocketResponse()`) handed to jobs; tasks gathered from a list
    App("GNS3/gns3-server", "713dbb7f4513417d62aba740bbeac1e94fdc8ade"),
    # a cache cleaner handed the folder a handler writes its cache to
    App("hanxi/xiaomusic", "e159329b3fabff97a9a6cafa9e149eda4d31b3b6"),
    # settings an admin API changes at run time (`setattr(settings, ...)`)
    App("lnbits/lnbits", "7d98c6b0808efab3edafc21310ec34d1c38c23df"),
    # a nested generator's own `task` beside the handler's (the last commit with Python)
    App("letta-ai/letta", "56ba9c25552605eec89de8ed3dc6394b625c1993"),
    # a telemetry emitter most of whose 74 callers are route handlers, the rest SDK functions
    App("topoteretes/cognee", "a8f9760bb6da90a9956b3be77c0d0534134f533a"),
    # webhook jobs that read the installation id the handler put in starlette_context's
    # per-request `context`
    App("qodo-ai/pr-agent", "0e37fc84fcc8207561e64eef8f7f634fb57e8447"),
)
PROBE = 'import celery\n\ncelery_app = celery.Celery("probe")\n'
EXPECTED = Path(__file__).with_name("expected_sites.json")
# The calls of issue 24's forms, as the report names them; a `create_task` counts as one when it
# is handed `asyncio.to_thread(...)`.
NEW_FORMS = frozenset(
    {"threading.Thread", "loop.run_in_executor", "Executor.submit", "BackgroundTask"}
)
CREATE_TASK = frozenset({"asyncio.create_task", "asyncio.ensure_future", "loop.create_task"})
MIGRATED = "migrated"
SILENT = frozenset({"ignored", "absent"})  # no diagnostic either way
# A comparison's groups: the triaged sites, each in one of the first five; then the sites of the
# new forms that the tool reports and the triage does not list.
TRIAGED = ("false", "missed", "other", "silent", "agree")
Site = dict[str, Any]
Found = dict[str, list[tuple[Site, str, str]]]


def extract(app: App, mirror: Path, target: Path) -> Path:
    git_dir = mirror / app.repo.replace("/", "+") / "repo"
    target.mkdir(parents=True)
    # `git archive` refuses a pathspec that matches nothing: some apps have no pyproject.toml.
    names = subprocess.run(
        ["git", f"--git-dir={git_dir}", "ls-tree", "-r", "--name-only", app.commit],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    specs = [":(glob)**/*.py"]
    if any(name.rsplit("/", 1)[-1] == "pyproject.toml" for name in names):
        specs.append(":(glob)**/pyproject.toml")
    archive = subprocess.run(
        ["git", f"--git-dir={git_dir}", "archive", app.commit, "--", *specs],
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


def verdict(site: Site) -> str:
    """A reported site's verdict in the expectations' words: `skipped:<reason>` or the status."""
    return f"skipped:{site['reason']}" if site["status"] == "skipped" else site["status"]


# The triage's own names for what the tool reports under another: the web process's memory is
# part of `needs-startup` (its shared-memory message).
TRIAGE_REASONS = {"web-memory": "needs-startup"}
# The triage's letters for the forms, as the report's `call` (a row's line says which, where the
# letter covers two: `threading.Timer` is a look-alike the tool does not detect; a hand-built
# `BackgroundTasks()` on a response is triaged at its `add_task` line).
FORM_CALLS = {
    "a": "threading.Thread",
    "b": "loop.run_in_executor",
    "c": "Executor.submit",
    "d": "asyncio.create_task",
    "e": "BackgroundTask",
}


def derive(triage: Path, mirror: Path) -> dict[str, Any]:
    """The expectations, from the hand triage's `apps.json` (see the module's docstring). The
    triage numbers a site by the first line of its call (`ast`'s lineno: for a thread, the line
    of `Thread(`), as the report does; every line is read back to check it spells the call."""
    apps = []
    for entry in json.loads(triage.read_text(encoding="utf-8")):
        git_dir = mirror / entry["repo"].replace("/", "+") / "repo"
        prefix = "" if entry["root"] == "." else entry["root"].rstrip("/") + "/"
        sources: dict[str, list[str]] = {}
        sites = []
        for row in entry["sites"]:
            if row["path"] not in sources:
                shown = subprocess.run(
                    ["git", f"--git-dir={git_dir}", "show", f"{entry['commit']}:{row['path']}"],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                sources[row["path"]] = shown.stdout.splitlines()
            line = sources[row["path"]][row["line"] - 1]
            call = FORM_CALLS[row["form"]]
            if row["form"] == "a" and "Thread(" not in line:
                call = "threading.Timer"
            elif row["form"] == "e" and "add_task(" in line:
                call = "BackgroundTasks.add_task"
            elif row["form"] == "d" and "ensure_future(" in line:
                call = "asyncio.ensure_future"
            spelled = {"threading.Timer": "Timer(", "BackgroundTasks.add_task": "add_task("}.get(
                call, call.rsplit(".", 1)[-1] + "("
            )
            if spelled not in line and not (row["form"] == "d" and "create_task(" in line):
                raise SystemExit(f"{entry['repo']} {row['path']}:{row['line']}: no {spelled}")
            if not row["path"].startswith(prefix):
                raise SystemExit(f"{entry['repo']} {row['path']}: outside the root {prefix}")
            if row["verdict"] == "migrate":
                expected = MIGRATED
            elif row["verdict"] == "ignored":
                expected = "ignored"
            elif row["reason"] == "not-request-path":
                expected = "absent"
            else:
                expected = f"skipped:{TRIAGE_REASONS.get(row['reason'], row['reason'])}"
            triaged = row["verdict"] + (
                f" ({row['reason']})" if row["verdict"] == "ignored" else f": {row['reason']}"
            )
            sites.append(
                {
                    "path": row["path"][len(prefix) :],
                    "line": row["line"],
                    "call": call,
                    "function": row["function"],
                    "on_path": row["on_path"],
                    "expected": expected,
                    "triage": "migrate" if row["verdict"] == "migrate" else triaged,
                    "why": row["why"],
                }
            )
        sites.sort(key=lambda site: (site["path"], site["line"]))
        apps.append(
            {
                "repo": entry["repo"],
                "commit": entry["commit"],
                "root": entry["root"],
                "framework": entry["framework"],
                "sites": sites,
            }
        )
    return {
        "about": "Call sites of issue 24's forms (threading.Thread/Timer, loop.run_in_executor, "
        "Executor.submit, create_task(asyncio.to_thread(...)), a response's BackgroundTask or "
        "hand-built BackgroundTasks) in the real apps of tests/bench/realapps.py, triaged by "
        "hand, with the verdict the tool should give. Written by `python -m "
        "tests.bench.realapps --derive apps.json` from the triage's apps.json.",
        "fields": {
            "path": "relative to the app's root (the folder the tool runs on), with /",
            "line": "the first line of the call (for a thread, the line of `Thread(`), as the "
            "report's `line`",
            "call": "the report's `call` value; threading.Timer: a look-alike the tool does "
            "not detect",
            "expected": "migrated | ignored | skipped:<reason> | absent (a site in no web "
            "process: daemon, CLI, scripts; the tool should not report it)",
            "triage": "the triage's own verdict (skip: web-memory is the tool's needs-startup; "
            "skip: not-request-path is absent)",
            "why": "the triage's reasons, unchanged",
        },
        "apps": apps,
    }


def creates_thread_task(root: Path, site: Site) -> bool:
    """Whether a reported `create_task` site is handed `asyncio.to_thread(...)` (in the original
    source under `root`)."""
    try:
        tree = ast.parse((root / site["path"]).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return False
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and node.lineno == site["line"]
            and node.args
            and isinstance(node.args[0], ast.Call)
            and ast.unparse(node.args[0].func).endswith("to_thread")
        ):
            return True
    return False


def compare(expected: dict[str, Any], sites: list[Site], source: Path) -> Found:
    """Each triaged site with the tool's verdict for it, sorted into: false rewrites, missed
    migrations, other disagreements, silent either way (ignored against not reported), agreements;
    and the sites of the new forms that the tool reports and the triage does not list."""
    reported: dict[tuple[str, int], list[Site]] = {}
    for site in sites:
        reported.setdefault((site["path"], site["line"]), []).append(site)
    found: Found = {key: [] for key in (*TRIAGED, "untriaged")}
    for want in expected["sites"]:
        theirs = [verdict(s) for s in reported.pop((want["path"], want["line"]), [])]
        got = want["expected"] if want["expected"] in theirs else (theirs or ["absent"])[0]
        if got == want["expected"]:
            key = "agree"
        elif got == MIGRATED:
            key = "false"
        elif want["expected"] == MIGRATED:
            key = "missed"
        elif got in SILENT and want["expected"] in SILENT:
            key = "silent"
        else:
            key = "other"
        found[key].append((want, want["expected"], got))
    for group in reported.values():
        for site in group:
            call = site.get("call", "")
            if call in NEW_FORMS or (call in CREATE_TASK and creates_thread_task(source, site)):
                found["untriaged"].append((site, "(not triaged)", verdict(site)))
    return found


def cell(text: str, limit: int | None = None) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


def context(source: Path, path: str, line: int, before: int = 2, after: int = 5) -> list[str]:
    try:
        lines = (source / path).read_text(encoding="utf-8").splitlines()
    except (OSError, ValueError):
        return []
    first, last = max(1, line - before), min(len(lines), line + after)
    return [f"    {n:5}{'>' if n == line else ' '} {lines[n - 1]}" for n in range(first, last + 1)]


LABELS = {
    "false": "**FALSE REWRITE**",
    "missed": "missed migration",
    "other": "disagrees",
    "untriaged": "not triaged",
    "silent": "silent either way",
    "agree": "agrees",
}


def print_comparison(app: App, found: Found, source: Path, everything: bool) -> None:
    """One app's sites, expected → reported: false rewrites first, then missed migrations, other
    disagreements, the new-form sites that the triage does not list; with `everything`, the
    sites that are silent either way (ignored against not reported: no disagreement, neither
    says a word) and those that agree."""
    triaged = sum(len(found[k]) for k in TRIAGED)
    counts = ", ".join(f"{LABELS[k].strip('*')} {len(found[k])}" for k in LABELS)
    print(f"\n### {app.repo} ({app.commit[:8]}): {triaged} triaged sites; {counts}\n")
    if found["false"]:
        print(f"!!! {len(found['false'])} FALSE REWRITE(S) in {app.repo} !!!\n")
    keys = ["false", "missed", "other", "untriaged"] + (["silent", "agree"] if everything else [])
    rows = [(key, row) for key in keys for row in found[key]]
    if not rows:
        print("(no disagreement)")
        return
    print("| | site | call | expected → tool | why (triage) |")
    print("|---|---|---|---|---|")
    for key, (site, want, got) in rows:
        why = cell(site.get("why", ""), None if key in ("false", "missed") else 110)
        print(
            f"| {LABELS[key]} | {site['path']}:{site['line']} | {site.get('call', '')} | "
            f"{want} → {got} | {why} |"
        )
    for site, want, got in found["false"] + [r for r in found["untriaged"] if r[2] == MIGRATED]:
        print(f"\n{site['path']}:{site['line']} ({want} → {got}):")
        print("\n".join(context(source, site["path"], site["line"])))


def timing(root: Path, repeat: int) -> tuple[float, float]:
    """Medians of `check` (of the tool that --tool names, for a before/after) and of `ruff check
    --select RUF006`, interleaved, on the same tree."""
    ours: list[float] = []
    ruff: list[float] = []
    commands = (
        (
            ours,
            [
                *TOOL,
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


def tool_package() -> Path | None:
    """The folder of the `codemod` package that this environment's tool imports (the installed
    one, not this checkout's when the script runs from another worktree)."""
    with tempfile.TemporaryDirectory() as neutral:
        found = subprocess.run(
            [sys.executable, "-c", "import codemod; print(codemod.__file__)"],
            cwd=neutral,
            capture_output=True,
            text=True,
            check=False,
        )
    return Path(found.stdout.strip()).parent if found.returncode == 0 else None


def describe(package: Path) -> str:
    """Which commit of its checkout the tool's package is at, and whether it is changed there."""
    head = subprocess.run(
        ["git", "-C", str(package), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    if head.returncode != 0:
        return f"{package} (not in a git checkout)"
    changed = subprocess.run(
        ["git", "-C", str(package), "status", "--porcelain", "--", "."],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return f"{package} at {head.stdout.strip()}{' with changes' if changed else ''}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=Path("/work/.mirror"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="keep the migrated copies here")
    parser.add_argument(
        "--sites", action="store_true", help="list every site found (and every triaged one)"
    )
    parser.add_argument(
        "--tool", help="the command that runs celery-codemod (default: this environment's)"
    )
    parser.add_argument(
        "--app",
        action="append",
        help="only this app (owner/name, or name; may be repeated)",
    )
    parser.add_argument(
        "--expected", type=Path, default=EXPECTED, help="the triaged sites to compare with"
    )
    parser.add_argument(
        "--derive",
        type=Path,
        metavar="APPS_JSON",
        help="write --expected from the hand triage's apps.json, and stop",
    )
    args = parser.parse_args()
    if args.derive:
        derived = derive(args.derive, args.mirror)
        text = json.dumps(derived, indent=1, ensure_ascii=False) + "\n"
        args.expected.write_text(text, encoding="utf-8")
        total = sum(len(app["sites"]) for app in derived["apps"])
        print(f"{args.expected}: {total} sites of {len(derived['apps'])} apps")
        return
    if args.tool:
        TOOL[:] = args.tool.split()
    apps: tuple[App, ...] = APPS
    if args.app:
        wanted = {name.lower() for name in args.app}
        apps = tuple(
            a for a in APPS if a.repo.lower() in wanted or a.repo.split("/")[1].lower() in wanted
        )
    expectations = {}
    if args.expected.is_file():
        for entry in json.loads(args.expected.read_text(encoding="utf-8"))["apps"]:
            expectations[entry["repo"]] = entry
    # As installed (see speed.py): an editable install under PYTHONDONTWRITEBYTECODE=1 would
    # compile our modules from source again on every run, which no user's run does.
    package = tool_package() or Path(__file__).resolve().parents[2] / "codemod"
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)
    print(f"tool: {' '.join(TOOL)}; package {describe(package)}")
    work = Path(tempfile.mkdtemp(prefix="realapps-"))
    rows, speed, compared = [], [], []
    try:
        for app in apps:
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
            expected = expectations.get(app.repo)
            if expected is not None and expected["commit"] != app.commit:
                print(f"  {app.repo}: triaged at {expected['commit'][:8]}, not compared")
            elif expected is not None:
                sites: list[Site] = result["sites"]  # type: ignore[assignment]
                compared.append((app, compare(expected, sites, fresh), fresh))
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
        false_rewrites = 0
        if compared:
            print(f"\n## Against the triaged sites ({args.expected.name})")
            for app, found, fresh in compared:
                print_comparison(app, found, fresh, args.sites)
                false_rewrites += len(found["false"])
            print(
                "\n| app | triaged | agree | silent either way | FALSE REWRITES | "
                "missed migrations | other disagreements | not triaged (new forms) |"
            )
            print("|---|---:|---:|---:|---:|---:|---:|---:|")
            for app, found, _ in compared:
                triaged = sum(len(found[k]) for k in TRIAGED)
                print(
                    f"| {app.repo} | {triaged} | {len(found['agree'])} | {len(found['silent'])} | "
                    f"{len(found['false'])} | {len(found['missed'])} | {len(found['other'])} | "
                    f"{len(found['untriaged'])} |"
                )
            print(f"\nfalse rewrites: {false_rewrites}")
        if args.keep:
            shutil.copytree(work, args.keep, dirs_exist_ok=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if false_rewrites:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
