"""``dc_impl/contract.py`` is the one source of the shared contracts; the copies that must stay
independent (JSON schemas, the verifier's child-side constants, which cannot import ``dc_impl``) are
kept equal to it here."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from dc_impl import contract

REPO = Path(__file__).resolve().parents[2]


def test_contract_is_stdlib_only_and_imports_on_its_own() -> None:
    tree = ast.parse((REPO / "dc_impl" / "contract.py").read_text())
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    assert [getattr(n, "module", None) for n in imports] == ["__future__"]
    # loaded by path in a bare interpreter: no package, no site-packages
    code = ("import importlib.util as u, sys; s = u.spec_from_file_location('c', sys.argv[1]); m = u.module_from_spec(s);"
            " s.loader.exec_module(m); print(len(m.FEATURES))")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(REPO / "dc_impl" / "contract.py")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == str(len(contract.FEATURES)), out.stderr


def test_toggle_schema_and_shipped_defaults_name_exactly_the_features() -> None:
    schema = json.loads((REPO / "dc_impl" / contract.TOGGLES_SCHEMA_FILENAME).read_text())
    assert list(schema["properties"]) == ["revision", *contract.FEATURES]
    assert schema["required"] == ["revision", *contract.FEATURES]
    shipped = json.loads((REPO / contract.TOGGLES_PATH).read_text())
    assert list(shipped) == ["revision", *contract.FEATURES]


def test_manifest_schema_names_exactly_the_features() -> None:
    schema = json.loads((REPO / "dc_deploy" / "schemas" / "manifest.schema.json").read_text())
    defaults = schema["properties"]["toggle_defaults"]
    assert defaults["required"] == list(contract.FEATURES) and list(defaults["properties"]) == list(contract.FEATURES)
    assert schema["$defs"]["component"]["properties"]["toggle"]["enum"] == [None, *contract.FEATURES]


def test_installer_reads_the_contract() -> None:
    from dc_deploy import build, deploy_metrics, loop_block, manifest, receipt, toggle_store, verifyrun

    assert [s.id for s in build.COMPONENT_SPECS] == list(contract.COMPONENTS)
    assert {s.toggle for s in build.COMPONENT_SPECS} - {None} <= set(contract.FEATURES)
    assert build.FEATURES is contract.FEATURES
    assert contract.LOOP_BLOCK.encode() == loop_block.BLOCK
    assert loop_block.BEGIN.decode().startswith(contract.MANAGED_MARKER)
    assert (manifest.LOOP_FILE, manifest.RECEIPT_PATH, manifest.TOGGLES_PATH) == (
        contract.LOOP_FILE, contract.RECEIPT_PATH, contract.TOGGLES_PATH)
    assert receipt.RECEIPT_PATH == contract.RECEIPT_PATH
    assert set(toggle_store.FLAG_TO_FEATURE.values()) == set(contract.FEATURES)
    assert toggle_store.FEATURES == contract.FEATURES
    assert deploy_metrics.ENV_DIR == contract.ENV_METRICS_DIR
    assert verifyrun.ENV_VERIFY_PARENT_PID == contract.ENV_VERIFY_PARENT_PID


def test_verifier_copies_equal_the_contract() -> None:
    """The verifier's target description runs in the child interpreter, where the project's
    ``dc_impl`` is deliberately unimportable: its constants are copies, checked here."""
    from dc_verify import cli
    from dc_verify.checks import childrun as runner
    from dc_verify.checks import deployment, target
    from dc_verify.demo import sandbox

    assert (target.IMPL_DIRNAME, target.RECEIPT_NAME, target.TOGGLES_NAME) == (
        contract.IMPL_DIRNAME, contract.RECEIPT_FILENAME, contract.TOGGLES_FILENAME)
    assert contract.MANAGED_MARKER.encode() == target.MANAGED_MARKER
    assert deployment.RECEIPT_FORMAT == contract.RECEIPT_FORMAT
    assert sandbox.HOOK_BLOCK == contract.LOOP_BLOCK
    assert tuple(sandbox.ALL_COMPONENTS) == tuple(c for c in contract.COMPONENTS if c != "ui-hook")
    assert list(sandbox.ALL_ON) == list(contract.FEATURES)
    assert contract.ENV_TOGGLES_FILE in runner.ENV_DROPPED_IN_CHILD
    assert cli.ENV_PARENT_PID == contract.ENV_VERIFY_PARENT_PID


def test_runtime_reads_the_contract() -> None:
    from dc_impl import hook, toggles
    from dc_impl.metrics import recorder
    from dc_impl.tools.screenshot import settle

    assert toggles.FEATURES is contract.FEATURES and toggles.ENV_TOGGLES_FILE == contract.ENV_TOGGLES_FILE
    assert recorder.ENV_DIR == contract.ENV_METRICS_DIR
    assert settle.ENV_QUIET_MS == contract.ENV_SCREENSHOT_SETTLE_MS
    assert hook.HOOK_MARKER and contract.HOOK_NAMESPACE_KEY == "DC_STREAMING_HOOK"
