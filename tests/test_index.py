"""The analysis' module index: an endpoint module's tree is freed when its analysis is over, a
module that another module's analysis looked up is kept, and results do not depend on either."""

from __future__ import annotations

from pathlib import Path

from codemod.analysis.analyse import analyse_file
from codemod.config import load_config
from codemod.model.index import RepoIndex

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


def test_analysed_modules_are_freed_looked_up_ones_kept(tmp_path: Path) -> None:
    _app(tmp_path)
    config = load_config((tmp_path,), tmp_path, {})
    index = RepoIndex(tmp_path)
    results = [
        analyse_file(tmp_path / "app/api" / name, config, index)
        for name in ("a.py", "local.py", "b.py")
    ]
    assert [s.status for r in results for s in r.sites] == ["migrated"] * 3
    kept = set(index._modules)
    assert "app.services.jobs" in kept  # looked up by a and b: parsed once, kept
    assert not kept & {"app.api.a", "app.api.b", "app.api.local"}


def test_a_freed_module_looked_up_later_is_parsed_again(tmp_path: Path) -> None:
    _app(tmp_path)
    (tmp_path / "app/api/c.py").write_text(
        ENDPOINT.replace("app.services.jobs", "app.api.local"), encoding="utf-8"
    )
    config = load_config((tmp_path,), tmp_path, {})
    index = RepoIndex(tmp_path)
    first = analyse_file(tmp_path / "app/api/local.py", config, index)
    assert "app.api.local" not in index._modules
    later = analyse_file(tmp_path / "app/api/c.py", config, index)
    fresh = analyse_file(tmp_path / "app/api/c.py", config, RepoIndex(tmp_path))
    assert later == fresh
    assert [s.status for s in first.sites + later.sites] == ["migrated", "migrated"]
    assert "app.api.local" in index._modules
