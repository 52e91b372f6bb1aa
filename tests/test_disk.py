"""Jobs that need the web host's disk (`disk.py`: a folder named the same way on both sides, one
side writing) and jobs whose module a worker cannot import from the root (`importable.py`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from codemod.analysis.importable import sub_root_import
from codemod.model.program import Program
from tests.test_memory import check, codes

REFUSED = [
    pytest.param(
        """
        from fastapi.responses import FileResponse

        async def job(name: str) -> None:
            with open(f"exports/{name}.csv", "w") as out:
                out.write("a,b")

        @router.post("/")
        async def start(name: str) -> None:
            asyncio.create_task(job(name))

        @router.get("/")
        async def download(name: str) -> FileResponse:
            return FileResponse(f"exports/{name}.csv")
        """,
        "`job` (app/api/jobs.py) writes to `exports/...`, which `download` "
        "(app/api/jobs.py:19) reads `exports/...` too",
        id="an f-string folder a handler serves back",
    ),
    pytest.param(
        """
        import os

        from app.config import settings

        async def job(name: str) -> None:
            os.remove(os.path.join(settings.MEDIA_ROOT, name))

        @router.post("/")
        async def start(name: str) -> None:
            with open(os.path.join(settings.MEDIA_ROOT, name), "wb") as out:
                out.write(b"")
            asyncio.create_task(job(name))
        """,
        "`job` (app/api/jobs.py) writes to `MEDIA_ROOT/...`, which `start` "
        "(app/api/jobs.py:16) writes to `MEDIA_ROOT/...` too",
        id="a settings attribute on both sides",
    ),
]


REFUSED.append(
    pytest.param(
        """
        import os

        from app.config import settings

        def clean_old(cache_dir: str, keep: int) -> None:
            for name in sorted(os.listdir(cache_dir))[keep:]:
                os.remove(os.path.join(cache_dir, name))

        @router.post("/")
        async def start(name: str) -> None:
            with open(os.path.join(settings.MEDIA_ROOT, name), "wb") as out:
                out.write(b"")
            asyncio.create_task(asyncio.to_thread(clean_old, settings.MEDIA_ROOT, 50))
        """,
        "`clean_old` (app/api/jobs.py) uses `MEDIA_ROOT/...`, the folder the call site "
        "gives it, which `start` (app/api/jobs.py:17) writes to `MEDIA_ROOT/...` too",
        id="a folder the call site hands the job (xiaomusic's cache cleaner)",
    )
)


REFUSED.append(
    pytest.param(
        """
        import os

        from flask import send_from_directory

        REPORTS = os.path.join(os.path.dirname(__file__), "static")

        def render(report_id: int) -> None:
            with open(os.path.join(REPORTS, "reports", f"{report_id}.html"), "w") as out:
                out.write("<h1>report</h1>")

        @router.post("/")
        async def start(report_id: int) -> None:
            asyncio.create_task(asyncio.to_thread(render, report_id))

        @router.get("/")
        async def show(name: str):
            return send_from_directory(os.path.join(REPORTS, "reports"), name)
        """,
        "`render` (app/api/jobs.py) writes to `REPORTS/reports/...`, which `show` "
        "(app/api/jobs.py:23) reads `REPORTS/reports/...` too",
        id="a folder Flask's send_from_directory serves",
    )
)


@pytest.mark.parametrize(("endpoint", "detail"), REFUSED)
def test_a_job_that_shares_a_folder_with_the_web_side_is_host_path(
    tmp_path: Path, endpoint: str, detail: str
) -> None:
    config = "class Settings:\n    MEDIA_ROOT = 'media'\n\nsettings = Settings()\n"
    lines = check(tmp_path, endpoint, config=config)
    assert codes(lines) == ["CCM002"], lines
    assert f"(host-path: {detail} in the web process)" in lines[0]


MIGRATES = [
    pytest.param(
        """
        from pathlib import Path

        BASE = Path(__file__).parent

        async def job(name: str) -> None:
            (BASE / "outputs" / name).write_text("x")

        @router.get("/")
        async def page() -> str:
            return (BASE / "templates" / "page.html").read_text()

        @router.post("/")
        async def start(name: str) -> None:
            asyncio.create_task(job(name))
        """,
        id="two folders under one base",
    ),
    pytest.param(
        """
        async def job(name: str) -> None:
            print(open("data/cities.json").read())

        @router.post("/")
        async def start(name: str) -> None:
            print(open("data/cities.json").read())
            asyncio.create_task(job(name))
        """,
        id="files both only read (shipped with the code)",
    ),
    pytest.param(
        """
        async def job(name: str) -> None:
            with open(f"/tmp/{name}", "w") as out:
                out.write("x")

        @router.post("/")
        async def start(name: str) -> None:
            with open("/tmp/other", "w") as out:
                out.write("y")
            asyncio.create_task(job(name))
        """,
        id="scratch files in /tmp",
    ),
]


MIGRATES.append(
    pytest.param(
        """
        async def export(name: str) -> None:
            with open(f"exports/{name}.csv", "w") as out:
                out.write("a")

        async def archive(name: str) -> None:
            with open(f"exports/{name}.csv") as source:
                print(source.read())

        @router.post("/")
        async def start(name: str) -> None:
            asyncio.create_task(export(name))
            asyncio.create_task(archive(name))
        """,
        id="a folder only jobs use",
    )
)


MIGRATES.append(
    pytest.param(
        """
        import os

        EXPORTS = "exports"

        def clean_old(folder: str, keep: int) -> None:
            for name in sorted(os.listdir(folder))[keep:]:
                os.remove(os.path.join(folder, name))

        @router.post("/")
        async def start() -> None:
            asyncio.create_task(asyncio.to_thread(clean_old, EXPORTS, 50))
        """,
        id="a folder the call site hands the job, which no web code uses",
    )
)


@pytest.mark.parametrize("endpoint", MIGRATES)
def test_folders_that_are_not_shared_let_the_job_migrate(tmp_path: Path, endpoint: str) -> None:
    assert set(codes(check(tmp_path, endpoint))) == {"CCM001"}


def module(root: Path, rel: str, source: str) -> str:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")
    return rel.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def test_a_module_written_for_a_sub_folder_on_sys_path_is_not_importable(tmp_path: Path) -> None:
    module(tmp_path, "backend/__init__.py", "")
    module(tmp_path, "backend/utils.py", "")
    info = module(tmp_path, "backend/server/app.py", "import json\n\nfrom utils import f\n")
    why = sub_root_import(info, Program(tmp_path))
    assert why is not None
    assert why.startswith(
        "its module backend.server.app does `from utils import ...` (line 3) for "
        "backend/utils: it runs with backend/ on sys.path"
    )
    assert why.endswith("run celery-codemod with `--root backend`")


@pytest.mark.parametrize(
    "source",
    [
        "import sys\nsys.path.insert(0, 'backend')\nfrom utils import f\n",  # put there first
        "import json\n",  # the standard library's, though backend/json.py exists
        "from backend import utils\n",  # absolute from the root
        "from . import utils\n",  # relative
        "import fastapi\n",  # not a module of the repository
    ],
)
def test_imports_that_work_from_the_root(tmp_path: Path, source: str) -> None:
    module(tmp_path, "backend/__init__.py", "")
    module(tmp_path, "backend/utils.py", "")
    module(tmp_path, "backend/json.py", "")
    info = module(tmp_path, "backend/app.py", source)
    assert sub_root_import(info, Program(tmp_path)) is None


def test_a_sibling_of_a_package_module_is_not_its_bare_import(tmp_path: Path) -> None:
    """`import redis` in app/services/cache.py is the library, even beside
    app/services/redis.py (a package's modules are not on sys.path by their bare names)."""
    module(tmp_path, "app/__init__.py", "")
    module(tmp_path, "app/services/__init__.py", "")
    module(tmp_path, "app/services/redis.py", "import redis\n")
    info = module(tmp_path, "app/services/cache.py", "import redis\n")
    assert sub_root_import(info, Program(tmp_path)) is None
