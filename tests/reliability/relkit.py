"""Shared machinery of the reliability suites (imported by conftest.py and the test modules).

- a self-contained *project snapshot* (dc_deploy + dc_impl + integrate_streaming.py copied once, so
  concurrent edits in the checkout cannot break a run) with synthetic payload files and three manifests:
  ``one`` (one file), ``many`` (30 files in nested new directories, plus the loop.py block) and
  ``churn`` (``churn-v1`` installed first; ``churn`` changes, adds and removes files and directories);
- targets copied from ``examples/computer_use_demo``;
- the oracle: ``ndigest`` = ``dc_deploy.digest.tree_digest`` with the receipt's volatile fields
  (install time, backup id, git details) normalised away -- everything else is compared byte-exact;
- CLI runs as subprocesses (optionally recording every failpoint hit), in-process recovery, and the
  leftover / lock checks every crash case ends with.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import Timeout, UnixFileLock
from rich.console import Console

from dc_deploy import api
from dc_deploy.backups import BackupStore
from dc_deploy.context import Context
from dc_deploy.digest import tree_digest
from dc_deploy.fsutil import TEMP_MARK
from dc_deploy.journal import JOURNAL_NAME
from dc_deploy.lock import LOCK_NAME
from dc_deploy.manifest import RECEIPT_PATH, TOGGLES_PATH

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "computer_use_demo"
PYTHON = sys.executable
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "tests")
FEATURES = ("use_streaming_bash", "use_streaming_file", "use_streaming_screenshot", "use_unified_streaming",
            "use_streaming_thinking")
MANIFESTS = ("one", "many", "churn")
OPERATIONS = ("integrate", "restore", "toggle")


# ------------------------------------------------------------------------------------------ project
def _payload(name: str, size: int) -> bytes:
    """Deterministic bytes with the awkward parts: CRLF, tabs, trailing blanks, no final newline."""
    seed = hashlib.sha256(name.encode()).hexdigest()
    line = f"# {name}\t{seed}  \r\n".encode()
    body = (line * (size // len(line) + 1))[:size]
    return body.rstrip(b"\n")


def write_manifest(project: Path, name: str, version: str, components: list[dict[str, Any]]) -> Path:
    """Write payload sources under ``project/payload/<name>/`` and a schema-valid manifest for them.

    ``components``: ``{"id", "files": [(destination, bytes, mode)], "depends_on"?, "loop_block"?}``.
    """
    comps = []
    for comp in components:
        files = []
        for dest, data, mode in comp["files"]:
            src = Path("payload") / name / dest
            (project / src).parent.mkdir(parents=True, exist_ok=True)
            (project / src).write_bytes(data)
            files.append({"source": src.as_posix(), "destination": dest, "sha256": hashlib.sha256(data).hexdigest(),
                          "mode": mode})
        comps.append({"id": comp["id"], "phase": 0, "depends_on": list(comp.get("depends_on", [])),
                      "loop_block": bool(comp.get("loop_block", False)), "files": files})
    doc = {"format": 1, "name": "claude-dc-streaming", "version": version,
           "toggle_defaults": {k: False for k in FEATURES}, "components": comps}
    out = project / "manifests" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1))
    return out


def _files(prefix: str, n: int, size: int = 600, mode: int = 0o644) -> list[tuple[str, bytes, int]]:
    return [(f"{prefix}{i:02d}.py", _payload(f"{prefix}{i}", size + 37 * i), mode) for i in range(n)]


def build_project(root: Path) -> dict[str, Path]:
    """Snapshot the installer into ``root`` and write the manifests; return ``{key: manifest path}``."""
    shutil.copytree(REPO / "dc_impl", root / "dc_impl", ignore=IGNORE)
    shutil.copytree(REPO / "dc_deploy", root / "dc_deploy", ignore=IGNORE)
    shutil.copy2(REPO / "integrate_streaming.py", root / "integrate_streaming.py")
    out = {"one": write_manifest(root, "one", "1.0.0", [
        {"id": "core", "files": [("dc_impl/one.py", _payload("one", 2000), 0o644)]}])}
    out["many"] = write_manifest(root, "many", "2.0.0", [
        {"id": "core", "files": _files("dc_impl/core_", 5)},
        {"id": "loop-hook", "depends_on": ["core"], "loop_block": True,
         "files": [("dc_impl/hook.py", b"def install(namespace):\n    return None\n", 0o644)]},
        {"id": "extra", "depends_on": ["core"],
         "files": _files("dc_impl/pkg/a/m_", 8) + _files("dc_impl/pkg/b/c/n_", 8, mode=0o755)
         + _files("dc_impl/pkg/d/o_", 8, size=20000, mode=0o600)}])
    keep, gone = _files("dc_impl/keep_", 3), _files("dc_impl/old/deep/gone_", 4)
    out["churn-v1"] = write_manifest(root, "churn-v1", "3.0.0", [
        {"id": "core", "files": keep}, {"id": "legacy", "depends_on": ["core"], "files": gone}])
    changed = [(d, data + b"\n# v2\n", m) for d, data, m in keep[:2]] + keep[2:]
    out["churn"] = write_manifest(root, "churn", "3.1.0", [
        {"id": "core", "files": changed + _files("dc_impl/new/sub/fresh_", 4)}])
    return out


def make_target(parent: Path) -> Path:
    target = parent / "computer_use_demo"
    shutil.copytree(EXAMPLE, target, ignore=IGNORE)
    return target


# ------------------------------------------------------------------------------------------ oracle
def ndigest(target: Path) -> dict[str, Any]:
    """``tree_digest`` with the receipt reduced to its stable fields (what a re-run compares)."""
    digest: dict[str, Any] = dict(tree_digest(target))
    receipt = target / RECEIPT_PATH
    if RECEIPT_PATH in digest and digest[RECEIPT_PATH][0] == "file":
        try:
            doc = json.loads(receipt.read_bytes())
            stable = {k: doc.get(k) for k in ("format", "name", "version", "components", "files")}
        except ValueError:
            stable = {"unparseable": digest[RECEIPT_PATH][3]}
        kind, mode, _size, _sha = digest[RECEIPT_PATH]
        digest[RECEIPT_PATH] = (kind, mode, -1, json.dumps(stable, sort_keys=True))
    return digest


def toggles_bytes(target: Path) -> bytes | None:
    try:
        return (target / TOGGLES_PATH).read_bytes()
    except FileNotFoundError:
        return None


def leftovers(*roots: Path) -> list[str]:
    """Temp files, journals and half-deleted backups anywhere below ``roots``."""
    bad = []
    for root in roots:
        if not root.exists():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            for name in [*filenames, *dirnames]:
                if TEMP_MARK in name or name == JOURNAL_NAME or name.startswith(".deleting-"):
                    bad.append(os.path.join(dirpath, name))
    return bad


def lock_acquirable(target: Path, within: float = 1.0) -> bool:
    lock = UnixFileLock(target / LOCK_NAME, timeout=within, fallback_to_soft=False, preserve_lock_file=True)
    try:
        lock.acquire()
    except Timeout:
        return False
    lock.release()
    return True


# ------------------------------------------------------------------------------------------ running
def quiet_ctx(project: Path, *, environ: dict[str, str] | None = None, clock: Any = None) -> Context:
    return Context(err=Console(file=io.StringIO()), clock=clock or (lambda: _dt.datetime.now(_dt.UTC)),
                   environ=dict(environ if environ is not None else os.environ), user="tester", host="testhost",
                   project_root=project, command="reliability", progress=False)


def base_env(project: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DC_")}
    env.update({"DC_PROJECT_ROOT": str(project), "PYTHONDONTWRITEBYTECODE": "1", "COLUMNS": "200"})
    env.update(extra)
    return env


_RECORDER = """
import sys
sys.path.insert(0, {project!r})
import dc_deploy.failpoints as fp
_orig = fp.hit
def _hit(name):
    with open({log!r}, "a") as fh:
        fh.write(name + "\\n")
    _orig(name)
fp.hit = _hit
from dc_deploy.cli import main
sys.argv[0] = "integrate_streaming.py"
main(sys.argv[1:])
"""


def cli_argv(project: Path, args: Sequence[str], *, record_hits: Path | None = None) -> list[str]:
    if record_hits is None:
        return [PYTHON, str(project / "integrate_streaming.py"), *args]
    return [PYTHON, "-c", _RECORDER.format(project=str(project), log=str(record_hits)), *args]


def run_cli(project: Path, args: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 120,
            record_hits: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli_argv(project, args, record_hits=record_hits), env=env or base_env(project),
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def recover(project: Path, target: Path, backup_dir: Path) -> Any:
    """The next command that takes the lock (``--prune-backups --keep 1000``), in-process."""
    opts = api.Options(target=target, backup_dir=backup_dir, lock_timeout=10)
    return api.prune(opts, quiet_ctx(project), 1000)


# ------------------------------------------------------------------------------------------ scenarios
@dataclass
class Prepared:
    """One crash-case directory: the target at its ``old`` state and the command that moves it to ``new``."""

    target: Path
    backup_dir: Path
    args: list[str]
    env: dict[str, str]
    old: dict[str, Any] = field(default_factory=dict)
    old_toggles: bytes | None = None


def _integrate(project: Path, target: Path, backup_dir: Path, manifest: Path, flips: dict[str, bool],
               clock: Any = None) -> str:
    opts = api.Options(target=target, backup_dir=backup_dir, manifest=manifest, verify=False, lock_timeout=10)
    res = api.integrate(opts, quiet_ctx(project, clock=clock), None, flips)
    return str(res.backup_id)


def prepare(project: Path, manifests: dict[str, Path], key: str, op: str, where: Path,
            verify_command: str = "true", clock: Any = None) -> Prepared:
    """Build the ``old`` state of (manifest ``key``, operation ``op``) under ``where`` (``clock``: the
    setup's clock, for a test that injects one)."""
    where.mkdir(parents=True, exist_ok=True)
    target, backup_dir = make_target(where), where / "backups"
    common = ["--target", str(target), "--backup-dir", str(backup_dir), "--no-progress", "--lock-timeout", "10"]
    if key == "churn":
        _integrate(project, target, backup_dir, manifests["churn-v1"], {}, clock)
    if op == "integrate":
        args = ["--integrate", "--all", "--manifest", str(manifests[key]), "--enable-streaming-file=true", *common]
    else:
        backup_id = _integrate(project, target, backup_dir, manifests[key], {"use_streaming_bash": True}, clock)
        if op == "restore":
            args = ["--restore", backup_id, *common]
        else:
            args = ["--enable-streaming-bash=false", "--enable-unified-streaming=true", "--reason", "flip", *common]
    env = base_env(project, DC_VERIFY_COMMAND=verify_command)
    return Prepared(target, backup_dir, args, env, ndigest(target), toggles_bytes(target))


@dataclass
class Reference:
    """A clean run of one (manifest, operation): the ``new`` state and the failpoints it passes."""

    new: dict[str, Any]
    new_toggles: bytes | None
    hits: list[str]
    seconds: float

    def count(self, name: str) -> int:
        return self.hits.count(name)


def reference_run(project: Path, manifests: dict[str, Path], key: str, op: str, where: Path) -> Reference:
    prep = prepare(project, manifests, key, op, where)
    log = where / "hits.log"
    t0 = time.monotonic()
    proc = run_cli(project, prep.args, env=prep.env, record_hits=log)
    took = time.monotonic() - t0
    if proc.returncode != 0:
        raise AssertionError(f"clean {op} of {key} failed ({proc.returncode}): {proc.stderr}")
    hits = log.read_text().split() if log.exists() else []
    return Reference(ndigest(prep.target), toggles_bytes(prep.target), hits, took)


def check_converged(prep: Prepared, ref: Reference, project: Path) -> str:
    """Run the next locking command, then assert the crash-case invariants; return ``old`` or ``new``."""
    recover(project, prep.target, prep.backup_dir)
    now = ndigest(prep.target)
    which = "old" if now == prep.old else "new" if now == ref.new else None
    if which is None:
        from dc_deploy.digest import diff

        base = diff(prep.old, now)
        raise AssertionError(f"state is neither old nor new; vs old: {base}; vs new: {diff(ref.new, now)}")
    assert toggles_bytes(prep.target) in (prep.old_toggles, ref.new_toggles)
    left = leftovers(prep.target, prep.backup_dir)
    assert left == [], f"left behind after recovery: {left}"
    assert lock_acquirable(prep.target, 1.0)
    store = BackupStore(prep.backup_dir)
    for backup in store.all():
        store.check(backup)  # every listed backup's hashes still match
        assert backup.status in ("COMMITTED", "FAILED", "ROLLED_BACK", "INCOMPLETE")
    return which


# ------------------------------------------------------------------------------------------ holders
def hanging_verify(pidfile: Path, seconds: int = 300) -> str:
    """A ``DC_VERIFY_COMMAND`` that records its pid, then hangs (the installer holds the lock meanwhile)."""
    return f"sh -c 'echo $$ > {pidfile}; exec sleep {seconds}'"


def start_hanging(project: Path, prep: Prepared, pidfile: Path, extra: Sequence[str] = ()
                  ) -> tuple[subprocess.Popen[str], int]:
    """Start the prepared command with a hanging verification; return it and the verifier's pid once running."""
    env = {**prep.env, "DC_VERIFY_COMMAND": hanging_verify(pidfile)}
    proc = subprocess.Popen(cli_argv(project, [*prep.args, *extra]), env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = pidfile.read_text().strip() if pidfile.exists() else ""
        if text:
            # Let subprocess.Popen return in the installer first: a signal that lands inside Popen itself
            # (before run_verification holds the child) orphans the verifier -- see docs/reliability.md.
            time.sleep(0.3)
            return proc, int(text)
        if proc.poll() is not None:
            raise AssertionError(f"command ended before verification started: {proc.communicate()}")
        time.sleep(0.01)
    proc.kill()
    raise AssertionError("verification never started")


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def wait_dead(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.02)
    return not alive(pid)
