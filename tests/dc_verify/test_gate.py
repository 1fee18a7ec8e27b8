"""verify_streaming.py as a CI gate: a run that verified nothing never passes (issue 11, item 4).

No check ran (all skipped, or none selected) or a target with nothing of ours deployed: exit 1, one
line saying why, ``"passed": false`` in --json and a failure in the JUnit XML. Every run that did
verify something keeps passing: the project's own dc_impl, a partial deployment, toggles all off.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from dc_verify.checks import CHECKS, GROUPS
from dc_verify.demo.sandbox import make_deployment, write_toggles
from dc_verify.runner import FAIL, PASS, SKIP, CheckResult, SuiteResult

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "verify_streaming.py"
JSON_KEYS = {"passed", "checks"}


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=ROOT)


def undeployed(tmp_path: Path) -> Path:
    """A pristine stand-in upstream tree: nothing of ours in it."""
    target = tmp_path / "prod" / "computer_use_demo"
    shutil.copytree(ROOT / "examples" / "computer_use_demo", target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def junit_failures(path: Path) -> list[tuple[str, str]]:
    root = ET.parse(path).getroot()
    suite = root.find("testsuite")
    assert suite is not None
    cases = list(suite.iter("testcase"))
    failures = [(tc.get("name", ""), (tc.find("failure").get("message") or ""))  # type: ignore[union-attr]
                for tc in cases if tc.find("failure") is not None]
    # the counters CI reads agree with the test cases
    assert suite.get("tests") == str(len(cases)) and suite.get("failures") == str(len(failures))
    assert root.get("failures") == str(len(failures))
    return failures


def plain_run_says_why(args: list[str], reason: str) -> None:
    """Without --json: exit 1, FAILED, and the reason as one whole line after the table."""
    plain = run(*args)
    assert plain.returncode == 1 and plain.stderr == "", plain.stderr
    assert "PASSED" not in plain.stdout and "FAILED" in plain.stdout
    assert plain.stdout.splitlines()[-1] == reason


def test_nothing_deployed_fails_in_every_output(tmp_path: Path) -> None:
    target = undeployed(tmp_path)
    junit = tmp_path / "verify.xml"
    proc = run("--target", str(target), "--json", "--junit-xml", str(junit))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert set(doc) == JSON_KEYS | {"reason"} and doc["passed"] is False
    assert doc["reason"].startswith("nothing of ours is deployed in ") and str(target) in doc["reason"]
    assert "integrate_streaming.py --integrate" in doc["reason"]
    assert [c["name"] for c in doc["checks"]] == list(CHECKS)
    for check in doc["checks"]:
        assert set(check) == {"name", "status", "duration_s", "detail"}
    receipt = doc["checks"][0]
    assert receipt["name"] == "receipt" and receipt["status"] == "fail" and "nothing of ours" in receipt["detail"]
    assert [name for name, _ in junit_failures(junit)] == ["receipt"]

    plain_run_says_why(["--target", str(target)], doc["reason"])


def test_check_of_a_group_on_an_undeployed_tree_fails(tmp_path: Path) -> None:
    target = undeployed(tmp_path)
    junit = tmp_path / "bash.xml"
    proc = run("--target", str(target), "--check", "bash", "--json", "--junit-xml", str(junit))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["passed"] is False and doc["reason"].startswith("nothing of ours is deployed in ")
    assert {c["status"] for c in doc["checks"]} == {SKIP}
    failures = junit_failures(junit)
    assert len(failures) == 1 and failures[0][1] == doc["reason"]
    plain_run_says_why(["--target", str(target), "--check", "bash"], doc["reason"])


def test_live_only_without_live_flag_is_not_a_pass(tmp_path: Path) -> None:
    junit = tmp_path / "live.xml"
    proc = run("--check", "live", "--json", "--junit-xml", str(junit))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["passed"] is False and doc["checks"][0]["status"] == SKIP
    assert doc["reason"].startswith("no check ran: ") and "pass --live" in doc["reason"]
    assert [msg for _, msg in junit_failures(junit)] == [doc["reason"]]
    plain_run_says_why(["--check", "live"], doc["reason"])


def test_every_selected_check_skipped_on_a_deployment_fails(tmp_path: Path) -> None:
    deployed = make_deployment(tmp_path, ROOT)
    write_toggles(deployed, {}, revision=3)  # everything off: the bash checks are not required
    proc = run("--target", str(deployed), "--check", "bash", "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["passed"] is False and doc["reason"].startswith("no check ran: ")
    assert "toggle use_streaming_bash is off" in doc["reason"]
    assert all(name in doc["reason"] for name in GROUPS["bash"])


def test_no_check_selected_fails(tmp_path: Path) -> None:
    target = make_deployment(tmp_path, ROOT, components=("core",))
    proc = run("--target", str(target), "--check", ",", "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc == {"passed": False, "checks": [], "reason": doc["reason"]}
    assert doc["reason"].startswith("no check selected")


def test_one_check_that_ran_is_enough_and_the_pass_document_keeps_its_keys(tmp_path: Path) -> None:
    deployed = make_deployment(tmp_path, ROOT, components=("core",))
    write_toggles(deployed, {}, revision=2)
    proc = run("--target", str(deployed), "--check", "receipt,bash", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert set(doc) == JSON_KEYS and doc["passed"] is True
    assert [c["status"] for c in doc["checks"]] == [PASS, SKIP, SKIP, SKIP]


def test_suite_result_gate_rules() -> None:
    ok, skip, bad = (CheckResult("a", PASS, 0.1, "ok"), CheckResult("b", SKIP, 0.0, "off"),
                     CheckResult("c", FAIL, 0.2, "broken"))
    assert SuiteResult([ok, skip]).passed and SuiteResult([ok, skip]).reason is None
    assert not SuiteResult([]).passed and SuiteResult([]).reason.startswith("no check selected")  # type: ignore[union-attr]
    assert not SuiteResult([skip]).passed and SuiteResult([skip]).reason == "no check ran: b was skipped (off)"
    assert SuiteResult([ok, bad]).reason == "1 of 2 checks failed: c"
    gated = SuiteResult([ok], gate="nothing of ours is deployed in /x")
    assert not gated.passed and gated.reason == "nothing of ours is deployed in /x"
    assert "reason" not in SuiteResult([ok]).to_dict() and SuiteResult([skip]).to_dict()["passed"] is False


def test_the_implementation_itself_still_passes() -> None:
    """``verify_streaming.py`` with no --target verifies the checkout (make demo's step 1)."""
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    proc = run("--json", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert set(doc) == JSON_KEYS and doc["passed"] is True
    statuses = {c["name"]: c["status"] for c in doc["checks"]}
    assert statuses.pop("receipt") == SKIP and statuses.pop("live") == SKIP
    assert statuses.pop("ui_hook") == SKIP  # a block in a deployed streamlit.py: needs --target, like receipt
    assert set(statuses.values()) == {PASS}


@pytest.fixture(scope="module")
def fresh_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A manifest of the current sources (the shipped one may lag them while developing)."""
    out = tmp_path_factory.mktemp("manifest") / "streaming-1.0.0.json"
    built = subprocess.run([sys.executable, str(ROOT / "integrate_streaming.py"), "--build-manifest", "--version",
                            "1.0.0", "--output", str(out)], capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    return out


def test_installer_flows_still_pass_the_gate(tmp_path: Path, fresh_manifest: Path) -> None:
    """The installer verifies (as a child process) after each of these: none may be refused by the gate."""
    target = undeployed(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("DC_VERIFY_COMMAND", "ANTHROPIC_API_KEY")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    common = ["--target", str(target), "--backup-dir", str(tmp_path / "backups"), "--manifest", str(fresh_manifest),
              "--json"]

    def integrate(*args: str) -> dict[str, object]:
        proc = subprocess.run([sys.executable, str(ROOT / "integrate_streaming.py"), *common, *args],
                              capture_output=True, text=True, timeout=240, env=env)
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        doc = json.loads(proc.stdout)
        assert isinstance(doc, dict)
        return doc

    def verified(doc: dict[str, object]) -> None:
        verification = doc.get("verification")
        assert isinstance(verification, dict) and verification["passed"] is True, doc
        checks = verification["checks"]
        assert isinstance(checks, list) and any(c["status"] == PASS for c in checks)

    verified(integrate("--integrate", "--bash-tool"))  # only some components, toggle as shipped
    verified(integrate("--enable-streaming-bash=true"))  # a toggles-only change
    verified(integrate("--enable-streaming-bash=false", "--enable-unified-streaming=false"))  # everything off
    verified(integrate("--integrate", "--file-tool"))  # a second component, its toggle off
