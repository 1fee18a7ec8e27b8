"""The ``ui_hook`` check: upstream's start command serves the streaming page while the toggle is on.

Runs the deployed ``<target>/streamlit.py`` (upstream's file with our managed block) under Streamlit's
``AppTest``, in the agent's interpreter, twice, each in a fresh session with a scratch copy of the
deployed toggles (the real file is never written; ``DC_TOGGLES_FILE`` points the runtime at the
copy): with ``use_unified_streaming`` on the page must be ours (our session keys, which all start with
``dc_``, are set; exactly one page is drawn), with it off upstream's page (none of our keys). Both
runs must end without an exception. Skipped, saying why, when the interpreter has no streamlit (the
agent then cannot serve a page at all) or without ``--target``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from .child_env import CheckFailed, CheckSkipped, ChildEnv, interpreter_lacks

UI_FILE = "streamlit.py"
UI_MARKER = b"# >>> claude-dc-streaming ui hook"
FEATURE = "use_unified_streaming"
OUR_KEY_PREFIX = "dc_"
ENV_TOGGLES_FILE = "DC_TOGGLES_FILE"
RUN_TIMEOUT_S = 60.0
DUMMY_KEY = "verification-dummy-key"  # gets past upstream's auth form; no request is ever sent


def _app_test() -> Any:
    try:
        from streamlit.testing.v1 import AppTest
    except ImportError as exc:
        raise CheckSkipped(interpreter_lacks(sys.executable, "streamlit", "the Streamlit page (upstream's and ours)")) \
            from exc
    return AppTest


def _scratch_toggles(env: ChildEnv, on: bool) -> Path:
    module_file = env.impl("toggles").__file__
    if module_file is None:
        raise CheckFailed("the deployed dc_impl.toggles module has no file")
    deployed = Path(module_file).resolve().parent / "feature_toggles.json"
    try:
        doc = json.loads(deployed.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckFailed(f"cannot read the deployed toggles {deployed}: {exc}") from exc
    doc[FEATURE] = on
    path = env.workdir("ui_hook") / f"toggles-{'on' if on else 'off'}.json"
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return path


def run_page(app_test: Any, script: Path, toggles_file: Path) -> tuple[list[str], int, int, list[str]]:
    """One page run in a fresh session: (our session keys, chat inputs, titles, exceptions)."""
    saved_env, saved_main = os.environ.get(ENV_TOGGLES_FILE), sys.modules.get("__main__")
    os.environ[ENV_TOGGLES_FILE] = str(toggles_file)
    try:
        at = app_test.from_file(str(script), default_timeout=RUN_TIMEOUT_S)
        at.session_state["api_key"] = DUMMY_KEY  # upstream and ours read ~/.anthropic or the env otherwise
        at.run()
        ours = sorted(k for k in at.session_state.keys() if str(k).startswith(OUR_KEY_PREFIX))  # noqa: SIM118 - not iterable
        errors = [str(getattr(e, "message", e)) for e in at.exception]
        return ours, len(at.chat_input), len(at.title), errors
    finally:
        if saved_env is None:
            os.environ.pop(ENV_TOGGLES_FILE, None)
        else:
            os.environ[ENV_TOGGLES_FILE] = saved_env
        if saved_main is not None:  # the script runner installs the page as __main__
            sys.modules["__main__"] = saved_main


def check_ui_hook(env: ChildEnv) -> str:
    if env.target is None:
        raise CheckSkipped("no --target: the UI hook lives in a deployed tree's streamlit.py")
    script = env.target / UI_FILE
    try:
        content = script.read_bytes()
    except OSError as exc:
        raise CheckFailed(f"cannot read {script}: {exc.strerror or exc}") from exc
    if UI_MARKER not in content:
        raise CheckFailed(f"{script} has no UI hook block although the receipt lists ui-hook (removed by hand?); "
                          "put it back with integrate_streaming.py --integrate --update-ui")
    app_test = _app_test()
    seen: dict[bool, tuple[list[str], int, int, list[str]]] = {}
    for on in (True, False):
        seen[on] = ours, inputs, titles, errors = run_page(app_test, script, _scratch_toggles(env, on))
        state = "on" if on else "off"
        if errors:
            raise CheckFailed(f"with {FEATURE} {state} the page raised: {errors[0][:300]}")
        if titles != 1 or inputs != 1:
            raise CheckFailed(f"with {FEATURE} {state} the page drew {titles} titles and {inputs} chat inputs; "
                              "exactly one page (one of each) was expected")
    if not seen[True][0]:
        raise CheckFailed(f"with {FEATURE} on, {script} still served upstream's page (none of our session keys "
                          "was set): the UI hook did not hand the page over; see the Streamlit log for its warning")
    if seen[False][0]:
        raise CheckFailed(f"with {FEATURE} off, {script} served our page (session keys {seen[False][0][:3]}); "
                          "upstream's page was expected")
    return (f"{script}: with {FEATURE} on the streaming page is served (session keys {', '.join(seen[True][0][:2])}"
            f", ...), with it off upstream's page; one page each, no exception")


CHECKS = {"ui_hook": check_ui_hook}
