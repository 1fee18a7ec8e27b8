"""Issue 11 item 8: filesystem errors, deep manifests, early checks, reserved names, signals, status, messages.

Every case runs the real CLI (in-process through click's runner, or as a real process where signals or
the interpreter matter) against a copy of the example tree, and checks the exit code, the one error line
and that nothing was changed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from dc_deploy.cli import cli
from dc_deploy.digest import tree_digest
from dc_deploy.journal import JOURNAL_NAME
from dc_deploy.lock import LOCK_NAME
from dc_deploy.manifest import TOGGLES_PATH

REPO = Path(__file__).resolve().parents[2]


def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner(env=env).invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def error_lines(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.startswith(("error:", "Error:"))]


def one_error(err: str, *needles: str) -> str:
    lines = error_lines(err)
    assert len(lines) == 1, err
    assert "internal error" not in err and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], err
    return lines[0]


@pytest.fixture
def base(target: Path, manifest: Path) -> list[str]:
    return ["--target", str(target), "--manifest", str(manifest), "--no-progress"]


def deployed(cli_env: dict[str, str], base: list[str]) -> None:
    code, _, err = run(cli_env, "--integrate", "--bash-tool", "--no-verify", *base)
    assert code == 0, err


def audit_lines(cli_env: dict[str, str]) -> list[dict[str, object]]:
    path = Path(cli_env["DC_BACKUP_DIR"]) / "toggles-audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# ------------------------------------------------------------------------------- a. filesystem errors
def test_lock_path_that_is_a_directory_is_named(cli_env: dict[str, str], base: list[str], target: Path) -> None:
    (target / LOCK_NAME).mkdir()
    before = tree_digest(target, exclude=())
    code, _, err = run(cli_env, "--integrate", "--bash-tool", "--no-verify", *base)
    assert code == 1
    one_error(err, str(target / LOCK_NAME), "Is a directory", "mv ")
    assert tree_digest(target, exclude=()) == before


def test_journal_path_that_is_a_directory_is_named(cli_env: dict[str, str], base: list[str], target: Path) -> None:
    deployed(cli_env, base)
    (target / JOURNAL_NAME).mkdir()
    for args in (["--status"], ["--enable-streaming-bash=true", "--no-verify"], ["--list-backups"]):
        code, _, err = run(cli_env, *args, *base)
        assert code == 1, args
        one_error(err, str(target / JOURNAL_NAME), "Is a directory")


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[None]:
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed")
    proc = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"chattr +i not possible here: {proc.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_immutable_target_names_the_directory_and_the_fix(cli_env: dict[str, str], base: list[str],
                                                           target: Path) -> None:
    deployed(cli_env, base)
    toggles = (target / TOGGLES_PATH).read_bytes()
    with immutable(target / "dc_impl"):
        code, _, err = run(cli_env, "--enable-streaming-bash=true", "--no-verify", *base)
    assert code == 1
    line = one_error(err, str(target / "dc_impl"), "Operation not permitted", "chattr -i")
    assert ".dc-tmp-" not in line  # the directory, not one of our temp files
    assert (target / TOGGLES_PATH).read_bytes() == toggles


def test_read_only_bind_mount_names_the_path_and_the_fix(cli_env: dict[str, str], base: list[str], target: Path,
                                                          tmp_path: Path) -> None:
    deployed(cli_env, base)
    view = tmp_path / "ro-view"
    view.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "--bind", str(target), str(view)],
                                           capture_output=True).returncode != 0:
        pytest.skip("bind mounts need root")
    try:
        if subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], capture_output=True).returncode != 0:
            pytest.skip("read-only remount not possible here")
        before = tree_digest(target, exclude=())
        code, _, err = run(cli_env, "--enable-streaming-bash=true", "--no-verify", "--target", str(view))
        assert code == 1
        one_error(err, str(view), "Read-only file system", "read-write")
        assert tree_digest(target, exclude=()) == before
    finally:
        subprocess.run(["umount", str(view)], check=True)


# ------------------------------------------------------------------------------- b. deep nesting
def test_deeply_nested_manifest_is_invalid_input(cli_env: dict[str, str], target: Path, tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    code, out, err = run(cli_env, "--integrate", "--all", "--no-verify", "--json", "--target", str(target),
                         "--manifest", str(deep))
    assert code == 2 and json.loads(out)["error"]["exit_code"] == 2
    one_error(err, "nested too deeply", str(deep))


def test_deeply_nested_toggles_file_is_invalid_input(cli_env: dict[str, str], base: list[str],
                                                     target: Path) -> None:
    deployed(cli_env, base)
    (target / TOGGLES_PATH).write_text('{"revision": ' + "[" * 100_000 + "]" * 100_000 + "}")
    code, _, err = run(cli_env, "--enable-streaming-bash=true", "--no-verify", *base)
    assert code == 2
    one_error(err, str(target / TOGGLES_PATH))


# ------------------------------------------------------------------------------- c. DC_VERIFY_COMMAND
@pytest.mark.parametrize(("command", "text"), [('python3 -c "print(1)', "cannot be split"),
                                               ("   ", "blank"),
                                               ("no-such-verifier-xyz {target}", "not found")])
def test_bad_verify_command_is_refused_before_any_backup(cli_env: dict[str, str], base: list[str], target: Path,
                                                         command: str, text: str) -> None:
    before = tree_digest(target, exclude=())
    code, _, err = run({**cli_env, "DC_VERIFY_COMMAND": command}, "--integrate", "--bash-tool", *base)
    assert code == 2
    one_error(err, "DC_VERIFY_COMMAND", text)
    assert tree_digest(target, exclude=()) == before
    assert not Path(cli_env["DC_BACKUP_DIR"]).exists() or not any(Path(cli_env["DC_BACKUP_DIR"]).iterdir())


# ------------------------------------------------------------------------------- d. destinations
def _one_file_manifest(manifest: Path, tmp_path: Path, destination: str) -> Path:
    doc = json.loads(manifest.read_text())
    files = doc["components"][0]["files"]
    if destination.startswith("+"):  # an extra file below the first file's destination
        files.append({**files[1], "destination": files[0]["destination"] + destination[1:]})
    else:
        files[0]["destination"] = destination
    out = tmp_path / "bad-manifest.json"
    out.write_text(json.dumps(doc))
    return out


@pytest.mark.parametrize(("destination", "text"), [
    (LOCK_NAME, "managed by the installer"),
    (JOURNAL_NAME, "managed by the installer"),
    ("dc_impl/" + "n" * 240 + ".py", "at most 230"),
    ("dc_impl/" + "n" * 300 + ".py", "NAME_MAX"),
    ("dc_impl/.x.py.dc-tmp-1-abcd", "deletes"),
    ("dc_impl/__pycache__/x.py", "deletes"),
    ("/".join(["\N{GRINNING FACE}" * 50] * 20), "PATH_MAX"),
    ("+/inner.py", "needs it to be a directory"),
])
def test_unsafe_destinations_are_refused_at_validation(cli_env: dict[str, str], target: Path, manifest: Path,
                                                       tmp_path: Path, destination: str, text: str) -> None:
    bad = _one_file_manifest(manifest, tmp_path, destination)
    before = tree_digest(target, exclude=())
    code, _, err = run(cli_env, "--integrate", "--all", "--no-verify", "--target", str(target), "--manifest", str(bad))
    assert code == 2, err
    one_error(err, text)
    assert tree_digest(target, exclude=()) == before


# ------------------------------------------------------------------------------- e. backup dir placement
def test_backup_dir_inside_target_and_target_inside_backup_dir(cli_env: dict[str, str], base: list[str],
                                                               target: Path, tmp_path: Path) -> None:
    before = tree_digest(target, exclude=())
    inner = target / "backups"
    code, _, err = run(cli_env, "--integrate", "--bash-tool", "--no-verify", "--backup-dir", str(inner), *base)
    assert code == 2
    one_error(err, str(inner), str(target))
    assert not inner.exists() and tree_digest(target, exclude=()) == before
    code, _, err = run(cli_env, "--integrate", "--bash-tool", "--no-verify", "--backup-dir", str(target.parent),
                       *base)
    assert code == 2
    one_error(err, str(target), str(target.parent), "inside the backup directory")


def test_backup_dir_that_is_a_file_is_invalid_input(cli_env: dict[str, str], base: list[str], target: Path,
                                                    tmp_path: Path) -> None:
    not_a_dir = tmp_path / "backups-file"
    not_a_dir.write_text("x\n")
    before = tree_digest(target, exclude=())
    code, _, err = run(cli_env, "--integrate", "--bash-tool", "--no-verify", "--backup-dir", str(not_a_dir), *base)
    assert code == 2
    one_error(err, str(not_a_dir), "not a directory")
    assert tree_digest(target, exclude=()) == before


# ------------------------------------------------------------------------------- f. signals
_SIGNAL_AT = """
import os, signal, sys
sys.path.insert(0, {project!r})
import dc_deploy.failpoints as fp
import dc_deploy.toggle_store as ts
want = {point!r}
def hit(name, _orig=fp.hit):
    if name == want:
        os.kill(os.getpid(), signal.SIGTERM)
    _orig(name)
fp.hit = hit
if want == "audit":
    _append = ts.append_audit
    def append(path, record):
        os.kill(os.getpid(), signal.SIGTERM)
        _append(path, record)
    ts.append_audit = append
from dc_deploy.cli import main
main(sys.argv[1:])
"""


def signal_at(snapshot: Path, point: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a real process that sends itself SIGTERM exactly when it reaches ``point``."""
    return subprocess.run([sys.executable, "-c", _SIGNAL_AT.format(project=str(snapshot), point=point), *args],
                          env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("point", ["after_commit", "audit"])
def test_sigterm_after_the_commit_point_reports_success(cli_env: dict[str, str], base: list[str], target: Path,
                                                        snapshot: Path, point: str) -> None:
    deployed(cli_env, base)
    proc = signal_at(snapshot, point, ["--enable-streaming-bash=true", "--no-verify", *base], cli_env)
    assert proc.returncode == 0, proc.stderr
    assert "SIGTERM arrived after the change was committed" in proc.stderr and not error_lines(proc.stderr)
    assert json.loads((target / TOGGLES_PATH).read_text())["use_streaming_bash"] is True
    code, out, _ = run(cli_env, "--list-backups", "--json", *base)
    assert json.loads(out)[0]["status"] == "COMMITTED"
    assert audit_lines(cli_env)[-1]["result"] == "committed"


def _catches_sigterm(pid: int) -> bool:
    """The script's first lines ran: it has its own SIGTERM handler (the interpreter alone catches only SIGINT)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            mask = next(int(ln.split()[1], 16) for ln in fh if ln.startswith("SigCgt:"))
    except (FileNotFoundError, StopIteration):
        return False
    return bool(mask & (1 << (signal.SIGTERM - 1)))


_EIO_ON_JOURNAL_REMOVE = """
import errno, sys
sys.path.insert(0, {project!r})
import dc_deploy.journal as journal
_remove, calls = journal.remove, []
def remove(target):
    calls.append(target)
    if len(calls) == 1:  # the commit's removal of the COMMITTED journal fails like a dying disk
        raise OSError(errno.EIO, "Input/output error", str(journal.journal_path(target)))
    _remove(target)
journal.remove = remove
from dc_deploy.cli import main
main(sys.argv[1:])
"""


def test_failure_after_the_commit_point_keeps_the_change(cli_env: dict[str, str], base: list[str], target: Path,
                                                         snapshot: Path) -> None:
    deployed(cli_env, base)
    proc = subprocess.run([sys.executable, "-c", _EIO_ON_JOURNAL_REMOVE.format(project=str(snapshot)),
                           "--enable-streaming-bash=true", "--no-verify", *base], env=cli_env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1
    one_error(proc.stderr, "committed", "Input/output error", "completes it")
    assert json.loads((target / TOGGLES_PATH).read_text())["use_streaming_bash"] is True
    assert run(cli_env, "--prune-backups", "--keep", "100", *base)[0] == 0  # recovery finishes, never undoes
    assert not (target / JOURNAL_NAME).exists()
    assert json.loads((target / TOGGLES_PATH).read_text())["use_streaming_bash"] is True
    code, out, _ = run(cli_env, "--list-backups", "--json", *base)
    assert json.loads(out)[0]["status"] == "COMMITTED"


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_ctrl_c_while_starting_is_one_line_exit_130(cli_env: dict[str, str], target: Path, snapshot: Path) -> None:
    """Ctrl-C while the heavy imports run (the ~0.3 s after the script's first line), not a traceback."""
    script = snapshot / "integrate_streaming.py"
    for delay in (0.0, 0.04, 0.08, 0.12, 0.16, 0.2, 0.25):
        proc = subprocess.Popen([sys.executable, str(script), "--status", "--target", str(target)], env=cli_env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
        while not _catches_sigterm(proc.pid):  # wait for the script itself, not the interpreter's start-up
            assert proc.poll() is None, f"the script never installed its start-up handlers: {proc.communicate()}"
            time.sleep(0.001)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert "Traceback" not in err, (delay, err)
        if proc.returncode == -signal.SIGINT:  # landed while the interpreter shut down, after the command's output
            assert "last backup:" in out, (delay, out, err)
            continue
        assert proc.returncode in (0, 130), (delay, proc.returncode, err)
        if proc.returncode == 130:
            assert len(error_lines(err)) == 1 and "interrupted" in err, (delay, err)


# ------------------------------------------------------------------------------- g. status of a live transaction
def test_status_during_a_live_transaction_says_in_progress(cli_env: dict[str, str], base: list[str],
                                                           target: Path, snapshot: Path) -> None:
    env = {**cli_env, "DC_VERIFY_COMMAND": f"{sys.executable} -c 'import time; time.sleep(60)'"}
    proc = subprocess.Popen([sys.executable, str(snapshot / "integrate_streaming.py"), "--integrate", "--bash-tool",
                             *base], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (target / JOURNAL_NAME).exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        code, out, _ = run(cli_env, "--status", "--json", *base)
        assert code == 0
        doc = json.loads(out)
        assert doc["interrupted"] is None
        assert doc["in_progress"]["pid"] == proc.pid and doc["in_progress"]["operation"] == "integrate"
        assert f"in progress (pid {proc.pid}, since " in doc["in_progress"]["message"]
        code, out, _ = run(cli_env, "--status", *base)
        assert code == 0 and f"in progress (pid {proc.pid}" in out and "warning:" not in out
        code, _, err = run(cli_env, "--list-backups", "--json", *base)
        assert code == 0 and f"in progress (pid {proc.pid}" in err and "interrupted integrate" not in err
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert proc.returncode == 143
    code, out, _ = run(cli_env, "--status", "--json", *base)
    assert json.loads(out)["in_progress"] is None  # the lock was never disturbed: the rollback finished


# ------------------------------------------------------------------------------- h. loop.py edited by hand
def test_hand_edit_outside_the_block_is_reported_not_absorbed(cli_env: dict[str, str], base: list[str],
                                                              target: Path) -> None:
    deployed(cli_env, base)
    loop = target / "loop.py"
    loop.write_bytes(loop.read_bytes() + b"# local tweak by the operator\n")
    code, out, _ = run(cli_env, "--status", "--json", *base)
    assert "outside the managed block" in json.loads(out)["drift"][0]["detail"]
    code, out, _ = run(cli_env, "--integrate", "--no-verify", "--json", *base)
    assert code == 0
    doc = json.loads(out)
    assert [e["path"] for e in doc["hand_edits"]] == ["loop.py"]
    assert "outside the managed block" in doc["hand_edits"][0]["detail"]
    receipt = json.loads((target / "dc_impl" / "receipt.json").read_text())
    assert "outside the managed block" in receipt["files"]["loop.py"]["note"]
    assert loop.read_bytes().endswith(b"# local tweak by the operator\n")  # kept as the operator left it
    code, out, _ = run(cli_env, "--integrate", "--no-verify", "--json", *base)
    assert code == 0 and json.loads(out)["actions"] == [] and json.loads(out)["hand_edits"] == []
    loop.write_bytes(loop.read_bytes().replace(b"# local tweak", b"# second tweak"))
    code, out, err = run(cli_env, "--integrate", "--no-verify", *base)
    assert code == 0 and "warning:" in out and "loop.py changed by hand outside the managed block" in out


# ------------------------------------------------------------------------------- i. messages
def test_loop_symlink_is_named_as_a_symlink(cli_env: dict[str, str], base: list[str], target: Path) -> None:
    real = target / "loop_real.py"
    (target / "loop.py").rename(real)
    (target / "loop.py").symlink_to("loop_real.py")
    code, _, err = run(cli_env, "--integrate", "--update-loop", "--no-verify", *base)
    assert code == 2
    line = one_error(err, "is a symlink", "loop_real.py", "cp --remove-destination")
    assert "has no loop.py" not in line


def test_deleted_toggles_file_is_named(cli_env: dict[str, str], base: list[str], target: Path) -> None:
    deployed(cli_env, base)
    (target / TOGGLES_PATH).unlink()
    code, _, err = run(cli_env, "--enable-streaming-bash=true", "--no-verify", *base)
    assert code == 1
    line = one_error(err, "is missing", "--integrate")
    assert "nothing is deployed" not in line
    code, out, _ = run(cli_env, "--status", *base)
    assert code == 0 and "feature_toggles.json is missing; recreate it" in out
    code, _, err = run(cli_env, "--integrate", "--enable-streaming-bash=true", "--no-verify", *base)
    assert code == 0 and json.loads((target / TOGGLES_PATH).read_text())["use_streaming_bash"] is True


def test_verification_timeout_says_so(cli_env: dict[str, str], base: list[str]) -> None:
    env = {**cli_env, "DC_VERIFY_COMMAND": f"{sys.executable} -c 'import time; time.sleep(30)'"}
    code, _, err = run(env, "--integrate", "--bash-tool", "--verify-timeout", "1", *base)
    assert code == 3
    line = one_error(err, "timed out after", "--verify-timeout 1s")
    assert "failing checks above" not in line


def test_verifier_without_output_does_not_point_at_checks(cli_env: dict[str, str], base: list[str]) -> None:
    code, _, err = run({**cli_env, "DC_VERIFY_COMMAND": "false"}, "--integrate", "--bash-tool", *base)
    assert code == 3
    assert "failing checks above" not in one_error(err, "run it by hand")


def test_same_toggle_flag_twice(cli_env: dict[str, str], base: list[str], target: Path) -> None:
    deployed(cli_env, base)
    code, _, err = run(cli_env, "--enable-streaming-bash=true", "--enable-streaming-bash=false", "--no-verify", *base)
    assert code == 2
    one_error(err, "--enable-streaming-bash", "more than once")
    assert json.loads((target / TOGGLES_PATH).read_text())["use_streaming_bash"] is False
    code, _, err = run(cli_env, "--enable-streaming-bash=on", "--enable-streaming-bash=true", "--no-verify", *base)
    assert code == 0, err


# ------------------------------------------------------------------------------- j. --build-manifest
def test_build_manifest_refuses_to_overwrite_without_force(cli_env: dict[str, str], manifest: Path) -> None:
    old = manifest.read_bytes()
    code, _, err = run(cli_env, "--build-manifest", "--version", "1.0.0")
    assert code == 2
    one_error(err, str(manifest), "--force")
    assert manifest.read_bytes() == old
    code, _, err = run(cli_env, "--build-manifest", "--version", "1.0.0", "--force", "--output", str(manifest))
    assert code == 0, err
    assert run(cli_env, "--status", "--force", "--target", ".")[0] == 2


# ------------------------------------------------------------------------------- k. interpreter without deps
def test_script_under_a_python_without_deps_says_how_to_run_it(cli_env: dict[str, str], snapshot: Path,
                                                               tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(snapshot / "dc_deploy", project / "dc_deploy")
    shutil.copy2(snapshot / "integrate_streaming.py", project / "integrate_streaming.py")
    bare = [sys.executable, "-S", str(project / "integrate_streaming.py"), "--help"]  # -S: no site-packages
    proc = subprocess.run(bare, env=cli_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    line = one_error(proc.stderr, "needs its dependencies", "make .venv/.stamp-run", "pip install")
    assert "click" in line or "rich" in line
    # with a project venv it re-executes itself there
    venv_python = project / ".venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    venv_python.write_text(f"#!/bin/sh\nexec {sys.executable} \"$@\"\n")
    venv_python.chmod(0o755)
    proc = subprocess.run(bare, env=cli_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "--integrate" in proc.stdout, proc.stderr


def test_verify_script_under_a_python_without_deps(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "DC_VERIFY_PARENT_PID": str(os.getpid())}  # started by the installer: never re-exec
    proc = subprocess.run([sys.executable, "-S", str(REPO / "verify_streaming.py"), "--help"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    one_error(proc.stderr, "verify_streaming.py needs its dependencies", sys.executable)


# ------------------------------------------------------------------------------- l. audit of rolled-back flips
def test_flip_undone_by_a_signal_is_audited(cli_env: dict[str, str], base: list[str], target: Path,
                                            snapshot: Path) -> None:
    deployed(cli_env, base)
    toggles = (target / TOGGLES_PATH).read_bytes()
    proc = signal_at(snapshot, "toggle_after_replace", ["--enable-streaming-bash=true", "--reason", "try",
                                                        "--no-verify", *base], cli_env)
    assert proc.returncode == 143, proc.stderr
    assert (target / TOGGLES_PATH).read_bytes() == toggles
    last = audit_lines(cli_env)[-1]
    assert last["result"] == "rolled_back" and last["new"] == {"use_streaming_bash": True}
    assert last["rollback_reason"] == "interrupted by SIGTERM" and last["reason"] == "try"


def test_flip_undone_by_recovery_is_audited(cli_env: dict[str, str], base: list[str], target: Path,
                                            snapshot: Path) -> None:
    deployed(cli_env, base)
    toggles = (target / TOGGLES_PATH).read_bytes()
    proc = subprocess.run([sys.executable, str(snapshot / "integrate_streaming.py"), "--enable-streaming-bash=true",
                           "--no-verify", *base], env={**cli_env, "DC_FAILPOINT": "toggle_after_replace"},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL  # the failpoint fired: killed right after the toggle write
    assert json.loads((target / TOGGLES_PATH).read_text())["use_streaming_bash"] is True
    assert run(cli_env, "--prune-backups", "--keep", "100", *base)[0] == 0  # takes the lock: recovers
    assert (target / TOGGLES_PATH).read_bytes() == toggles
    last = audit_lines(cli_env)[-1]
    assert last["result"] == "rolled_back" and last["old"] == {"use_streaming_bash": False}
    assert last["new"] == {"use_streaming_bash": True} and "recovery" in str(last["rollback_reason"])


# ------------------------------------------------------------------------------- same family
def test_absurd_timeouts_are_usage_errors_before_any_backup(cli_env: dict[str, str], base: list[str],
                                                            target: Path) -> None:
    deployed(cli_env, base)
    backups = sorted(Path(cli_env["DC_BACKUP_DIR"]).iterdir())
    for flag in ("--verify-timeout", "--lock-timeout"):
        code, _, err = run({**cli_env, "DC_VERIFY_COMMAND": "true"}, "--enable-streaming-bash=true", flag, "1e300",
                           *base)
        assert code == 2, err
        one_error(err, flag, "at most")
    assert sorted(Path(cli_env["DC_BACKUP_DIR"]).iterdir()) == backups


def _cli(snapshot: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """A real process with a deadline: a FIFO read would block it forever."""
    return subprocess.run([sys.executable, str(snapshot / "integrate_streaming.py"), *args], env=env,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_fifo_manifest_is_refused_not_read(cli_env: dict[str, str], target: Path, snapshot: Path,
                                           tmp_path: Path) -> None:
    fifo = tmp_path / "manifest.json"
    os.mkfifo(fifo)
    proc = _cli(snapshot, cli_env, "--integrate", "--all", "--no-verify", "--target", str(target), "--manifest",
                str(fifo))
    assert proc.returncode == 2
    one_error(proc.stderr, str(fifo), "not a regular file")


def test_fifo_toggles_file_is_refused_not_read(cli_env: dict[str, str], base: list[str], target: Path,
                                               snapshot: Path) -> None:
    deployed(cli_env, base)
    (target / TOGGLES_PATH).unlink()
    os.mkfifo(target / TOGGLES_PATH)
    proc = _cli(snapshot, cli_env, "--status", *base)
    assert proc.returncode == 0 and "is not a regular file" in proc.stdout
    proc = _cli(snapshot, cli_env, "--enable-streaming-bash=true", "--no-verify", *base)
    assert proc.returncode == 2
    one_error(proc.stderr, str(target / TOGGLES_PATH), "not a regular file")
