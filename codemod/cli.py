"""The command line: options -> Config, the pipeline, results -> output and exit codes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from codemod import __version__
from codemod.output.formats import FORMAT_NAMES

if TYPE_CHECKING:
    from codemod.config import Config
    from codemod.model.cache import Cache
    from codemod.model.index import RepoIndex
    from codemod.models import FileError, MigrationPlan, Outcome

# The pipeline (and the configuration and the models) is imported inside the commands, and
# LibCST and black only by `migrate` (through apply, report and write): `--version` and `--help`
# import click alone, and a clean `check` stays light.

EXIT_OK, EXIT_CHANGES, EXIT_USAGE, EXIT_ERRORS = 0, 1, 2, 123


def _common_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.argument("paths", nargs=-1, type=click.Path(path_type=Path)),
        click.option("--root", type=click.Path(path_type=Path), help="Project root."),
        click.option("--endpoint-glob", "endpoint_globs", multiple=True, help="Endpoint modules."),
        click.option("--exclude", multiple=True, help="Glob of paths never touched."),
        click.option(
            "--tasks-package", help="Package that holds the wrappers [<the app's package>.tasks]."
        ),
        click.option("--celery-app", help="MODULE:ATTR of the Celery app."),
        click.option("--max-retries", type=click.IntRange(min=0), help="Retry limit [3]."),
        click.option("--retry-backoff", type=click.IntRange(min=0), help="Seconds [60]."),
        click.option("--no-fallback", is_flag=True, default=None, help="Queue only."),
        click.option("--retry-on", multiple=True, help="Exception types to retry [Exception]."),
        click.option(
            "--unverified-args",
            type=click.Choice(["guard", "skip", "allow"]),
            help="Sites whose argument types cannot be proven JSON-safe [guard: a run-time check].",
        ),
        click.option("--allow-unverified-args", is_flag=True, default=None, help="Same as allow."),
        click.option(
            "--delivery",
            type=click.Choice(["at-least-once", "at-most-once"]),
            help="When a message is acknowledged [at-least-once: after the job].",
        ),
        click.option(
            "--no-cache", is_flag=True, default=None, help="Neither read nor write the cache."
        ),
        click.option(
            "--cache-dir",
            type=click.Path(path_type=Path),
            help="Where the analysis cache lives [.celery-codemod-cache under root].",
        ),
        click.option("-j", "--jobs", type=click.IntRange(min=1), help="Parallel workers."),
        click.option("-q", "--quiet", count=True, help="Less output."),
        click.option("-v", "--verbose", count=True, help="More output."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _config(params: dict[str, Any]) -> Config:
    overrides = {
        "endpoint_globs": tuple(params["endpoint_globs"]),
        "exclude": tuple(params["exclude"]),
        "tasks_package_setting": params["tasks_package"],
        "celery_app": params["celery_app"],
        "max_retries": params["max_retries"],
        "retry_backoff": params["retry_backoff"],
        "fallback": False if params["no_fallback"] else None,
        "retry_on": tuple(params["retry_on"]),
        "allow_unverified_args": params["allow_unverified_args"],
        "unverified_args": params.get("unverified_args")
        or ("allow" if params["allow_unverified_args"] else None),
        "jobs": params["jobs"],
        "report": params.get("report"),
        "delivery": params.get("delivery"),
        "select": _codes(params.get("select", ())),
        "ignore": _codes(params.get("ignore", ())),
        "no_cache": params.get("no_cache"),
        "cache_dir_given": params.get("cache_dir"),
    }
    from codemod.config import load_config

    return load_config(tuple(params["paths"]), params["root"], overrides)


def _codes(values: tuple[str, ...]) -> tuple[str, ...]:
    """`--select CCM001,CCM002 --select CCM1` -> the codes, upper case."""
    return tuple(c.strip().upper() for v in values for c in v.split(",") if c.strip())


def _error(message: str) -> None:
    click.echo(f"error: {message}", err=True)


def _display(rel: str, *, config: Config) -> str:
    """A root-relative path as the user sees it."""
    from codemod.model.files import shown

    return shown(config.root / rel)


# Files; fewer finish before a bar would be worth drawing (analysis costs ~5 ms a file, a rewrite
# ~100 ms). Bars go to a terminal only: never in `check`, `--diff`, `--check` or a pipe.
PROGRESS_THRESHOLD = 300
REWRITE_PROGRESS_THRESHOLD = 30


def _analyse(
    config: Config, show_progress: bool = False
) -> tuple[MigrationPlan, RepoIndex, Config]:
    """The program model of the whole project, and the plan for the sites of the PATHs' files
    (the PATHs choose which sites are reported and rewritten, never what the model holds); the
    index the plan was made with; and the configuration with the tasks package resolved from
    the Celery app (before the analysis, which looks for migrated sites in it)."""
    from codemod.analysis.analyse import Project
    from codemod.model.files import endpoint_modules, inventory
    from codemod.model.index import RepoIndex
    from codemod.model.syntax import tune_interpreter
    from codemod.plan import build_plan
    from codemod.target import default_tasks_package, search_celery_app, search_flask_app

    tune_interpreter()
    project = Project.of(config, _cache(config))
    try:
        every = project.sources.files
        paths = [p for p, _ in every]
        whole = {p.resolve() for p in config.paths} == {config.root}
        selected = every if whole else inventory(config)
        index = RepoIndex(config.root)
        search = search_celery_app(config, index, paths)
        if config.tasks_package_setting is None and search.app is not None:
            tasks_package = default_tasks_package(search.app, config)
            config = replace(config, tasks_package_setting=tasks_package)
        flask = search_flask_app(config, project.reach.flask, index)
        if flask.app != config.flask_app:
            config = replace(config, flask_app=flask.app)
        files = endpoint_modules(config, selected, project.reach.handler_modules)
        show = show_progress and len(files) > PROGRESS_THRESHOLD and sys.stderr.isatty()
        if show:
            with click.progressbar(length=len(files), label="Analysing", file=sys.stderr) as bar:
                analyses = project.analyse(files, config, bar.update)
        else:
            analyses = project.analyse(files, config)
        startup_code = project.reach.startup_code
        plan = build_plan(
            analyses, config, index, project.resolver, paths, startup_code, search, flask
        )
    finally:
        project.close()
    return plan, index, config


def _cache(config: Config) -> Cache | None:
    from codemod.model.cache import Cache, cache_dir

    if config.no_cache:
        return None
    return Cache(cache_dir(config.root, config.cache_dir, config.cache_dir_given))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="celery-codemod")
def main() -> None:
    """Move fire-and-forget asyncio background jobs of a web app onto Celery."""


@main.command()
@_common_options
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if anything would change.")
@click.option("--diff", is_flag=True, help="Write nothing; print a unified diff.")
@click.option("--report", help="Write the summary: FILE.md, FILE.json, or - for stdout.")
def migrate(**params: Any) -> None:
    from codemod.config import ConfigError

    """Migrate every migratable background call site under PATH (default: .)."""
    from codemod.emit.apply import apply, render, render_count
    from codemod.emit.diff import unified_diff

    dry = params["check"] or params["diff"]
    try:
        config = _config(params)
        plan, index, config = _analyse(config, show_progress=not dry and params["quiet"] == 0)
    except ConfigError as exc:
        _error(str(exc))
        sys.exit(EXIT_USAGE)
    if dry:
        outcome = render(plan, config, index)
    else:
        count = render_count(plan)
        show = params["quiet"] == 0 and count > REWRITE_PROGRESS_THRESHOLD and sys.stderr.isatty()
        if show:
            with click.progressbar(length=count, label="Rewriting", file=sys.stderr) as bar:
                outcome = apply(plan, config, index, bar.update)
        else:
            outcome = apply(plan, config, index)
    if params["diff"]:
        for rel, (old, new) in sorted(outcome.changes.items()):
            sys.stdout.write(unified_diff(rel, old, new))
    report_errors = _write_report(plan, outcome, config)
    for error in [*outcome.errors, *report_errors]:
        _error(f"{_display(error.path, config=config)}: {error.message}")
    verbosity = params["verbose"] - params["quiet"]
    _summary_line(plan, outcome, config, dry, verbosity)
    if outcome.errors or report_errors:
        sys.exit(EXIT_ERRORS)
    if params["check"] and outcome.changes:
        sys.exit(EXIT_CHANGES)
    sys.exit(EXIT_OK)


def _write_report(plan: MigrationPlan, outcome: Outcome, config: Config) -> list[FileError]:
    from codemod.models import FileError

    """The summary report, written whatever the mode: with --check or --diff, it is what the
    migration would do (and the only file written)."""
    from codemod.model.source import atomic_write
    from codemod.output.report import render_report

    target = config.report
    if not target:
        return []
    text = render_report(plan, outcome, config, target)
    if target == "-":
        sys.stdout.write(text)
        return []
    path = Path(target)
    try:
        atomic_write(path, text.encode("utf-8"))
    except OSError as exc:
        return [FileError(str(path), f"cannot write the report: {exc.strerror or exc}")]
    return []


def _summary_line(
    plan: MigrationPlan, outcome: Outcome, config: Config, dry: bool, verbosity: int
) -> None:
    if verbosity < 0:
        return
    if verbosity > 0:
        for site in plan.sites:
            reason = f" ({site.reason.value}: {site.detail})" if site.reason else ""
            where = f"{_display(site.path, config=config)}:{site.line}:{site.column}"
            click.echo(f"{where}: {site.status.value}{reason}", err=True)
            for note in site.notes:
                click.echo(f"{where}: note: {note}", err=True)
    from codemod.emit.apply import migrated_count

    migrated = migrated_count(plan, outcome)
    from codemod.models import Status

    skipped = sum(1 for s in plan.sites if s.status is Status.SKIPPED)
    verb = "would migrate" if dry else "migrated"
    files = len(outcome.changes)
    click.echo(
        f"{verb.capitalize()} {migrated} call site{'s' if migrated != 1 else ''}; "
        f"{files} file{'s' if files != 1 else ''} {'would change' if dry else 'changed'}; "
        f"{skipped} skipped; {len(outcome.errors)} error{'s' if len(outcome.errors) != 1 else ''}.",
        err=True,
    )


@main.command()
@_common_options
@click.option(
    "--format",
    "output_format",
    type=click.Choice(sorted(FORMAT_NAMES)),
    default="text",
    show_default=True,
    help="Output format.",
)
@click.option("--select", multiple=True, help="Report only these codes or prefixes (CCM00).")
@click.option("--ignore", multiple=True, help="Do not report these codes or prefixes.")
@click.option("--add-noqa", is_flag=True, help="Write `# noqa: CODE` on every problem's line.")
@click.option("--statistics", is_flag=True, help="Print the number of problems per code.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when problems are found.")
def check(**params: Any) -> None:
    from codemod.config import ConfigError
    from codemod.output.diagnostics import FORMATS

    """Lint: report background jobs left in the web process, and wrappers out of sync."""
    try:
        config = _config(params)
        plan, _, config = _analyse(config)
    except ConfigError as exc:
        _error(str(exc))
        sys.exit(EXIT_USAGE)
    from codemod.output.diagnostics import Selection, diagnostics, statistics

    selection = Selection(config.select, config.ignore, tuple(config.per_file_ignores.items()))
    found = diagnostics(plan, selection)
    show = partial(_display, config=config)
    if params["add_noqa"]:
        sys.exit(_add_noqa(found, config, show))
    if params["statistics"]:
        sys.stdout.write(statistics(found))
    # -q drops only the text format's "All checks passed."; json and sarif are documents that
    # CI reads (an empty list, a run without results), and github has nothing to say anyway
    elif params["quiet"] == 0 or found or params["output_format"] in ("json", "sarif"):
        sys.stdout.write(FORMATS[params["output_format"]](found, show))
    for error in plan.errors:
        _error(f"{show(error.path)}: {error.message}")
    if plan.errors:
        sys.exit(EXIT_ERRORS)
    sys.exit(EXIT_CHANGES if found and not params["exit_zero"] else EXIT_OK)


@main.command()
@click.argument("name", required=False, metavar="[CODE_OR_REASON]")
@click.option("--all", "show_all", is_flag=True, help="List every code and reason.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)
def rule(name: str | None, show_all: bool, output_format: str) -> None:
    """Explain a code (CCM002) or a skip reason (needs-startup): what, why, example, fix."""
    from codemod.output.rules import closest, find, render

    if show_all == (name is not None):
        _error("give one CODE_OR_REASON, or --all")
        sys.exit(EXIT_USAGE)
    if name is None:
        sys.stdout.write(render(None, output_format))
        sys.exit(EXIT_OK)
    found = find(name)
    if found is None:
        near = closest(name)
        hint = (
            "did you mean " + ", ".join(f"'{n}'" for n in near) + "?"
            if near
            else "run 'celery-codemod rule --all' for the list"
        )
        _error(f"unknown rule '{name}'; {hint}")
        sys.exit(EXIT_USAGE)
    sys.stdout.write(render(found, output_format))
    sys.exit(EXIT_OK)


def _add_noqa(found: list[Any], config: Config, show: Callable[[str], str]) -> int:
    """`check --add-noqa`: every problem's line gets its code; CCM900 (no parse, no comment
    to trust) and CCM100 (the noqa is the problem) are left out."""
    from codemod.output.noqa import add_noqa

    wanted: dict[str, dict[int, list[str]]] = {}
    for d in found:
        if d.code not in ("CCM900", "CCM100"):
            wanted.setdefault(d.path, {}).setdefault(d.line, []).append(d.code)
    added, problems = add_noqa(config.root, wanted)
    for problem in problems:
        _error(problem)
    noun = "directive" if added == 1 else "directives"
    sys.stdout.write(f"Added {added} noqa {noun}.\n")
    return EXIT_ERRORS if problems else EXIT_OK


@main.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--cache-dir", type=click.Path(path_type=Path), help="The cache to remove.")
def clean(path: Path | None, cache_dir: Path | None) -> None:
    from codemod.config import ConfigError, load_config

    """Remove the analysis cache of the project at PATH (default: .)."""
    from codemod.model.cache import cache_dir as find_cache_dir
    from codemod.model.cache import clean as remove

    try:
        config = load_config((path,) if path else (), None, {})
    except ConfigError as exc:
        _error(str(exc))
        sys.exit(EXIT_USAGE)
    folder = find_cache_dir(config.root, config.cache_dir, cache_dir)
    if remove(folder):
        click.echo(f"Removed the cache at {_display_path(folder)}.", err=True)
    else:
        click.echo(f"No cache at {_display_path(folder)}.", err=True)
    sys.exit(EXIT_OK)


def _display_path(path: Path) -> str:
    from codemod.model.files import shown

    return shown(path)
