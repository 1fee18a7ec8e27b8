"""The UI hook at run time, under Streamlit's AppTest (no browser): upstream's deployed ``streamlit.py``.

Each test deploys the stand-in with ``integrate_streaming.py --integrate --update-ui`` (the real CLI)
and runs the deployed ``streamlit.py`` the way ``streamlit run`` does (as ``__main__``, ``__package__``
empty). Our page is told from upstream's by our session keys (``dc_``) and our sidebar caption, which
names the toggle. The in-process runs share ``sys.modules``: the fixture drops every
``computer_use_demo`` module before and after each test, so each test sees its own tree.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

if importlib.util.find_spec("streamlit") is None:
    pytest.skip("streamlit is not installed (pip install streamlit)", allow_module_level=True)

from streamlit.testing.v1 import AppTest  # noqa: E402
from ui_hook_kit import build_manifest, deploy, installer  # noqa: E402

from dc_verify.scripted_server import ScriptedServer  # noqa: E402

HOST = "computer_use_demo"
LOGGER = "claude_dc_streaming.ui_hook"


def _drop_host_modules() -> None:
    for name in [m for m in sys.modules if m == HOST or m.startswith(HOST + ".")]:
        del sys.modules[name]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_manifest(tmp_path_factory.mktemp("ui-manifest"))


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory, manifest: Path) -> dict[bool, Path]:
    """One tree per shape deployed by the CLI (toggle on); each test works on a copy of one."""
    return {shape: deploy(manifest, tmp_path_factory.mktemp("ui-pristine"), upstream_shape=shape, streaming=True)
            for shape in (False, True)}


def _copy(pristine: dict[bool, Path], work: Path, *, upstream_shape: bool = False, streaming: bool = True) -> Path:
    target = work / HOST
    shutil.copytree(pristine[upstream_shape], target, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    if not streaming:
        _set_toggle(target, False)
    return target


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    # the block may append the tree's parent directory; a path entry holding another computer_use_demo
    # (examples/, put there by other test modules of the session) would shadow the deployed tree
    monkeypatch.setattr(sys, "path", [p for p in sys.path if not (Path(p or ".") / HOST / "__init__.py").is_file()])
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # both pages read ~/.anthropic
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-apptest")
    monkeypatch.setenv("HIDE_WARNING", "1")
    monkeypatch.delenv("DC_TOGGLES_FILE", raising=False)
    monkeypatch.delenv("DC_UI_HOST_PACKAGE", raising=False)
    main = sys.modules.get("__main__")
    _drop_host_modules()
    yield
    _drop_host_modules()
    if main is not None:
        sys.modules["__main__"] = main


def _ours(at: AppTest) -> bool:
    captions = [c.value for c in at.sidebar.caption]
    return any("use_unified_streaming" in str(c) for c in captions)


def _one_page(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert len(at.title) == 1 and len(at.chat_input) == 1, "exactly one page is drawn"


def _set_toggle(target: Path, on: bool) -> None:
    path = target / "dc_impl" / "feature_toggles.json"
    doc = json.loads(path.read_text())
    doc["use_unified_streaming"], doc["revision"] = on, doc["revision"] + 1
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, path)


@pytest.mark.parametrize("shape", ["stand-in", "upstream-shape"])
def test_toggle_on_serves_our_page_and_a_flip_takes_effect_at_the_next_run(
        isolated: None, pristine: dict[bool, Path], manifest: Path, tmp_path: Path, shape: str) -> None:
    target = _copy(pristine, tmp_path, upstream_shape=shape == "upstream-shape")
    at = AppTest.from_file(str(target / "streamlit.py"), default_timeout=60)
    at.run()
    _one_page(at)
    assert _ours(at) and "dc_runner" in at.session_state
    installer(manifest, target, "--enable-unified-streaming=false")  # same session, Streamlit not restarted
    at.run()
    _one_page(at)
    assert not _ours(at), "with the toggle off the same session gets upstream's page at its next run"
    installer(manifest, target, "--enable-unified-streaming=true")
    at.run()
    _one_page(at)
    assert _ours(at)


def test_toggle_off_leaves_upstreams_page_untouched(isolated: None, pristine: dict[bool, Path], tmp_path: Path) -> None:
    target = _copy(pristine, tmp_path, streaming=False)
    srv = ScriptedServer({"name": "upstream", "turns": [{"blocks": [{"type": "text", "text": "UPSTREAM-REPLY."}]}]})
    srv.start()
    try:
        os.environ["ANTHROPIC_BASE_URL"] = srv.base_url
        at = AppTest.from_file(str(target / "streamlit.py"), default_timeout=60)
        at.run()
        _one_page(at)
        assert not _ours(at) and not [k for k in at.session_state.keys() if str(k).startswith("dc_")]  # noqa: SIM118
        at.chat_input[0].set_value("hello").run()
        assert not at.exception
        shown = [m.markdown[0].value for m in at.chat_message if m.markdown]
        assert "UPSTREAM-REPLY." in shown and srv.violations == []
        assert all(r.body.get("stream") is not True for r in srv.requests), "upstream's request/response loop"
        _set_toggle(target, True)  # the same session handed to our page: it draws upstream's history
        at.run()
        _one_page(at)
        assert _ours(at)
        assert "UPSTREAM-REPLY." in [m.markdown[0].value for m in at.chat_message if m.markdown]
    finally:
        os.environ.pop("ANTHROPIC_BASE_URL", None)
        srv.stop()


def test_streaming_page_answers_through_the_hooked_file_and_hands_its_history_to_upstream(
        isolated: None, pristine: dict[bool, Path], tmp_path: Path) -> None:
    target = _copy(pristine, tmp_path, upstream_shape=True)
    srv = ScriptedServer({"name": "ours", "turns": [{"event_delay_s": 0.01,
                                                     "blocks": [{"type": "text", "text": "STREAMED-REPLY here."}]}]})
    srv.start()
    try:
        os.environ["ANTHROPIC_BASE_URL"] = srv.base_url
        at = AppTest.from_file(str(target / "streamlit.py"), default_timeout=60)
        at.run()
        at.chat_input[0].set_value("hello").run()
        for _ in range(20):  # the turn runs in our page's thread; each run follows it, then reruns
            if any("STREAMED-REPLY" in str(m.markdown[0].value) for m in at.chat_message if m.markdown):
                break
            at.run()
        _one_page(at)
        assert any("STREAMED-REPLY" in str(m.markdown[0].value) for m in at.chat_message if m.markdown)
        assert srv.requests and all(r.body.get("stream") is True for r in srv.requests)
        assert srv.violations == []
        _set_toggle(target, False)  # the same session handed to upstream's page: it draws our turn's history
        at.run()
        _one_page(at)
        assert not _ours(at)
        assert any("STREAMED-REPLY" in str(m.markdown[0].value) for m in at.chat_message if m.markdown)
    finally:
        os.environ.pop("ANTHROPIC_BASE_URL", None)
        srv.stop()


def test_page_that_fails_to_import_leaves_upstreams_page_with_one_warning(
        isolated: None, pristine: dict[bool, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    target = _copy(pristine, tmp_path)
    page_name = _page_module(target)
    (target / "dc_impl" / (page_name.replace(".", "/") + ".py")).write_text("raise ImportError('PAGE-BROKEN on purpose')\n")
    caplog.set_level(logging.WARNING, logger=LOGGER)
    at = AppTest.from_file(str(target / "streamlit.py"), default_timeout=60)
    for _ in range(3):
        at.run()
        _one_page(at)
        assert not _ours(at), "upstream's page, not a dark or broken one"
    warnings = [r for r in caplog.records if r.name == LOGGER]
    assert len(warnings) == 1 and "PAGE-BROKEN on purpose" in warnings[0].getMessage()


def test_turn_in_flight_keeps_our_page_until_it_is_stored(isolated: None, pristine: dict[bool, Path],
                                                          tmp_path: Path) -> None:
    target = _copy(pristine, tmp_path, streaming=False)
    sys.path.append(str(tmp_path))
    from computer_use_demo.dc_impl import ui_hook  # the deployed module, as the block imports it

    assert ui_hook.wants_our_page({}) is False
    assert ui_hook.wants_our_page({"dc_runner": None}) is False
    assert ui_hook.wants_our_page({"dc_runner": object()}) is True  # a turn our page has not stored yet
    _set_toggle(target, True)
    assert ui_hook.wants_our_page({}) is True


def test_serve_outside_a_page_run_does_nothing(isolated: None, pristine: dict[bool, Path], tmp_path: Path) -> None:
    _copy(pristine, tmp_path)
    sys.path.append(str(tmp_path))
    from computer_use_demo.dc_impl import ui_hook

    assert "streamlit" in sys.modules and ui_hook.page_run_streamlit() is None
    assert ui_hook.serve() is None
    assert f"{HOST}.dc_impl.streamlit_app" not in sys.modules, "the page is not even imported"


def _page_module(target: Path) -> str:
    text = (target / "dc_impl" / "streamlit_app.py").read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith("PAGE_MODULE"))
    return str(line.split("=", 1)[1].strip().strip("\"'"))


def test_handover_to_upstream_mends_only_what_upstreams_page_cannot_draw(
        isolated: None, pristine: dict[bool, Path], tmp_path: Path) -> None:
    _copy(pristine, tmp_path, streaming=False)
    sys.path.append(str(tmp_path))
    from computer_use_demo.dc_impl import ui_hook
    from computer_use_demo.tools import ToolResult

    class Consumed:  # a streamed response whose body the SSE reader consumed
        status_code = 200

        @property
        def text(self) -> str:
            raise RuntimeError("Attempted to access streaming response content, without having called read()")

    class Read:
        status_code, text = 200, '{"ok": true}'

    read, consumed, kept = Read(), Consumed(), ToolResult(output="kept")
    messages = [{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_kept", "content": "kept"},
        {"type": "tool_result", "tool_use_id": "toolu_not_run", "is_error": True,
         "content": [{"type": "text", "text": "not run: the user stopped the turn"}]}]}]
    state = {"tool_versions": "computer_use_20250124", "messages": messages, "tools": {"toolu_kept": kept},
             "responses": {"a": ("req-a", read), "b": ("req-b", consumed)}}
    ui_hook.prepare_upstream(state)
    assert state["tool_version"] == "computer_use_20250124"
    assert state["responses"]["a"] == ("req-a", read)
    assert state["responses"]["b"][0] == "req-b" and "HTTP 200: streamed response" in state["responses"]["b"][1]
    assert state["tools"]["toolu_kept"] is kept
    added = state["tools"]["toolu_not_run"]
    assert isinstance(added, ToolResult) and added.error == "not run: the user stopped the turn" and not added.output
    upstream_session = {"tool_version": "x", "tool_versions": "y", "messages": messages[:0], "tools": {},
                        "responses": {"a": ("req-a", read)}}
    before = dict(upstream_session)
    ui_hook.prepare_upstream(upstream_session)
    assert upstream_session == before
