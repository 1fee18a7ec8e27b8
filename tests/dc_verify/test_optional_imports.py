"""The imports check excuses only the Streamlit front end's modules, and only when streamlit is truly
absent from the verifying interpreter (an ops host need not have what upstream's image has)."""

from __future__ import annotations

from dc_verify.checks.deployment import split_import_failures

UI = "computer_use_demo.dc_impl.frontends.streamlit.app"
APP = "computer_use_demo.dc_impl.streamlit_app"
LOOP = "computer_use_demo.dc_impl.unified_streaming_loop"


def _fail(module: str, missing: str | None) -> dict:
    return {"module": module, "ok": False, "error": f"ModuleNotFoundError: No module named {missing!r}",
            "missing": missing}


def test_ui_modules_missing_streamlit_are_excused_when_streamlit_is_absent() -> None:
    results = [{"module": LOOP, "ok": True}, _fail(UI, "streamlit"), _fail(APP, "streamlit.runtime")]
    failures, excused = split_import_failures(results, absent=lambda pkg: True)
    assert failures == [] and excused == {"streamlit": [UI, APP]}


def test_nothing_is_excused_when_streamlit_is_installed_here() -> None:
    results = [_fail(UI, "streamlit")]
    failures, excused = split_import_failures(results, absent=lambda pkg: False)
    assert failures == results and excused == {}


def test_other_modules_and_other_packages_are_never_excused() -> None:
    results = [_fail(LOOP, "streamlit"), _fail(UI, "anthropc"), {"module": UI, "ok": False,
                                                                  "error": "SyntaxError: bad", "missing": None}]
    failures, excused = split_import_failures(results, absent=lambda pkg: True)
    assert failures == results and excused == {}
