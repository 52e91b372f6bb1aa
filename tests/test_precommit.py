"""The hooks of `.pre-commit-hooks.yaml`, run by the real pre-commit (`pre-commit try-repo`)
against a temporary git repository holding the seed app.

pre-commit installs this repository into a fresh virtualenv (libcst, click and black come from the
package index), so the test takes a while (about a minute) and needs the index. It tries a
snapshot of the working tree (the package, pyproject.toml, README.md and the hooks file, committed
in a temporary repository): that works from a clean clone, from an sdist, and with uncommitted or
untracked changes (`try-repo` on a dirty repository would leave untracked files out).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.golden import FIXTURES, run_cli, tree

pre_commit_clientlib = pytest.importorskip("pre_commit.clientlib")
yaml = pytest.importorskip("yaml")  # a dependency of pre-commit

REPO = Path(__file__).resolve().parent.parent
SEED = FIXTURES / "seed_app"
HOOKS = ("celery-codemod-check", "celery-codemod-migrate")
REPORTS = {"MIGRATION_SUMMARY.md", "report.json"}  # written by --report, not by the hook


def test_hooks_manifest_is_valid_and_follows_the_conventions() -> None:
    manifest = pre_commit_clientlib.load_manifest(str(REPO / ".pre-commit-hooks.yaml"))
    assert [hook["id"] for hook in manifest] == list(HOOKS)
    raw = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    for hook, command in zip(raw, ("check", "migrate"), strict=True):
        assert hook["name"] == f"celery-codemod {command}"
        assert hook["entry"] == f"celery-codemod {command}"
        assert hook["language"] == "python"
        assert hook["types"] == ["python"]
        assert hook["description"]
        assert hook["require_serial"] is True  # one process: migrate writes shared modules
        assert hook.get("pass_filenames", True) is True


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    env.update(
        PRE_COMMIT_HOME=str(tmp / "pre-commit-home"),  # hermetic: no shared hook envs
        PRE_COMMIT_COLOR="never",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        # no user or system git config (hooks, signing, templates), and no "dubious ownership"
        # refusals when the tests run as root on a checkout owned by someone else
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_COUNT="2",
        GIT_CONFIG_KEY_0="safe.directory",
        GIT_CONFIG_VALUE_0="*",
        GIT_CONFIG_KEY_1="init.defaultBranch",
        GIT_CONFIG_VALUE_1="main",
    )
    return env


def _git(cwd: Path, env: dict[str, str], *args: str) -> str:
    identity = ["-c", "user.name=celery-codemod tests", "-c", "user.email=tests@example.invalid"]
    result = subprocess.run(
        ["git", *identity, "-c", "commit.gpgsign=false", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
    return result.stdout


def _commit_all(repo: Path, env: dict[str, str], message: str) -> None:
    _git(repo, env, "add", "-A")
    _git(repo, env, "commit", "-q", "--no-verify", "-m", message)


def _snapshot_of_this_repo(target: Path, env: dict[str, str]) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(REPO / "codemod", target / "codemod", ignore=ignore)
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml", "LICENSE"):
        if (REPO / name).is_file():
            shutil.copy2(REPO / name, target / name)
    _git(target, env, "init", "-q")
    _commit_all(target, env, "snapshot of celery-codemod")
    return target


def _try_repo(project: Path, hooks_repo: Path, env: dict[str, str], *hook: str) -> str:
    """`pre-commit try-repo HOOKS_REPO [HOOK] --all-files` in `project`; returncode and output."""
    return _pre_commit(project, env, "try-repo", str(hooks_repo), *hook, "--all-files")


def _pre_commit(project: Path, env: dict[str, str], *args: str) -> str:
    """`pre-commit ARGS` in `project`: its returncode and output."""
    result = subprocess.run(
        [sys.executable, "-m", "pre_commit", *args],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
        timeout=600,
    )
    return f"exit {result.returncode}\n{result.stdout}"


def _files(project: Path) -> dict[str, bytes]:
    return {k: v for k, v in tree(project).items() if not k.startswith(".git/")}


def _hook_line(output: str, name: str) -> str:
    for line in output.splitlines():
        if line.startswith(name + "."):
            return line
    raise AssertionError(f"no result line for {name!r} in:\n{output}")


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_try_repo_check_fails_migrate_rewrites_then_both_pass(tmp_path: Path) -> None:
    env = _env(tmp_path)
    hooks_repo = _snapshot_of_this_repo(tmp_path / "celery-codemod", env)
    project = tmp_path / "seed-app"
    shutil.copytree(SEED / "before", project)
    _git(project, env, "init", "-q")
    _commit_all(project, env, "the seed app")
    committed = _files(project)

    # 1. the check hook fails with one CCM001 line per migratable site, and writes nothing
    expected = [
        line
        for line in run_cli(project, "check").stdout.splitlines()
        if re.match(r"\S+:\d+:\d+: CCM001 ", line)
    ]
    report = json.loads((SEED / "after" / "report.json").read_text(encoding="utf-8"))
    migrated = report["summary"]["migrated"]
    assert len(expected) == migrated
    output = _try_repo(project, hooks_repo, env, "celery-codemod-check")
    assert output.startswith("exit 1\n"), output
    assert _hook_line(output, "celery-codemod check").endswith("Failed")
    reported = [line for line in output.splitlines() if " CCM" in line]
    assert reported == expected, output
    assert (
        f"Found {migrated} problems ({migrated} fixable with 'celery-codemod migrate')." in output
    )
    assert _files(project) == committed
    assert _git(project, env, "status", "--porcelain") == ""

    # 2. the migrate hook rewrites the files (pre-commit fails a hook that modifies files),
    # exactly as `celery-codemod migrate` does: the tree is the seed app's after/
    output = _try_repo(project, hooks_repo, env, "celery-codemod-migrate")
    assert output.startswith("exit 1\n"), output
    assert _hook_line(output, "celery-codemod migrate").endswith("Failed")
    assert "files were modified by this hook" in output
    expected_tree = {k: v for k, v in tree(SEED / "after").items() if k not in REPORTS}
    actual_tree = _files(project)
    assert sorted(actual_tree) == sorted(expected_tree)
    assert actual_tree == expected_tree

    # 3. once the changes are staged, the next run of both hooks passes and changes nothing
    _git(project, env, "add", "-A")
    migrated = _files(project)
    output = _try_repo(project, hooks_repo, env)
    assert output.startswith("exit 0\n"), output
    assert _hook_line(output, "celery-codemod check").endswith("Passed")
    assert _hook_line(output, "celery-codemod migrate").endswith("Passed")
    assert _files(project) == migrated


def _docs_yaml(section: str) -> list[str]:
    text = (REPO / "docs" / "pre-commit-and-ci.md").read_text(encoding="utf-8")
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```yaml\n(.*?)```", body, re.S)


def test_readme_pre_commit_snippet_is_a_valid_config(tmp_path: Path) -> None:
    [snippet] = _docs_yaml("Use with pre-commit")
    config = tmp_path / ".pre-commit-config.yaml"
    config.write_text(snippet, encoding="utf-8")
    loaded = pre_commit_clientlib.load_config(str(config))
    [repo] = loaded["repos"]
    assert [hook["id"] for hook in repo["hooks"]] == list(HOOKS)


def test_readme_ci_snippet_uses_the_github_and_sarif_formats() -> None:
    [snippet] = _docs_yaml("Use in CI")
    workflow = yaml.safe_load(snippet)
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    runs = " ".join(step.get("run", "") for step in steps)
    assert "celery-codemod check --format github" in runs
    assert "celery-codemod check --format sarif" in runs
    upload = next(s for s in steps if s.get("uses", "").startswith("github/codeql-action/upload"))
    assert upload["with"]["sarif_file"] in runs


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_check_hook_with_ignore_passes_on_an_app_left_with_ccm002_only(tmp_path: Path) -> None:
    """Adoption: after its migration, an app whose remaining sites all need a person (CCM002)
    gets a green check hook with `args: [--ignore, CCM002]`, and a red one without."""
    env = _env(tmp_path)
    hooks_repo = _snapshot_of_this_repo(tmp_path / "celery-codemod", env)
    rev = _git(hooks_repo, env, "rev-parse", "HEAD").strip()
    project = tmp_path / "app"
    after = FIXTURES / "cases" / "app_startup_state" / "after"
    shutil.copytree(after, project, ignore=shutil.ignore_patterns(*REPORTS))
    codes = {
        line.split()[1]
        for line in run_cli(project, "check").stdout.splitlines()
        if re.match(r"\S+:\d+:\d+: CCM", line)
    }
    assert codes == {"CCM002"}

    def run_hook(args: list[str]) -> str:
        hook: dict[str, object] = {"id": "celery-codemod-check"}
        if args:
            hook["args"] = args
        config = {"repos": [{"repo": str(hooks_repo), "rev": rev, "hooks": [hook]}]}
        (project / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config), "utf-8")
        _git(project, env, "init", "-q")
        _commit_all(project, env, "the app")
        return _pre_commit(project, env, "run", "--all-files")

    output = run_hook(["--ignore", "CCM002"])
    assert output.startswith("exit 0\n"), output
    assert _hook_line(output, "celery-codemod check").endswith("Passed")
    output = run_hook([])
    assert output.startswith("exit 1\n"), output
    assert _hook_line(output, "celery-codemod check").endswith("Failed")
    assert " CCM002 " in output
