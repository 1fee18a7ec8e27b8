"""Reports CI can always read (issue 11, item 5, and its family).

Whatever text a check produces (ANSI colour codes from a traceback, NUL, vertical tab, lone
surrogates from undecodable bytes, rich markup), the JUnit XML parses, the --json document is
strict UTF-8 JSON, the table renders without a traceback, and a misbehaving child or interpreter
becomes a failed check rather than a crash.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.dom.minidom
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from dc_verify.demo.sandbox import make_deployment, write_receipt
from dc_verify.report import junit_tree, to_json, write_junit
from dc_verify.runner import FAIL, PASS, SKIP, CheckResult, SuiteResult, VerifyOptions, verify

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "verify_streaming.py"
NASTY = "\x1b[31mred\x1b[0m nul\x00 vt\x0b ff\x0c bell\x07 lone\udcff high\ud800 nonchar\ufffe astral\U0001f600 end"
# What XML 1.0 allows (production [2] Char); everything else must not reach the file, raw or as &#N;.
XML_CHAR = re.compile("[\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*")


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "COLUMNS": "400"}  # the table on one line per row, so needles are not wrapped
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, timeout=timeout, cwd=ROOT,
                          env=env)


def assert_strict_xml(data: bytes) -> ET.Element:
    """Parse like a strict CI consumer: UTF-8, only XML 1.0 characters, character references included."""
    text = data.decode("utf-8")  # strict: no undecodable bytes
    assert XML_CHAR.fullmatch(text), [c for c in text if not XML_CHAR.fullmatch(c)]
    for ref in re.findall(r"&#(x[0-9a-fA-F]+|[0-9]+);", text):
        code = int(ref[1:], 16) if ref.startswith("x") else int(ref)
        assert XML_CHAR.fullmatch(chr(code)), f"character reference to U+{code:04X}"
    xml.dom.minidom.parseString(data)  # a second, DOM-building parse
    return ET.fromstring(data)


def assert_strict_json(data: bytes) -> dict[str, object]:
    doc = json.loads(data.decode("utf-8"))
    json.dumps(doc, ensure_ascii=False).encode("utf-8")  # strict: raises on a lone surrogate (paired ones join)
    assert isinstance(doc, dict)
    return doc


def test_junit_xml_of_a_detail_with_forbidden_characters_parses(tmp_path: Path) -> None:
    suite = SuiteResult([
        CheckResult(f"bad{NASTY}", FAIL, 0.5, f"Traceback: {NASTY}"),
        CheckResult("skipped", SKIP, 0.0, f"skip {NASTY}"),
        CheckResult("fine", PASS, 0.1, f"out {NASTY}"),
    ], target=Path("/srv/bad\udcff/[red]x[/red]\x1b[0m/computer_use_demo"), duration_s=0.6)
    path = tmp_path / "j.xml"
    write_junit(path, suite)
    root = assert_strict_xml(path.read_bytes())
    cases = {tc.get("name"): tc for tc in root.iter("testcase")}
    assert set(cases) == {"badred nul\\x00 vt\\x0b ff\\x0c bell\\x07 lone\\xff high\\ud800 nonchar\\ufffe "
                          "astral\U0001f600 end", "skipped", "fine"}
    failure = next(tc for tc in cases.values() if tc.find("failure") is not None).find("failure")
    assert failure is not None and failure.text is not None
    assert "\x1b" not in failure.text and "[31m" not in failure.text  # colour codes stripped, not escaped
    assert "nul\\x00 vt\\x0b" in failure.text and "lone\\xff" in failure.text  # the rest stays visible
    assert "astral\U0001f600" in failure.get("message", "")
    prop = root.find("testsuite/properties/property")
    assert prop is not None and prop.get("value") == "/srv/bad\\xff/[red]x[/red]/computer_use_demo"
    assert ET.tostring(junit_tree(suite).getroot(), encoding="unicode")  # the tree itself serialises too


def test_json_of_surrogate_text_is_strict_utf8(tmp_path: Path) -> None:
    suite = SuiteResult([CheckResult("c", FAIL, 0.0, f"x {NASTY}")], target=Path("/t\udcfe/computer_use_demo"))
    doc = assert_strict_json(to_json(suite).encode("utf-8"))
    detail = doc["checks"][0]["detail"]  # type: ignore[index]
    assert "lone\\xff high\\ud800" in detail and "\x1b[31m" in detail and "\x00" in detail  # JSON escapes those


@pytest.fixture
def deployed_with_nasty_error(tmp_path: Path) -> Path:
    """A deployed module whose import fails with a message full of what XML and UTF-8 forbid."""
    target = make_deployment(tmp_path / "srv", ROOT, components=("core",))
    (target / "dc_impl" / "nasty_module.py").write_text(
        "raise RuntimeError(" + ascii(f"import failed {NASTY} [/bold] [link=x]") + ")\n", encoding="ascii")
    write_receipt(target, ["core"])
    return target


def test_a_real_check_failing_with_ansi_nul_and_surrogates_gives_readable_reports(
        deployed_with_nasty_error: Path, tmp_path: Path) -> None:
    junit = tmp_path / "ci" / "verify.xml"
    proc = run("--target", str(deployed_with_nasty_error), "--check", "imports", "--json", "--junit-xml", str(junit))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doc = assert_strict_json(proc.stdout)
    (check,) = doc["checks"]  # type: ignore[misc]
    assert check["status"] == "fail" and "nasty_module: RuntimeError: import failed" in check["detail"]
    root = assert_strict_xml(junit.read_bytes())
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None and "nasty_module: RuntimeError: import failed" in failure.get("message", "")
    assert "vt\\x0b" in (failure.text or "")

    table = run("--target", str(deployed_with_nasty_error), "--check", "imports")
    assert table.returncode == 1 and b"Traceback" not in table.stderr, table.stderr
    out = table.stdout.decode("utf-8")
    assert "\x1b" not in out and "\x00" not in out and "[/bold]" in out and "nasty_module" in out


def test_table_and_reports_survive_markup_and_undecodable_bytes_in_the_target_path(tmp_path: Path) -> None:
    parent = Path(f"{tmp_path}/odd[/x][red]\udcff")
    target = make_deployment(parent, ROOT, components=("core",))
    junit = tmp_path / "j.xml"
    proc = run("--target", str(target), "--check", "receipt,toggles", "--junit-xml", str(junit))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert b"Traceback" not in proc.stderr and b"PASSED" in proc.stdout
    assert b"odd[/x][red]\\xff/computer_use_demo/dc_impl/feature_toggles.json" in proc.stdout  # literally
    assert_strict_xml(junit.read_bytes())
    proc = run("--target", str(target), "--check", "receipt,toggles", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    toggles = assert_strict_json(proc.stdout)["checks"][1]  # type: ignore[index]
    assert toggles["status"] == PASS and "odd[/x][red]\\xff" in toggles["detail"]
    shutil.rmtree(parent)
    gone = run("--target", str(target), "--json")  # usage error naming the path: still strict JSON
    assert gone.returncode == 2
    assert "does not exist" in str(assert_strict_json(gone.stdout)["error"])


def test_a_child_reporting_garbage_is_a_failed_check_not_a_crash(tmp_path: Path) -> None:
    deployed = make_deployment(tmp_path, ROOT)
    fake = tmp_path / "garbage-python"
    lines = [
        {"event": "start", "name": "toggles"},
        {"event": "result", "name": "toggles", "status": "pass", "duration_s": "soon", "detail": ["not", "text"]},
        {"event": "result", "name": "bash_exit_code", "status": "fail", "duration_s": float("nan"), "detail": "x"},
    ]
    fake.write_text("#!/bin/sh\ncat >/dev/null\n" + "".join(f"echo '{json.dumps(x)}'\n" for x in lines) +
                    "printf '\\377\\376 not json\\n'\nexit 0\n")
    fake.chmod(0o755)
    suite = verify(VerifyOptions(target=deployed, checks=("toggles", "bash_exit_code"), python=str(fake)))
    toggles, bash = suite.checks
    assert toggles.status == "pass" and toggles.duration_s == 0.0 and toggles.detail == "['not', 'text']"
    assert bash.status == "fail" and bash.duration_s == 0.0

    def no_constants(name: str) -> None:
        raise AssertionError(f"{name} in the JSON document")

    json.loads(to_json(suite), parse_constant=no_constants)  # strict JSON: no NaN / Infinity


def test_an_interpreter_that_cannot_start_fails_the_checks_with_its_path(tmp_path: Path) -> None:
    deployed = make_deployment(tmp_path, ROOT, components=("core",))
    missing = tmp_path / "no-such-python"
    suite = verify(VerifyOptions(target=deployed, checks=("imports", "toggles"), python=str(missing)))
    assert not suite.passed
    for check in suite.checks:
        assert check.status == FAIL and str(missing) in check.detail, check
    # the CLI refuses such a --python up front: a usage error naming it, one JSON document
    proc = run("--target", str(deployed), "--check", "toggles", "--python", str(missing), "--json")
    assert proc.returncode == 2 and b"Traceback" not in proc.stderr, proc.stderr
    assert str(missing) in str(assert_strict_json(proc.stdout)["error"])


def test_a_target_that_is_a_symlink_loop_is_a_usage_error(tmp_path: Path) -> None:
    loop = tmp_path / "computer_use_demo"
    loop.symlink_to(loop)
    proc = run("--target", str(loop), "--json")
    assert proc.returncode == 2 and b"Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and str(loop) in lines[0]
    assert str(loop) in str(assert_strict_json(proc.stdout)["error"])


def test_deeply_nested_receipt_is_a_failed_check_not_a_crash(tmp_path: Path) -> None:
    deployed = make_deployment(tmp_path, ROOT, components=("core",))
    (deployed / "dc_impl" / "receipt.json").write_text("[" * 100_000)
    suite = verify(VerifyOptions(target=deployed, checks=("receipt", "imports")))
    by = {c.name: c for c in suite.checks}
    assert by["receipt"].status == FAIL and "nested too deeply" in by["receipt"].detail
    assert not suite.passed


def test_receipt_with_malformed_components_fails_the_receipt_check(tmp_path: Path) -> None:
    deployed = make_deployment(tmp_path, ROOT, components=("core",))
    path = deployed / "dc_impl" / "receipt.json"
    receipt = json.loads(path.read_text())
    receipt["components"] = "core"  # a string, not a list: iterating it gave components 'c', 'o', 'r', 'e'
    path.write_text(json.dumps(receipt))
    suite = verify(VerifyOptions(target=deployed, checks=("receipt",)))
    (check,) = suite.checks
    assert check.status == FAIL and "malformed receipt: components is str" in check.detail


def test_a_failed_junit_write_leaves_no_temp_file(tmp_path: Path) -> None:
    occupied = tmp_path / "report.xml"
    (occupied / "keep").mkdir(parents=True)  # a non-empty directory where the report should go
    with pytest.raises(OSError):
        write_junit(occupied, SuiteResult([CheckResult("c", PASS, 0.0, "ok")]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.xml"]



def test_ctrl_c_during_the_suite_is_a_failed_run_with_one_json_document(tmp_path: Path) -> None:
    import signal
    import time

    from dc_impl.tools.procs import descendants

    deployed = make_deployment(tmp_path, ROOT)
    proc = subprocess.Popen([sys.executable, str(SCRIPT), "--target", str(deployed), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    deadline = time.monotonic() + 30
    children: list[int] = []
    while time.monotonic() < deadline and len(children) < 2:  # the checks child and the imports child run
        children = descendants(proc.pid)
        time.sleep(0.02)
    assert children, "the suite never started its children"
    proc.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    out, err = proc.communicate(timeout=30)
    took = time.monotonic() - t0
    assert proc.returncode == 1 and b"Traceback" not in err, err
    assert took < 4, f"Ctrl-C took {took:.1f} s to stop the suite"  # not the rest of the checks' run time
    doc = assert_strict_json(out)
    assert doc["passed"] is False and "aborted" in str(doc["error"])
    deadline = time.monotonic() + 5  # the children follow their parent (death signal)
    while time.monotonic() < deadline and [p for p in children if _alive(p)]:
        time.sleep(0.05)
    assert [p for p in children if _alive(p)] == []


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return False


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_a_timeout_that_is_not_a_finite_number_is_a_usage_error(value: str) -> None:
    proc = run("--timeout", value, "--check", "toggles", "--json")
    assert proc.returncode == 2, proc.stdout
    assert "--timeout must be a finite number" in str(assert_strict_json(proc.stdout)["error"])
