"""verify_streaming.py as a process: exit codes, --json / --junit-xml shapes, --check, --list-checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from dc_verify.checks import CHECKS, GROUPS
from dc_verify.demo.sandbox import make_deployment, write_toggles

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "verify_streaming.py"
FAST = ["--check", "imports", "--check", "toggles", "--check", "receipt"]


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=ROOT)


@pytest.fixture
def deployed(tmp_path: Path) -> Path:
    return make_deployment(tmp_path, ROOT, components=("core",))


def test_json_contract_shape_and_exit_zero(deployed: Path) -> None:
    proc = run("--target", str(deployed), "--json", *FAST)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)  # exactly one JSON document on stdout
    assert set(doc) == {"passed", "checks"} and doc["passed"] is True
    assert [c["name"] for c in doc["checks"]] == ["receipt", "imports", "toggles"]
    for check in doc["checks"]:
        assert set(check) == {"name", "status", "duration_s", "detail"}
        assert check["status"] == "pass" and isinstance(check["duration_s"], float) and check["detail"]


def test_verification_writes_no_bytecode_into_the_target(deployed: Path) -> None:
    before = sorted(p.relative_to(deployed) for p in deployed.rglob("__pycache__"))
    proc = run("--target", str(deployed), "--json", *FAST)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(p.relative_to(deployed) for p in deployed.rglob("__pycache__")) == before


def test_failure_exits_one_and_junit_records_it(deployed: Path, tmp_path: Path) -> None:
    victim = deployed / "dc_impl" / "toggles.py"
    victim.write_text(victim.read_text() + "\n# hand edit\n")
    junit = tmp_path / "out" / "verify.xml"
    proc = run("--target", str(deployed), "--json", "--junit-xml", str(junit), "--check", "receipt,toggles")
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    by_name = {c["name"]: c for c in doc["checks"]}
    assert doc["passed"] is False and by_name["receipt"]["status"] == "fail"
    assert "dc_impl/toggles.py: content changed" in by_name["receipt"]["detail"]
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "1"
    failing = [tc.get("name") for tc in suite.iter("testcase") if tc.find("failure") is not None]
    assert failing == ["receipt"]


def test_skips_are_reported_in_junit_and_do_not_fail(tmp_path: Path) -> None:
    deployed = make_deployment(tmp_path, ROOT)
    write_toggles(deployed, {}, revision=5)
    junit = tmp_path / "v.xml"
    proc = run("--target", str(deployed), "--json", "--junit-xml", str(junit), "--check", "bash", "--check", "live",
               "--check", "receipt")  # one check that runs: a run of skips alone fails (tests/dc_verify/test_gate.py)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    reasons = {c["name"]: c["detail"] for c in doc["checks"] if c["name"] != "receipt"}
    assert [c["status"] for c in doc["checks"] if c["name"] != "receipt"] == ["skip"] * len(reasons)
    assert reasons["bash_streaming"] == "toggle use_streaming_bash is off"
    assert reasons["live"].startswith("not requested")
    skipped = [tc for tc in ET.parse(junit).getroot().iter("testcase") if tc.find("skipped") is not None]
    assert len(skipped) == len(GROUPS["bash"]) + 1


def test_component_not_in_receipt_skips(tmp_path: Path) -> None:
    target = make_deployment(tmp_path, ROOT, components=("core",))
    proc = run("--target", str(target), "--json", "--check", "file_roundtrip,receipt")
    doc = json.loads(proc.stdout)
    assert proc.returncode == 0
    assert doc["checks"][1]["detail"] == "component file-tool is not installed (per receipt)"


def test_live_skips_without_api_key(deployed: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    proc = run("--target", str(deployed), "--json", "--live", "--check", "receipt,live", env=env)
    assert proc.returncode == 0
    check = json.loads(proc.stdout)["checks"][1]
    assert check["status"] == "skip" and check["detail"] == "ANTHROPIC_API_KEY is not set"


@pytest.mark.slow  # the real client's own retries and backoff take ~10 s before giving up
def test_live_with_a_key_really_calls_the_api_endpoint(deployed: Path) -> None:
    # A key is set, so the check runs: ANTHROPIC_BASE_URL points at a closed port, so the real client fails.
    env = {**os.environ, "ANTHROPIC_API_KEY": "sk-ant-verify-fake", "ANTHROPIC_BASE_URL": "http://127.0.0.1:9"}
    proc = run("--json", "--live", "--check", "live", env=env)
    assert proc.returncode == 1
    check = json.loads(proc.stdout)["checks"][0]
    assert check["status"] == "fail" and "Connection" in check["detail"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--check", "no_such_check"], "unknown check 'no_such_check'"),
        (["--target", "/definitely/not/here"], "does not exist"),
        (["--no-such-flag"], "No such option"),
        (["--junit-xml", "/proc/no/such/dir/report.xml", "--check", "imports"], "cannot write the JUnit XML"),
    ],
)
def test_usage_errors_exit_two_with_one_line(args: list[str], needle: str) -> None:
    proc = run(*args, "--json")
    assert proc.returncode == 2
    doc = json.loads(proc.stdout)  # --json: stdout is one JSON document even for a usage error
    assert doc["passed"] is False and doc["checks"] == [] and needle in doc["error"]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in proc.stderr
    plain = run(*args)
    assert plain.returncode == 2 and plain.stdout == ""


def test_list_checks_json_names_every_check() -> None:
    proc = run("--list-checks", "--json")
    assert proc.returncode == 0
    listed = json.loads(proc.stdout)
    assert [c["name"] for c in listed] == list(CHECKS)
    proc = run("--list-checks", "--check", "loop", "--json")
    assert [c["name"] for c in json.loads(proc.stdout)] == list(GROUPS["loop"])


def test_table_output_without_json(deployed: Path) -> None:
    proc = run("--target", str(deployed), "--check", "receipt")
    assert proc.returncode == 0
    assert "receipt" in proc.stdout and "PASS" in proc.stdout and "PASSED" in proc.stdout
