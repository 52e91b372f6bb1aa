"""The program model: each module is summarised once per run, however many sites look it up,
and a site's answer does not depend on which other sites the run analysed, nor in what order."""

from __future__ import annotations

from pathlib import Path

from codemod.analysis.analyse import Project, analyse_file
from codemod.config import load_config

JOBS = "async def job(n: int) -> None:\n    pass\n"
ENDPOINT = (
    "import asyncio\n\nfrom app.services.jobs import job\n\n\n"
    "async def endpoint(n: int) -> None:\n    asyncio.create_task(job(n))\n"
)
LOCAL = (
    "import asyncio\n\n\nasync def job(n: int) -> None:\n    pass\n\n\n"
    "async def endpoint(n: int) -> None:\n    asyncio.create_task(job(n))\n"
)


def _app(root: Path) -> None:
    files = {
        "pyproject.toml": '[project]\nname = "x"\n',
        "app/__init__.py": "",
        "app/services/__init__.py": "",
        "app/services/jobs.py": JOBS,
        "app/api/__init__.py": "",
        "app/api/a.py": ENDPOINT,
        "app/api/b.py": ENDPOINT,
        "app/api/local.py": LOCAL,
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")


def test_a_module_looked_up_by_several_sites_is_summarised_once(tmp_path: Path) -> None:
    _app(tmp_path)
    config = load_config((tmp_path,), tmp_path, {})
    project = Project.of(config)
    before = project.program.summarised
    results = [
        analyse_file(tmp_path / "app/api" / name, config, project)
        for name in ("a.py", "local.py", "b.py")
    ]
    assert [s.status for r in results for s in r.sites] == ["migrated"] * 3
    # the three endpoint modules and the jobs module they share, each once
    assert project.program.summarised - before <= 4
    again = project.program.summarised
    analyse_file(tmp_path / "app/api/a.py", config, project)
    assert project.program.summarised == again


def test_answers_do_not_depend_on_what_else_the_run_analysed(tmp_path: Path) -> None:
    _app(tmp_path)
    (tmp_path / "app/api/c.py").write_text(
        ENDPOINT.replace("app.services.jobs", "app.api.local"), encoding="utf-8"
    )
    config = load_config((tmp_path,), tmp_path, {})
    project = Project.of(config)
    first = analyse_file(tmp_path / "app/api/local.py", config, project)
    later = analyse_file(tmp_path / "app/api/c.py", config, project)
    fresh = analyse_file(tmp_path / "app/api/c.py", config)
    assert later == fresh
    assert [s.status for s in first.sites + later.sites] == ["migrated", "migrated"]
