from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import pytest

from dc_deploy import api, gitinfo
from dc_deploy.context import Context
from dc_deploy.errors import DeployError


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args], cwd=cwd,
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo_target(target: Path) -> Path:
    _git(target, "init", "-q")
    _git(target, "config", "user.name", "ops")
    _git(target, "config", "user.email", "ops@example.invalid")
    _git(target, "add", "-A")
    _git(target, "commit", "-qm", "upstream")
    return target


def test_not_a_repo_is_tolerated(tmp_path: Path) -> None:
    assert gitinfo.target_info(tmp_path) is None
    assert gitinfo.project_commit(tmp_path) is None
    with pytest.raises(DeployError, match="not inside a git work tree"):
        gitinfo.commit_deployment(tmp_path, ["x"], "msg")


def test_receipt_and_backup_record_target_git_and_commit(repo_target: Path, ctx: Context,
                                                         opts: api.Options) -> None:
    head = _git(repo_target, "rev-parse", "HEAD")
    res = api.integrate(dataclasses.replace(opts, git_commit=True), ctx, ["bash-tool"], {})
    receipt = json.loads((repo_target / "dc_impl" / "receipt.json").read_text())
    assert receipt["target_git"] == {"root": str(repo_target), "head": head, "dirty": False}
    new_head = _git(repo_target, "rev-parse", "HEAD")
    assert res.git_commit == new_head != head
    committed = set(_git(repo_target, "show", "--name-only", "--format=", "HEAD").splitlines())
    assert {"loop.py", "dc_impl/receipt.json", "dc_impl/tools/dc_bash.py"} <= committed
    assert _git(repo_target, "status", "--porcelain") == "?? .dc-streaming.lock"  # only our lock sidecar
    # restoring commits the removals too
    api.restore(dataclasses.replace(opts, git_commit=True), ctx, res.backup_id)
    assert _git(repo_target, "status", "--porcelain") == "?? .dc-streaming.lock"  # only our lock sidecar
    assert _git(repo_target, "ls-files", "dc_impl") == ""


def test_git_commit_leaves_the_operators_staged_changes_alone(repo_target: Path, ctx: Context,
                                                               opts: api.Options) -> None:
    (repo_target / "NOTES.txt").write_text("work in progress\n")
    _git(repo_target, "add", "NOTES.txt")
    res = api.integrate(dataclasses.replace(opts, git_commit=True), ctx, ["bash-tool"], {})
    committed = set(_git(repo_target, "show", "--name-only", "--format=", res.git_commit).splitlines())
    assert "NOTES.txt" not in committed and "dc_impl/tools/dc_bash.py" in committed
    assert "A  NOTES.txt" in _git(repo_target, "status", "--porcelain").splitlines()


def test_git_commit_works_without_a_configured_identity(target: Path, ctx: Context, opts: api.Options,
                                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    subprocess.run(["git", "init", "-q"], cwd=target, check=True)
    res = api.integrate(dataclasses.replace(opts, git_commit=True), ctx, ["bash-tool"], {})
    author = subprocess.run(["git", "log", "-1", "--format=%an <%ae>"], cwd=target, check=True,
                            capture_output=True, text=True).stdout.strip()
    assert res.git_commit and "@" in author


def test_project_commit_recorded(target: Path, ctx: Context, opts: api.Options, tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    proj.mkdir()
    _git(proj, "init", "-q")
    (proj / "f").write_text("x")
    _git(proj, "add", "f")
    _git(proj, "commit", "-qm", "c")
    head = _git(proj, "rev-parse", "HEAD")
    assert gitinfo.project_commit(proj) == head
    (proj / "f").write_text("y")
    assert gitinfo.project_commit(proj) == f"{head}+dirty"


def test_git_commit_outside_a_work_tree_is_refused_before_any_change(target: Path, ctx: Context,
                                                                    opts: api.Options) -> None:
    from dc_deploy.digest import tree_digest
    from dc_deploy.errors import UsageError

    assert gitinfo.target_info(target) is None
    before = tree_digest(target, exclude=())
    with pytest.raises(UsageError, match="not inside a git work tree; nothing was changed"):
        api.integrate(dataclasses.replace(opts, git_commit=True), ctx, ["bash-tool"], {})
    assert tree_digest(target, exclude=()) == before and not opts.backup_dir.exists()
    res = api.integrate(dataclasses.replace(opts, git_commit=True, dry_run=True), ctx, ["bash-tool"], {})
    assert res.as_dict()["actions"]  # a dry run only shows the plan
