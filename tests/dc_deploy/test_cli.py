"""CLI wiring and every exit code, through click's CliRunner (in-process)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from dc_deploy.cli import cli
from dc_deploy.digest import tree_digest


def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner(env=env).invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def base(target: Path, manifest: Path) -> list[str]:
    return ["--target", str(target), "--manifest", str(manifest)]


def test_integrate_json_is_one_document_and_second_run_noop(cli_env: dict[str, str], base: list[str],
                                                            target: Path) -> None:
    code, out, _ = run(cli_env, "--integrate", "--all", "--no-verify", "--json", *base)
    assert code == 0
    doc = json.loads(out)
    assert doc["ok"] and doc["command"] == "integrate" and doc["backup_id"].startswith("backup_")
    assert doc["components"] == ["core", "loop-hook", "bash-tool", "file-tool", "screenshot-tool", "metrics",
                                 "unified-streaming", "streamlit-ui", "ui-hook"]
    code, out, _ = run(cli_env, "--integrate", "--all", "--no-verify", "--json", *base)
    assert code == 0 and json.loads(out)["actions"] == [] and json.loads(out)["backup_id"] is None
    code, out, _ = run(cli_env, "--list-backups", "--json", *base)
    assert code == 0 and len(json.loads(out)) == 1


def test_human_output_and_status(cli_env: dict[str, str], base: list[str]) -> None:
    code, out, _ = run(cli_env, "--integrate", "--bash-tool", "--dry-run", *base)
    assert code == 0 and "dry run" in out and "dc_impl/tools/dc_bash.py" in out
    code, out, _ = run(cli_env, "--integrate", "--bash-tool", "--no-verify", "--enable-streaming-bash=yes", *base)
    assert code == 0 and "use_streaming_bash: false -> true" in out and "--restore backup_" in out
    code, out, _ = run(cli_env, "--status", *base)
    assert code == 0 and "1.0.0" in out and "use_streaming_bash=on" in out and "drift: none" in out
    code, out, _ = run(cli_env, "--list-backups", *base)
    assert code == 0 and "COMMITTED" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--status"], "no target: pass --target DIR or set DC_PRODUCTION_DIR"),
    (["--enable-streaming-bash=perhaps", "--target", "."], "not a boolean"),
    (["--status", "--list-backups", "--target", "."], "choose one of"),
    (["--bash-tool", "--target", "."], "need --integrate"),
    (["--prune-backups", "--target", "."], "--keep N"),
    ([], "nothing to do"),
    (["--restore", "backup_19990101_000000", "--target", "."], "no backup"),
    (["--integrate", "--all", "--verify-timeout", "-1", "--target", "no-such-dir"], "--verify-timeout must be"),
    (["--integrate", "--all", "--verify-timeout", "0", "--target", "no-such-dir"], "--verify-timeout must be"),
    (["--enable-streaming-bash=on", "--lock-timeout", "-5", "--target", "no-such-dir"], "--lock-timeout must be"),
    (["--enable-streaming-bash=on", "--lock-timeout", "-0.5", "--target", "no-such-dir"], "--lock-timeout must be"),
    (["--status", "--lock-timeout", "nan", "--target", "no-such-dir"], "--lock-timeout must be"),
])
def test_usage_errors_exit_2(cli_env: dict[str, str], args: list[str], message: str) -> None:
    code, out, err = run(cli_env, *args)
    assert code == 2, err
    assert message in err and "Traceback" not in err and out == ""


def test_unknown_option_with_json_prints_json(cli_env: dict[str, str]) -> None:
    proc = subprocess.run([sys.executable, str(Path(cli_env["DC_PROJECT_ROOT"]) / "integrate_streaming.py"),
                           "--json", "--frobnicate"], env=cli_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert json.loads(proc.stdout)["error"]["exit_code"] == 2


def test_error_exit_1_without_traceback(cli_env: dict[str, str], base: list[str]) -> None:
    code, out, err = run(cli_env, "--enable-streaming-bash=true", "--no-verify", *base)
    assert code == 1 and "nothing is deployed" in err and "hint:" in err and "Traceback" not in err


def test_env_target_and_json_error_document(cli_env: dict[str, str], target: Path, manifest: Path) -> None:
    env = {**cli_env, "DC_PRODUCTION_DIR": str(target)}
    code, out, _ = run(env, "--enable-streaming-bash=true", "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["ok"] is False and doc["error"]["code"] == "not-installed" and doc["command"] == "toggles"


def test_verification_failure_exit_3(cli_env: dict[str, str], base: list[str], target: Path) -> None:
    old = tree_digest(target)
    env = {**cli_env, "DC_VERIFY_COMMAND": "false"}
    code, out, err = run(env, "--integrate", "--all", "--json", *base)
    assert code == 3
    doc = json.loads(out)
    assert doc["verification"]["passed"] is False and doc["error"]["code"] == "verification-failed"
    assert doc["command"] == "integrate"
    assert tree_digest(target) == old
    code, out, _ = run(cli_env, "--list-backups", "--json", *base)
    assert [b["status"] for b in json.loads(out)] == ["FAILED"]


def test_failing_checks_are_printed(cli_env: dict[str, str], base: list[str], tmp_path: Path) -> None:
    script = tmp_path / "verifier.py"
    script.write_text("import json\nprint(json.dumps({'passed': False, 'checks': [{'name': 'imports', 'status': "
                      "'fail', 'duration_s': 0.1, 'detail': 'ImportError: no module x'}]}))\nraise SystemExit(1)\n")
    env = {**cli_env, "DC_VERIFY_COMMAND": f"{sys.executable} {script} {{target}}"}
    code, _, err = run(env, "--integrate", "--bash-tool", *base)
    assert code == 3
    assert "verification failed: imports" in err and "FAIL imports: ImportError: no module x" in err


def test_lock_timeout_exit_4_names_holder(cli_env: dict[str, str], base: list[str], target: Path,
                                          snapshot: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from dc_deploy.context import Context;"
         "from dc_deploy.lock import target_lock\n"
         "with target_lock(Path(sys.argv[1]), Context(command='holder-cmd --integrate'), 5):\n"
         "    print('locked', flush=True); time.sleep(30)", str(target)],
        cwd=snapshot, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        t0 = time.monotonic()
        code, _, err = run(cli_env, "--integrate", "--all", "--no-verify", "--lock-timeout", "1", *base)
        elapsed = time.monotonic() - t0
    finally:
        holder.kill()
        holder.wait()
    assert code == 4
    assert f"pid {holder.pid}" in err and "holder-cmd --integrate" in err and "host" in err
    assert 0.9 <= elapsed < 15
    code, _, _ = run(cli_env, "--integrate", "--all", "--no-verify", "--lock-timeout", "5", *base)
    assert code == 0  # the kernel released the dead holder's lock


def test_drift_exit_5_then_overwrite(cli_env: dict[str, str], base: list[str], target: Path) -> None:
    assert run(cli_env, "--integrate", "--file-tool", "--no-verify", *base)[0] == 0
    (target / "dc_impl" / "tools" / "dc_file.py").write_text("# replaced\n")
    code, _, err = run(cli_env, "--integrate", "--file-tool", "--no-verify", *base)
    assert code == 5 and "dc_impl/tools/dc_file.py" in err and "--on-drift" in err
    code, out, _ = run(cli_env, "--status", "--json", *base)
    assert [d["path"] for d in json.loads(out)["drift"]] == ["dc_impl/tools/dc_file.py"]
    assert run(cli_env, "--integrate", "--file-tool", "--no-verify", "--on-drift=overwrite", *base)[0] == 0


def test_integrity_exit_6_for_bad_source_hash(cli_env: dict[str, str], target: Path, manifest: Path,
                                              tmp_path: Path) -> None:
    doc = json.loads(manifest.read_text())
    doc["components"][0]["files"][0]["sha256"] = "f" * 64
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    old = tree_digest(target, exclude=())
    code, _, err = run(cli_env, "--integrate", "--all", "--no-verify", "--target", str(target), "--manifest", str(bad))
    assert code == 6 and "dc_impl/__init__.py" in err and "--build-manifest" in err
    assert tree_digest(target, exclude=()) == old


def test_prune_and_restore_via_cli(cli_env: dict[str, str], base: list[str], target: Path) -> None:
    old = tree_digest(target)
    assert run(cli_env, "--integrate", "--bash-tool", "--no-verify", *base)[0] == 0
    assert run(cli_env, "--enable-streaming-bash=1", "--no-verify", *base)[0] == 0
    code, out, _ = run(cli_env, "--prune-backups", "--keep", "2", "--json", *base)
    assert code == 0 and json.loads(out)["deleted"] == []
    code, out, _ = run(cli_env, "--list-backups", "--json", *base)
    first = json.loads(out)[-1]["id"]
    assert run(cli_env, "--restore", first, "--dry-run", *base)[0] == 0
    assert run(cli_env, "--restore", first, *base)[0] == 0
    assert tree_digest(target) == old
    code, out, _ = run(cli_env, "--prune-backups", "--keep", "1", "--json", *base)
    assert code == 0 and len(json.loads(out)["deleted"]) == 2 and len(json.loads(out)["kept"]) == 1


def test_build_manifest_cli(cli_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "m" / "streaming-2.0.0.json"
    code, stdout, _ = run(cli_env, "--build-manifest", "--version", "2.0.0", "--output", str(out), "--json")
    assert code == 0 and json.loads(stdout)["version"] == "2.0.0"
    assert json.loads(out.read_text())["version"] == "2.0.0"
    assert run(cli_env, "--build-manifest")[0] == 2


def test_plan_table_marks_deletions_as_removed() -> None:
    from rich.console import Console

    from dc_deploy.render import plan_table

    row = {"path": "dc_impl/x.py", "component": None, "old_sha256": "ab" * 32, "new_sha256": None, "detail": ""}
    console = Console(width=200, record=True)
    console.print(plan_table([{**row, "action": "delete"}, {**row, "action": "update", "path": "dc_impl/r.json"}],
                             "plan"))
    lines = console.export_text().splitlines()
    assert "(removed)" in next(line for line in lines if "dc_impl/x.py" in line)
    assert "(generated)" in next(line for line in lines if "dc_impl/r.json" in line)
