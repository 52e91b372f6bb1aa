"""Speed and memory of `check` and `migrate` on the standard library, against grep, ruff and LibCST.

    python -m tests.bench.speed [--repeat N] [--jobs N] [--quick]

Builds two corpora in a temporary folder: the standard library as installed (without its tests,
idlelib, lib2to3, turtledemo, site-packages) plus a tiny Celery app and a pyproject.toml that makes
every file an endpoint module; and an "all-hit" copy where every module also gains a module-level
coroutine and an endpoint that starts it with `asyncio.create_task`. Then times, N times each and
interleaved so that a noisy machine hurts every command alike (a command under a second, 5 times
in a row per repetition): `grep -rl create_task` (the floor),
`ruff check --select RUF006` (the peer), LibCST parse and parse + regenerate of every file with the
same number of processes (the floor for `migrate`), `ast.parse` of every file likewise (the floor
of any `ast`-based analysis), CPython's parser alone likewise (`symtable`: no Python tree; the
floor of anything that reports every syntax error), `celery-codemod check` on both corpora and
`celery-codemod migrate` on a fresh copy of the all-hit corpus. Prints medians, the peak memory
of each command (the largest process, and the whole process tree's proportional set size
sampled every 20 ms), and the
ratios that issue 6 sets as targets.
"""

from __future__ import annotations

import _symtable
import argparse
import ast
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent
QUICK_RUNS = 5  # runs per repetition of a command that takes less than a second
EXCLUDED_DIRS = frozenset(
    {"test", "tests", "idle_test", "idlelib", "lib2to3", "turtledemo", "site-packages"}
)
HIT = '''

import asyncio


async def _bench_job(x: int) -> None:
    """A background job (added by the benchmark)."""


async def _bench_endpoint(x: int) -> None:
    asyncio.create_task(_bench_job(x))
'''
CELERY_APP = 'from celery import Celery\n\ncelery_app = Celery("bench")\n'
PYPROJECT = '[tool.celery-codemod]\nendpoint-globs = ["**/*.py"]\n'


# --- corpora ------------------------------------------------------------------------------------


def stdlib_files(step: int) -> list[tuple[Path, str]]:
    """(file, path relative to the stdlib folder) of every module, every `step`-th one kept."""
    base = Path(sysconfig.get_paths()["stdlib"])
    found: list[tuple[Path, str]] = []
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in EXCLUDED_DIRS and not d.startswith(("config-", "__pycache__", "lib-"))
        )
        for name in sorted(filenames):
            if name.endswith(".py"):
                path = Path(dirpath, name)
                found.append((path, path.relative_to(base).as_posix()))
    return found[::step]


def build_corpus(root: Path, files: list[tuple[Path, str]], all_hit: bool) -> tuple[int, int]:
    """Copy the modules under root, with the Celery app and the config; (files, lines)."""
    lines = 0
    for source, rel in files:
        data = source.read_bytes()
        if all_hit and rel != "__future__.py":  # a module nothing can import a job from
            data = data if data.endswith(b"\n") or not data else data + b"\n"
            data += HIT.encode("ascii")
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        lines += data.count(b"\n")
    for rel, text in {
        "pyproject.toml": PYPROJECT,
        "app/__init__.py": "",
        "app/core/__init__.py": "",
        "app/core/celery_app.py": CELERY_APP,
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return len(files) + 3, lines


# --- LibCST floor (runs in a subprocess: python -m tests.bench.speed --libcst MODE ROOT) --------


def _libcst_one(job: tuple[str, str]) -> bool:
    mode, path = job
    try:
        if mode == "ast":  # the floor of any analysis that reads every module with `ast`
            ast.parse(Path(path).read_bytes())
            return True
        if mode == "symtable":  # CPython's parser without building the Python tree: the floor
            data = Path(path).read_bytes()  # of anything that finds every syntax error
            _symtable.symtable(data.decode(_encoding(data)), path, "exec")
            return True
        import libcst as cst  # here: the `ast` and `symtable` floors do not pay for its import

        module = cst.parse_module(Path(path).read_bytes())
        if mode == "regenerate":
            module.bytes  # noqa: B018  (regenerating is the point)
    except Exception:
        return False
    return True


def _encoding(data: bytes) -> str:
    import io
    import tokenize

    return tokenize.detect_encoding(io.BytesIO(data).readline)[0]


def _libcst_init() -> None:
    sys.setrecursionlimit(10_000)  # as the tool does, for the deeply nested stdlib modules


def libcst_floor(mode: str, root: Path, jobs: int) -> int:
    import multiprocessing

    _libcst_init()
    paths = sorted(str(p) for p in root.rglob("*.py"))
    work = [(mode, p) for p in paths]
    if jobs <= 1:
        results = [_libcst_one(j) for j in work]
    else:
        with multiprocessing.Pool(jobs, initializer=_libcst_init) as pool:
            results = pool.map(_libcst_one, work, chunksize=max(1, len(work) // (jobs * 8)))
    failed = results.count(False)
    print(f"{len(paths) - failed} files ok, {failed} failed")
    return 0


# --- measuring ----------------------------------------------------------------------------------


def _tree_rss(pid: int) -> int:
    """Memory of a process and all its descendants, in bytes (0 once it is gone): the sum of
    their proportional set sizes, so that pages a forked worker shares are counted once."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/smaps_rollup") as handle:
                total += next(
                    int(line.split()[1]) * 1024 for line in handle if line.startswith("Pss:")
                )
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    todo += [int(c) for c in handle.read().split()]
        except (OSError, ValueError, StopIteration):
            continue
    return total


@dataclass
class Run:
    seconds: float
    max_rss: int  # the largest single process, bytes
    tree_rss: int  # the whole process tree at its sampled peak, bytes
    returncode: int
    output: str


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> Run:
    """Wall time, peak memory and output of one command."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.02):
            peak = max(peak, _tree_rss(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    assert proc.stdout is not None
    output = proc.stdout.read()  # read before waiting: a full pipe would block the child
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    max_rss = usage.ru_maxrss * 1024  # KiB on Linux
    text = output.decode("utf-8", "replace")
    return Run(seconds, max_rss, max(peak, max_rss), proc.returncode, text)


@dataclass
class Measure:
    key: str
    name: str
    make: Callable[[int], tuple[list[str], Path, dict[str, str]]]  # repetition -> argv, cwd, env
    ours: bool = False
    runs: list[Run] = field(default_factory=list)

    def median(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    def peak(self) -> int:
        return max(r.tree_rss for r in self.runs)

    def largest(self) -> int:
        return max(r.max_rss for r in self.runs)


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of each (default 3)")
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="processes (default: CPU count)"
    )
    parser.add_argument("--quick", action="store_true", help="every 5th module only")
    parser.add_argument("--keep", type=Path, help="build the corpora here and keep them")
    parser.add_argument(
        "--libcst", choices=["parse", "regenerate", "ast", "symtable"], help=argparse.SUPPRESS
    )
    parser.add_argument("root", nargs="?", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.libcst:
        return libcst_floor(args.libcst, args.root, args.jobs)

    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        return bench(args, args.keep)
    with tempfile.TemporaryDirectory(prefix="celery-codemod-speed-") as tmp:
        return bench(args, Path(tmp))


def bench(args: argparse.Namespace, work: Path) -> int:
    jobs = str(args.jobs)
    files = stdlib_files(5 if args.quick else 1)
    stdlib, allhit = work / "stdlib", work / "allhit"
    for folder in (stdlib, allhit):
        shutil.rmtree(folder, ignore_errors=True)
    count, lines = build_corpus(stdlib, files, all_hit=False)
    _, hit_lines = build_corpus(allhit, files, all_hit=True)
    print(
        f"Python {sys.version.split()[0]} standard library: {count} files, {lines:,} lines "
        f"(all-hit copy: {hit_lines:,} lines); -j {jobs}; {args.repeat} repetitions, "
        f"{os.cpu_count()} CPUs",
        flush=True,
    )
    tool = str(BIN / "celery-codemod")
    here = Path(__file__).resolve().parents[2]
    # As installed: pip compiles a package's modules when it installs it. An editable install
    # does not, and with PYTHONDONTWRITEBYTECODE set (as on these machines) every run would
    # compile ours from source again (80 ms of each `check`), which no user's run does.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(here / "codemod")], check=True)
    ruff_env = {"RAYON_NUM_THREADS": jobs}  # ruff's worker threads, as many as ours
    libcst = [sys.executable, "-m", "tests.bench.speed", "--jobs", jobs, "--libcst"]

    def fresh_copy(rep: int) -> Path:
        target = work / f"migrate-{rep}"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(allhit, target)
        return target

    measures = [
        Measure(
            "grep",
            "grep -rl create_task (stdlib)",
            lambda r: (["grep", "-rl", "create_task", "."], stdlib, {}),
        ),
        Measure(
            "ruff",
            "ruff check --select RUF006 (stdlib)",
            lambda r: (
                [str(BIN / "ruff"), "check", "--no-cache", "--isolated", "--select", "RUF006", "."],
                stdlib,
                ruff_env,
            ),
        ),
        Measure(
            "ruff-hit",
            "ruff check --select RUF006 (all-hit)",
            lambda r: (
                [str(BIN / "ruff"), "check", "--no-cache", "--isolated", "--select", "RUF006", "."],
                allhit,
                ruff_env,
            ),
        ),
        Measure(
            "parse", "libcst parse (all-hit)", lambda r: ([*libcst, "parse", str(allhit)], here, {})
        ),
        Measure(
            "regen",
            "libcst parse+regenerate (all-hit)",
            lambda r: ([*libcst, "regenerate", str(allhit)], here, {}),
        ),
        Measure("ast", "ast parse (all-hit)", lambda r: ([*libcst, "ast", str(allhit)], here, {})),
        Measure(
            "symtable",
            "symtable, no tree (all-hit)",
            lambda r: ([*libcst, "symtable", str(allhit)], here, {}),
        ),
        Measure(
            "check",
            "check (stdlib)",
            lambda r: ([tool, "check", "-j", jobs, "."], stdlib, {}),
            True,
        ),
        Measure(
            "check-hit",
            "check (all-hit)",
            lambda r: ([tool, "check", "-j", jobs, "."], allhit, {}),
            True,
        ),
        Measure(
            "migrate",
            "migrate (all-hit, fresh copy)",
            lambda r: ([tool, "migrate", "-j", jobs, "."], fresh_copy(r), {}),
            True,
        ),
    ]
    run(["grep", "-rl", "create_task", "."], stdlib)  # warm the page cache
    run(["grep", "-rl", "create_task", "."], allhit)
    for rep in range(args.repeat):
        for measure in measures:
            argv, cwd, env = measure.make(rep)
            measure.runs.append(run(argv, cwd, env))
            # A command of a fraction of a second is at the mercy of a shared machine's noise:
            # run it a few more times in a row, so that its median has something to stand on.
            while (
                measure.key != "migrate"
                and measure.runs[-1].seconds < 1
                and (len(measure.runs) % QUICK_RUNS)
            ):
                measure.runs.append(run(argv, cwd, env))
            if measure.key == "migrate":
                shutil.rmtree(cwd, ignore_errors=True)
        print(f"repetition {rep + 1}/{args.repeat} done", file=sys.stderr, flush=True)
    report(measures)
    return 0


def report(measures: list[Measure]) -> None:
    mb = 1024 * 1024
    print()
    print(f"| {'command':38} | median s | min s | max s | tree PSS MB | largest RSS MB | exit |")
    print(f"|{'-' * 40}|---------:|------:|------:|------------:|---------------:|-----:|")
    for m in measures:
        seconds = [r.seconds for r in m.runs]
        print(
            f"| {m.name:38} | {m.median():8.3f} | {min(seconds):5.2f} | {max(seconds):5.2f} "
            f"| {m.peak() / mb:11.0f} | {m.largest() / mb:14.0f} | {m.runs[-1].returncode:4} |"
        )
    print()
    for m in measures:
        if m.ours or m.key in ("parse", "regen", "ast", "symtable"):
            print(f"{m.name}: {_last_line(m.runs[-1].output)}")
    by = {m.key: m.median() for m in measures}
    ruff, parse, regen = by["ruff"], by["parse"], by["regen"]
    check_std, check_hit, migrate = by["check"], by["check-hit"], by["migrate"]
    peak = max(m.peak() for m in measures if m.ours)
    targets = [
        ("check(stdlib) / ruff(stdlib)", check_std / ruff, "x", 2.0),
        ("check(all-hit) / libcst parse(all-hit)", check_hit / parse, "x", 0.10),
        ("migrate(all-hit) / libcst parse+regenerate(all-hit)", migrate / regen, "x", 1.5),
        ("peak memory of check and migrate, MB", peak / mb, " MB", 500),
    ]
    print()
    print("| ratio (medians, same run) | value | target | met |")
    print("|---|---:|---:|:-:|")
    for name, value, unit, limit in targets:
        met = "yes" if value <= limit else "NO"
        print(f"| {name} | {value:.2f}{unit} | <= {limit}{unit} | {met} |")
    grep = by["grep"]
    print(
        f"\n(for scale: check(stdlib) / grep = {check_std / grep:.1f}x, ruff / grep = "
        f"{ruff / grep:.1f}x, migrate / libcst parse = {migrate / parse:.2f}x; "
        f"ast parse / libcst parse = {by['ast'] / parse:.2f}x, "
        f"symtable / libcst parse = {by['symtable'] / parse:.2f}x, "
        f"check(all-hit) / ast parse = {check_hit / by['ast']:.2f}x)"
    )


if __name__ == "__main__":
    sys.exit(main())
