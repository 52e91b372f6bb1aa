"""Issue 21's speed bounds, measured on real apps and on the standard library: is `check` a lint
that feels like ruff?

    .venv/bin/python -m tests.bench.appspeed [--repeat 5] [--apps skyvern,ragflow,dispatch,stdlib]
        [--tool CMD | --checkout DIR] [--jobs N] [--touch median|largest] [--keep DIR]
        [--mirror DIR]

It is a benchmark, never a test (the apps come from the search tool's mirrors, which CI cannot
reach; and a timed test fails on a busy machine). The trees are the ones the real-apps benchmark
fetches (tests/bench/realapps.py prepares them: its pinned commits, Python files only, a probe
Celery app) and the standard library with every file an endpoint (tests/bench/speed.py builds
it). On each tree it times, interleaved so that a noisy machine hurts every command alike, N
times each (commands under a second: 5 runs in a row per repetition, as speed.py does):

- `ruff check --select RUF006 --no-cache --isolated`   the cold baseline
- `celery-codemod check --no-cache`                     cold: <= the tree's bound x ruff
- `celery-codemod check`, warm                          the cache filled by one run before, and
                                                        one endpoint file that holds a call site
                                                        (of median size; --touch largest) touched
                                                        before each run (a comment line
                                                        appended: its summary is rebuilt):
                                                        <= 1.5x `--version` in the same tree
- `celery-codemod --version`                            <= 1.5x `python -c "import click"`
- `python -P -c "import click"`                         the start-up baseline (-P: the current
                                                        directory is not on sys.path, as for a
                                                        console script; in the stdlib tree it
                                                        would import the tree's copies)

and reports the peak memory of the largest process of `check --no-cache` on Skyvern
(<= 150 MiB), sampled as speed.py samples it. Both tools run with their default parallelism
(`-j` as the CPU count) unless `--jobs N` is given (then `check -j N` and ruff with N threads).

A before/after of two checkouts is one command each, with the same interpreter and the same
trees:

    .venv/bin/python -m tests.bench.appspeed --checkout /path/to/before
    .venv/bin/python -m tests.bench.appspeed --checkout /path/to/after

(`--checkout DIR` runs `python -P -m codemod` with DIR first on PYTHONPATH, so that DIR's codemod
is the one imported whatever the editable install points at; `--tool CMD` runs any other command
instead, e.g. `--tool "/other/.venv/bin/celery-codemod"`.) Every command runs with the tree as its
current directory, as pre-commit would run it.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path

from tests.bench.realapps import APPS, App, extract
from tests.bench.speed import QUICK_RUNS, Run, build_corpus, run, stdlib_files

BIN = Path(sys.executable).parent
MIB = 1024 * 1024
# Cold bounds of `check --no-cache` / `ruff check --select RUF006` (issue 21), by tree.
COLD_BOUNDS = {"Skyvern-AI/skyvern": 2.5, "infiniflow/ragflow": 1.5, "Netflix/dispatch": 5.0}
STDLIB = "stdlib"
STDLIB_BOUND = 2.0
WARM_BOUND = 1.5  # warm `check` / `--version`
VERSION_BOUND = 1.5  # `--version` / `python -c "import click"`
MEMORY_TREE = "Skyvern-AI/skyvern"
MEMORY_BOUND_MIB = 150
DEFAULT_APPS = ("skyvern", "ragflow", "dispatch", STDLIB)


@dataclass
class Tree:
    name: str  # the repository (owner/name), or "stdlib"
    label: str  # what the table calls it
    root: Path
    files: int
    cold_bound: float | None
    args: tuple[str, ...]  # what `check` needs on this tree besides its options
    touched: Path | None = None  # the endpoint file appended to before each warm run
    touch_note: str = "a file that spells create_task( or add_task(: check reports no site"


@dataclass
class Measure:
    key: str
    name: str
    argv: list[str]
    env: dict[str, str]
    before: Callable[[], None] | None = None  # run (untimed) before every run of the command
    runs: list[Run] = field(default_factory=list)

    def median(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    def largest(self) -> int:
        return max(r.max_rss for r in self.runs)

    def tree(self) -> int:
        return max(r.tree_rss for r in self.runs)


@dataclass
class Tool:
    argv: list[str]
    env: dict[str, str]
    described: str


# --- the trees ----------------------------------------------------------------------------------


def choose(names: str) -> list[App | str]:
    """`--apps skyvern,ragflow,stdlib` -> the apps of realapps.APPS whose owner/name contains a
    name (case-insensitively), and "stdlib"; in the order given."""
    chosen: list[App | str] = []
    for name in (n.strip().lower() for n in names.split(",") if n.strip()):
        if name == STDLIB:
            chosen.append(STDLIB)
            continue
        found = [a for a in APPS if name in a.repo.lower()]
        if len(found) != 1:
            known = ", ".join(a.repo for a in APPS)
            raise SystemExit(f"--apps: {name!r} names {len(found)} of {known}, or stdlib")
        chosen.append(found[0])
    return chosen


def prepare(which: App | str, work: Path, mirror: Path) -> Tree:
    if which == STDLIB:
        root = work / "stdlib"
        shutil.rmtree(root, ignore_errors=True)
        files, _ = build_corpus(root, stdlib_files(1), all_hit=False)
        label = f"Python {sys.version.split()[0]} standard library, every file an endpoint"
        return Tree(STDLIB, label, root, files, STDLIB_BOUND, ())
    assert isinstance(which, App)
    target = work / which.repo.replace("/", "+")
    shutil.rmtree(target, ignore_errors=True)
    root = extract(which, mirror, target)
    files = sum(1 for _ in root.rglob("*.py"))
    label = f"{which.repo} ({which.commit[:8]})"
    args = ("--celery-app", "celery_probe:celery_app")  # as realapps.py runs it
    return Tree(which.repo, label, root, files, COLD_BOUNDS.get(which.repo), args)


def site_file(tree: Tree, check: list[str], env: dict[str, str], which: str) -> Path | None:
    """A file of the tree that holds a call site `check` reports (None: it reports none): of
    those files, the one of median size (a typical edit) or the largest (the most that
    rebuilding one summary can cost). The run also fills the tree's cache, as the warm runs
    need."""
    found = subprocess.run(
        [*check, "--format", "json", "--exit-zero"],
        cwd=tree.root,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        diagnostics = json.loads(found.stdout)
    except json.JSONDecodeError:
        raise SystemExit(
            f"{tree.name}: `check --format json` printed no JSON (exit {found.returncode}):\n"
            f"{found.stdout[-2000:]}{found.stderr[-2000:]}"
        ) from None
    paths: set[str] = {d["path"] for d in diagnostics if d["code"] in ("CCM001", "CCM002")}
    files = sorted(
        (tree.root / p for p in paths if (tree.root / p).is_file()),
        key=lambda p: (p.stat().st_size, p.as_posix()),
    )
    if not files:
        return None
    tree.touch_note = f"the {which}-size of the {len(files)} files that hold a reported site"
    return files[-1] if which == "largest" else files[(len(files) - 1) // 2]


def fallback_file(tree: Tree) -> Path | None:
    """A file that may hold a site, for a tree where `check` reports none."""
    for path in sorted(tree.root.rglob("*.py")):
        data = path.read_bytes()
        if b"create_task(" in data or b"add_task(" in data:
            return path
    return None


# --- the tool -----------------------------------------------------------------------------------


def the_tool(args: argparse.Namespace) -> Tool:
    if args.checkout is not None:
        checkout = args.checkout.resolve()
        if not (checkout / "codemod" / "__init__.py").is_file():
            raise SystemExit(f"--checkout: no codemod/ package in {checkout}")
        path = os.pathsep.join(p for p in (str(checkout), os.environ.get("PYTHONPATH")) if p)
        argv = shlex.split(args.tool) if args.tool else [args.python, "-P", "-m", "codemod"]
        return Tool(argv, {"PYTHONPATH": path}, f"{shlex.join(argv)} (PYTHONPATH={checkout})")
    argv = shlex.split(args.tool) if args.tool else [str(BIN / "celery-codemod")]
    return Tool(argv, {}, shlex.join(argv))


def compile_package(tool: Tool, python: str) -> str:
    """Compile the codemod package that the tool imports, as pip does when it installs one: an
    editable install under PYTHONDONTWRITEBYTECODE=1 would compile it from source on every run,
    which no user's run does. Returns where the package is (or why it is not known)."""
    where = subprocess.run(
        [python, "-c", "import codemod, os; print(os.path.dirname(codemod.__file__))"],
        cwd=tempfile.gettempdir(),
        env={**os.environ, **tool.env},
        capture_output=True,
        text=True,
        check=False,
    )
    package = where.stdout.strip()
    if where.returncode != 0 or not package:
        return "(not importable by --python: not compiled)"
    subprocess.run([python, "-m", "compileall", "-q", package], check=True)
    return package


# --- measuring ----------------------------------------------------------------------------------


def touch(path: Path) -> Callable[[], None]:
    """Append a new comment line to an endpoint file: its content, hence its cache key, is new
    before every warm run, so that exactly its summary is rebuilt."""
    count = 0

    def append() -> None:
        nonlocal count
        count += 1
        with path.open("a", encoding="utf-8") as handle:
            handle.write(f"# appspeed: touched {count}\n")

    return append


def measures(tree: Tree, tool: Tool, args: argparse.Namespace) -> list[Measure]:
    jobs = ["-j", str(args.jobs)] if args.jobs else []
    ruff_env = {"RAYON_NUM_THREADS": str(args.jobs)} if args.jobs else {}
    check = [*tool.argv, "check", "-q", *jobs, *tree.args, "."]
    ruff = [args.ruff, "check", "--select", "RUF006", "--no-cache", "--isolated", "--exit-zero"]
    found = [
        Measure(
            "ruff", "ruff check --select RUF006 --no-cache --isolated", [*ruff, "-q", "."], ruff_env
        ),
        Measure("cold", "check --no-cache (cold)", [*check[:-1], "--no-cache", "."], tool.env),
        Measure("warm", "check (warm, 1 endpoint file touched)", check, tool.env),
        Measure("version", "celery-codemod --version", [*tool.argv, "--version"], tool.env),
        Measure(
            "click", 'python -P -c "import click"', [args.python, "-P", "-c", "import click"], {}
        ),
    ]
    if tree.touched is not None:
        found[2].before = touch(tree.touched)
    else:
        found.pop(2)
    return found


def one(measure: Measure, cwd: Path) -> None:
    """One repetition of a command: once, or QUICK_RUNS times in a row if it takes under a
    second (a fraction of a second is at the mercy of a shared machine's noise)."""
    for _ in range(QUICK_RUNS):
        if measure.before is not None:
            measure.before()
        measure.runs.append(run(measure.argv, cwd, measure.env))
        if measure.runs[-1].seconds >= 1:
            return


def failed(measure: Measure) -> str | None:
    """Why the last run of a command says nothing of its speed (it failed), or None."""
    last = measure.runs[-1]
    ok = {0, 1} if measure.key in ("cold", "warm") else {0}  # check: 1 = problems found
    if last.returncode in ok:
        return None
    tail = "\n".join(last.output.strip().splitlines()[-5:])
    return f"{measure.name} exited {last.returncode}:\n{tail}"


# --- the report ---------------------------------------------------------------------------------


def table(tree: Tree, found: list[Measure]) -> tuple[list[str], list[bool]]:
    by = {m.key: m for m in found}
    baseline = {
        "cold": ("ruff", tree.cold_bound),
        "warm": ("version", WARM_BOUND),
        "version": ("click", VERSION_BOUND),
    }
    lines = [
        "| command | median s | min s | max s | runs | largest RSS MiB | ratio | bound | met |",
        "|---|---:|---:|---:|---:|---:|---:|---:|:-:|",
    ]
    met: list[bool] = []
    for m in found:
        seconds = [r.seconds for r in m.runs]
        ratio = bound_text = verdict = ""
        if m.key in baseline:
            base_key, bound = baseline[m.key]
            value = m.median() / by[base_key].median()
            ratio = f"{value:.2f}x {by[base_key].key}"
            if bound is not None:
                bound_text = f"<= {bound}x"
                met.append(value <= bound)
                verdict = "yes" if met[-1] else "**NO**"
        lines.append(
            f"| {m.name} | {m.median():.3f} | {min(seconds):.3f} | {max(seconds):.3f} "
            f"| {len(seconds)} | {m.largest() / MIB:.0f} | {ratio} | {bound_text} | {verdict} |"
        )
    return lines, met


def load() -> str:
    one_min, five, fifteen = os.getloadavg()
    return f"load average {one_min:.2f} {five:.2f} {fifteen:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="repetitions (default 5)")
    parser.add_argument(
        "--apps",
        default=",".join(DEFAULT_APPS),
        help="trees: names of realapps.APPS (a part of owner/name) and stdlib, comma-separated "
        f"(default {','.join(DEFAULT_APPS)})",
    )
    parser.add_argument("--tool", help="the command that runs celery-codemod")
    parser.add_argument(
        "--checkout",
        type=Path,
        help="time this checkout's codemod (python -m codemod, with DIR first on PYTHONPATH)",
    )
    parser.add_argument("--python", default=sys.executable, help="the interpreter of the tool")
    parser.add_argument("--ruff", default=str(BIN / "ruff"), help="the ruff to compare with")
    parser.add_argument(
        "--jobs", type=int, help="check -j N and ruff's N threads (default: both tools' own)"
    )
    parser.add_argument(
        "--touch",
        choices=["median", "largest"],
        default="median",
        help="which file holding a site the warm runs touch: the median-size one (default) or "
        "the largest",
    )
    parser.add_argument("--mirror", type=Path, default=Path("/work/.mirror"))
    parser.add_argument("--keep", type=Path, help="build the trees here and keep them")
    args = parser.parse_args(argv)
    chosen = choose(args.apps)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        return bench(args, chosen, args.keep.resolve())
    with tempfile.TemporaryDirectory(prefix="celery-codemod-appspeed-") as tmp:
        return bench(args, chosen, Path(tmp))


def bench(args: argparse.Namespace, chosen: list[App | str], work: Path) -> int:
    tool = the_tool(args)
    package = compile_package(tool, args.python)
    version = subprocess.run(
        [*tool.argv, "--version"],
        env={**os.environ, **tool.env},
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    ruff_version = subprocess.run(
        [args.ruff, "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    cpus = os.cpu_count() or 1
    # Prepared in a child process: a child's peak RSS as the kernel reports it is never below
    # the peak of the process that started it (the memory it had when it forked), and
    # extracting an app holds its whole archive in memory.
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        trees = list(pool.map(prepare, chosen, repeat(work), repeat(args.mirror)))
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    plan: list[tuple[Tree, list[Measure]]] = []
    for tree in trees:
        check = [*tool.argv, "check", "-q", *(["-j", str(args.jobs)] if args.jobs else [])]
        tree.touched = site_file(
            tree, [*check, *tree.args, "."], tool.env, args.touch
        ) or fallback_file(tree)
        plan.append((tree, measures(tree, tool, args)))
    print(f"# issue 21 speed: {time.strftime('%Y-%m-%d %H:%M')}")
    print()
    print(f"- tool: {tool.described}; {version}; package {package}")
    print(f"- ruff: {args.ruff} ({ruff_version}); interpreter {args.python}")
    print(
        f"- machine: {cpus} CPUs, shared with other sessions that run beside this one "
        f"({load()} at the start): every figure is a median of interleaved runs, so that the "
        "noise hurts every command alike; ratios are the measure, seconds are not"
    )
    parallel = f"-j {args.jobs}, ruff {args.jobs} threads" if args.jobs else f"-j {cpus}"
    print(
        f"- peak RSS: the largest process of each command (from wait4), which is never below "
        f"this benchmark's own peak ({own / MIB:.0f} MiB), the floor of that column"
    )
    print(
        f"- {args.repeat} repetitions; commands under 1 s run {QUICK_RUNS} times in a row per "
        f"repetition; both tools at their default parallelism ({parallel})"
    )
    print(flush=True)
    problems: list[str] = []
    for rep in range(args.repeat):
        for tree, found in plan:
            for measure in found:
                one(measure, tree.root)
                why = failed(measure)
                if why and f"{tree.name}: {why}" not in problems:
                    problems.append(f"{tree.name}: {why}")
        print(f"repetition {rep + 1}/{args.repeat} done ({load()})", file=sys.stderr, flush=True)
    verdicts: list[bool] = []
    for tree, found in plan:
        touched = tree.touched.relative_to(tree.root).as_posix() if tree.touched else "none"
        print(f"## {tree.label}: {tree.files:,} files")
        print()
        size = tree.touched.stat().st_size / 1000 if tree.touched else 0
        print(
            f"warm runs touch `{touched}` ({size:,.0f} kB, {tree.touch_note}; a comment line "
            "appended before each run)"
        )
        print()
        lines, met = table(tree, found)
        verdicts += met
        print("\n".join(lines))
        print()
    by_tree = {tree.name: found for tree, found in plan}
    if MEMORY_TREE in by_tree:
        cold = next(m for m in by_tree[MEMORY_TREE] if m.key == "cold")
        ruff = next(m for m in by_tree[MEMORY_TREE] if m.key == "ruff")
        peak = cold.largest() / MIB
        verdicts.append(peak <= MEMORY_BOUND_MIB)
        print(
            f"Peak memory of the largest process of `check --no-cache` on {MEMORY_TREE}: "
            f"{peak:.0f} MiB (bound <= {MEMORY_BOUND_MIB} MiB: "
            f"{'met' if verdicts[-1] else '**NOT MET**'}); the whole process tree at its "
            f"sampled peak {cold.tree() / MIB:.0f} MiB (proportional set size); ruff's "
            f"largest process {ruff.largest() / MIB:.0f} MiB."
        )
    else:
        print(f"Peak memory: not measured ({MEMORY_TREE} is not among --apps).")
    print()
    print(f"Bounds met: {sum(verdicts)} of {len(verdicts)} ({load()} at the end).")
    for problem in problems:
        print(f"\nWARNING: {problem}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
