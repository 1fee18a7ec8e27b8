"""Machinery of the fleet tests: local "hosts", project snapshots (good and broken releases), real
``ansible-playbook`` runs, and the oracles (tree digests, backups, PLAY RECAP, the JSON summary).

Each host is a directory with its own ``computer_use_demo`` copy (``dc_target``) and backup root
(``dc_backup_dir``), reached with ``ansible_connection=local`` and this venv's interpreter. The installer
runs from a *snapshot* of the project (other work may change the checkout while tests run), as
``<python> <snapshot>/integrate_streaming.py``: the "synced checkout" way of getting a release to hosts.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dc_deploy.digest import tree_digest
from dc_deploy.journal import JOURNAL_NAME
from dc_deploy.manifest import RECEIPT_PATH

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "computer_use_demo"
PLAYBOOKS = REPO / "deploy" / "ansible"
PYTHON = sys.executable
BIN = Path(sys.executable).parent
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "tests")
BROKEN_TOOL = "dc_impl/tools/dc_bash.py"
# toggles whose verification checks are quick (the bash and loop checks take seconds per host);
# "yes" goes through Ansible's bool filter
TOGGLES = {"use_streaming_thinking": True, "use_streaming_screenshot": "yes"}


def tool(name: str) -> str:
    found = BIN / name
    return str(found) if found.exists() else (shutil.which(name) or name)


# ------------------------------------------------------------------------------------------ releases
def snapshot_project(root: Path, version: str) -> Path:
    """Copy the installer, the runtime and the verifier to ``root``; build its manifest with the real CLI."""
    for pkg in ("dc_impl", "dc_deploy", "dc_verify"):
        shutil.copytree(REPO / pkg, root / pkg, ignore=IGNORE)
    for script in ("integrate_streaming.py", "verify_streaming.py"):
        shutil.copy2(REPO / script, root / script)
    build_manifest(root, version)
    return root


def build_manifest(project: Path, version: str) -> Path:
    out = project / "manifests" / f"streaming-{version}.json"
    subprocess.run([PYTHON, str(project / "integrate_streaming.py"), "--build-manifest", "--version", version,
                    "--output", str(out)], check=True, capture_output=True, env=clean_env())
    return out


def broken_release(good: Path, root: Path, version: str) -> Path:
    """A copy of ``good`` whose bash tool raises on import, with a manifest built for it (``--build-manifest``)."""
    shutil.copytree(good, root, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "manifests"))
    with open(root / BROKEN_TOOL, "a", encoding="utf-8") as fh:
        fh.write('\nraise RuntimeError("deliberately broken release")\n')
    build_manifest(root, version)
    return root


def installer(project: Path) -> str:
    return f"{PYTHON} {project / 'integrate_streaming.py'}"


# ------------------------------------------------------------------------------------------ hosts
@dataclass
class Fleet:
    root: Path
    hosts: list[str]
    inventory: Path

    def target(self, host: str) -> Path:
        return self.root / host / "computer_use_demo"

    def backup_dir(self, host: str) -> Path:
        return self.root / host / "backups"

    def backups(self, host: str) -> dict[str, str]:
        """``{backup id: status}`` of the host's backups."""
        where = self.backup_dir(host)
        if not where.is_dir():
            return {}
        return {p.name: json.loads((p / "backup.json").read_text())["status"]
                for p in sorted(where.glob("backup_*")) if (p / "backup.json").exists()}

    def digests(self) -> dict[str, dict[str, Any]]:
        return {h: tree_digest(self.target(h)) for h in self.hosts}

    def stable_digests(self) -> dict[str, dict[str, Any]]:
        return {h: stable_digest(self.target(h)) for h in self.hosts}

    def journals(self) -> list[str]:
        return [h for h in self.hosts if (self.target(h) / JOURNAL_NAME).exists()]


def make_fleet(root: Path, n: int) -> Fleet:
    hosts = [f"host{i}" for i in range(1, n + 1)]
    lines = ["[fleet]"]
    for h in hosts:
        shutil.copytree(EXAMPLE, root / h / "computer_use_demo", ignore=IGNORE)
        lines.append(f"{h} dc_target={root / h / 'computer_use_demo'} dc_backup_dir={root / h / 'backups'}")
    lines += ["", "[fleet:vars]", "ansible_connection=local", f"ansible_python_interpreter={PYTHON}", ""]
    inventory = root / "inventory.ini"
    inventory.write_text("\n".join(lines))
    return Fleet(root, hosts, inventory)


def stable_digest(target: Path) -> dict[str, Any]:
    """``tree_digest`` with the receipt reduced to what two deployments of one release share
    (install time, backup id and git details differ from host to host)."""
    digest: dict[str, Any] = dict(tree_digest(target))
    entry = digest.get(RECEIPT_PATH)
    if entry and entry[0] == "file":
        doc = json.loads((target / RECEIPT_PATH).read_bytes())
        stable = {k: doc.get(k) for k in ("format", "name", "version", "components", "files")}
        digest[RECEIPT_PATH] = (entry[0], entry[1], -1, json.dumps(stable, sort_keys=True))
    return digest


# ------------------------------------------------------------------------------------------ ansible
RECAP = re.compile(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$")


@dataclass
class Run:
    rc: int
    output: str
    recap: dict[str, dict[str, int]]
    summary: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def hosts(self) -> dict[str, dict[str, Any]]:
        return dict(self.summary.get("hosts", {}))


def parse_recap(output: str) -> dict[str, dict[str, int]]:
    recap: dict[str, dict[str, int]] = {}
    if "PLAY RECAP" not in output:
        return recap
    for line in output.split("PLAY RECAP", 1)[1].splitlines():
        m = RECAP.match(line.strip())
        if m:
            recap[m.group(1)] = {k: int(v) for k, v in (kv.split("=") for kv in m.group(2).split())}
    return recap


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DC_", "ANSIBLE_"))}
    env.update({"PYTHONDONTWRITEBYTECODE": "1", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "0",
                "ANSIBLE_PYTHON_INTERPRETER": PYTHON})
    env.update(extra)
    return env


def ansible_env(fleet: Fleet, **extra: str) -> dict[str, str]:
    home = fleet.root / ".ansible"
    return clean_env(ANSIBLE_CONFIG=str(PLAYBOOKS / "ansible.cfg"), ANSIBLE_HOME=str(home),
                     ANSIBLE_LOCAL_TEMP=str(home / "tmp"),
                     ANSIBLE_REMOTE_TEMP=str(home / "remote-tmp"), **extra)


def playbook_argv(fleet: Fleet, playbook: str, extra_vars: dict[str, Any], args: Sequence[str] = ()) -> list[str]:
    return [tool("ansible-playbook"), "-i", str(fleet.inventory), str(PLAYBOOKS / playbook),
            "-e", json.dumps(extra_vars), *args]


def run_playbook(fleet: Fleet, playbook: str, extra_vars: dict[str, Any], *args: str, timeout: float = 240,
                 env: dict[str, str] | None = None) -> Run:
    summary_file = fleet.root / f"summary-{time.monotonic_ns()}.json"
    argv = playbook_argv(fleet, playbook, {**extra_vars, "dc_summary_file": str(summary_file)}, args)
    t0 = time.monotonic()
    proc = subprocess.run(argv, cwd=fleet.root, env=env or ansible_env(fleet), capture_output=True, text=True,
                          timeout=timeout)
    output = proc.stdout + proc.stderr
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {}
    return Run(proc.returncode, output, parse_recap(output), summary, time.monotonic() - t0)


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (read from /proc; the Ansible workers and the installers
    they start run in sessions of their own, so a process-group kill would miss them)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        cur = todo.pop()
        out.append(cur)
        todo.extend(children.get(cur, []))
    return out


def play_starts(output: str, name: str) -> int:
    """How many times the play started: one per serial batch."""
    return output.count(f"PLAY [{name}]")
