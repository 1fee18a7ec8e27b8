"""gitpython helpers: the project's commit, the target's repository state, committing a deployment.

Everything tolerates "not a repository" (returns ``None``); git problems never fail a deploy,
except an explicit ``--git-commit`` that cannot be done.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import DeployError

try:  # gitpython needs a git executable; without one we report no git info at all
    import git
except ImportError:  # pragma: no cover - exercised only on machines without git
    git = None  # type: ignore[assignment]  # the module or None: every use checks for None first


def _repo(path: Path) -> Any:
    if git is None:
        return None
    try:
        return git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, git.GitCommandError, OSError):
        return None


def _head(repo: Any) -> str | None:
    try:
        return str(repo.head.commit.hexsha)
    except (ValueError, git.GitCommandError, TypeError):  # no commits yet
        return None


def project_commit(project_root: Path) -> str | None:
    """HEAD of the project checkout (``+dirty`` appended when tracked files are modified)."""
    repo = _repo(project_root)
    if repo is None:
        return None
    head = _head(repo)
    try:
        dirty = repo.is_dirty(untracked_files=False)
    except git.GitCommandError:
        dirty = False
    return f"{head}+dirty" if head and dirty else head


def target_info(target: Path) -> dict[str, Any] | None:
    """``{"root", "head", "dirty"}`` (dirty: tracked files modified) when the target is in a work tree, else ``None``."""
    repo = _repo(target)
    if repo is None or repo.bare or repo.working_tree_dir is None:
        return None
    root = Path(repo.working_tree_dir)
    try:
        rel = target.resolve().relative_to(root.resolve()).as_posix()
        # tracked files only: our own lock file is untracked, and listing untracked files walks the tree
        dirty = repo.is_dirty(untracked_files=False, path=rel if rel != "." else None)
    except (git.GitCommandError, ValueError):
        dirty = None
    return {"root": str(root), "head": _head(repo), "dirty": dirty}


def _identity_env(repo: git.Repo) -> dict[str, str]:
    """Author/committer for a host with no git identity configured (ops boxes often have none)."""
    reader = repo.config_reader()
    env: dict[str, str] = {}
    user = getpass.getuser()
    if not reader.has_option("user", "name"):
        env["GIT_AUTHOR_NAME"] = env["GIT_COMMITTER_NAME"] = user
    if not reader.has_option("user", "email"):
        env["GIT_AUTHOR_EMAIL"] = env["GIT_COMMITTER_EMAIL"] = f"{user}@{socket.gethostname()}"
    return env


def commit_deployment(target: Path, paths: Iterable[str], message: str) -> str:
    """Stage ``paths`` (relative to the target; deletions included) and commit them; return the sha."""
    repo = _repo(target)
    if repo is None or repo.working_tree_dir is None:
        raise DeployError(f"--git-commit: {target} is not inside a git work tree",
                          hint="drop --git-commit, or run git init in the target's repository")
    root = Path(repo.working_tree_dir).resolve()
    add: list[str] = []
    remove: list[str] = []
    for rel in paths:
        full = (target / rel).resolve() if not (target / rel).is_symlink() else (target / rel)
        repo_rel = os.path.relpath(full, root)
        (add if os.path.lexists(target / rel) else remove).append(repo_rel)
    try:
        if add:
            repo.git.add("--", *add)
        tracked = set(repo.git.ls_files("--", *remove).splitlines()) if remove else set()
        gone = [p for p in remove if p in tracked]
        # `git commit -- paths` records exactly these paths: whatever the operator had staged for other
        # files stays staged and out of the deployment commit
        repo.git.commit("-m", message, "--", *add, *gone, env=_identity_env(repo))
        commit = repo.head.commit
    except (git.GitCommandError, OSError, ValueError) as exc:
        raise DeployError(f"--git-commit failed: {exc}", hint="commit the deployment by hand with git") from exc
    return str(commit.hexsha)
