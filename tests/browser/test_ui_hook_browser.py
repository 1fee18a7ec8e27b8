"""End to end in headless Chromium: upstream's start command, after ``--update-ui``, serves the streaming page.

The stand-in ``computer_use_demo`` (and a copy reshaped like upstream's real ``streamlit.py``: docstring,
then imports, no ``from __future__`` line) is deployed by the real installer CLI with
``--integrate --update-ui --enable-unified-streaming=true``, then Streamlit is started exactly as
upstream's image starts it: ``python -m streamlit run computer_use_demo/streamlit.py`` from the directory
above the package, no ``PYTHONPATH``, Streamlit's default file watcher. One Streamlit process serves
the whole story, never restarted:

1. toggle on: the first words of a slow scripted reply (about 3 s of deltas) are on the page at least
   a second before its last words;
2. ``--enable-unified-streaming=false``: the next message gets upstream's page, which shows the reply
   only once it is complete (first and last words together), over upstream's request/response loop;
3. ``--restore`` of the backup taken by ``--update-ui``: ``streamlit.py`` is upstream's file again, byte
   for byte, and a reloaded page is upstream's and answers.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ui_hook_kit import STAND_IN, build_manifest, deploy_with_backup, installer, upstream_shaped

from dc_verify.demo.ui import free_port, stop_process, streamlit_env, wait_healthy
from dc_verify.scripted_server import ScriptedServer

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MISSING = [n for n in ("playwright", "streamlit") if importlib.util.find_spec(n) is None]
if MISSING or not CHROMIUM:
    pytest.skip(
        "browser tests need Debian's chromium and the python packages playwright and streamlit; missing: "
        + ", ".join(MISSING + ([] if CHROMIUM else ["chromium"])),
        allow_module_level=True,
    )

from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "ui"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
OUR_CAPTION = "toggle use_unified_streaming"  # our page's sidebar names the toggle; upstream's page does not


def _words(tag: str, n: int = 30) -> str:
    return f"{tag}-FIRST-WORDS " + " ".join(f"w{i}" for i in range(n)) + f" {tag}-LAST-WORDS."


SCENARIO = {"name": "ui_hook_slow", "turns": [
    # ~190 characters in 4-character deltas, 0.05 s apart: about 3 s from the first words to the last
    {"event_delay_s": 0.05, "blocks": [{"type": "text", "text": _words("HOOKED", 40), "chunk_size": 4}]},
    {"event_delay_s": 0.05, "blocks": [{"type": "text", "text": _words("UPSTREAM", 40), "chunk_size": 4}]},
    {"blocks": [{"type": "text", "text": "RESTORED-REPLY from upstream's own page."}]},
]}


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_manifest(tmp_path_factory.mktemp("ui-manifest"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _upstream_command(work: Path, port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Upstream's entrypoint: ``python -m streamlit run computer_use_demo/streamlit.py`` from the parent dir."""
    cmd = [sys.executable, "-m", "streamlit", "run", "computer_use_demo/streamlit.py",
           "--server.headless", "true", "--server.address", "127.0.0.1", "--server.port", str(port),
           "--browser.gatherUsageStats", "false"]
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _visible(page: Page, text: str) -> bool:
    loc = page.get_by_text(text, exact=False)
    return loc.count() > 0 and loc.first.is_visible()


def _wait(page: Page, cond: Callable[[], bool], what: str, timeout: float = 25.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return time.monotonic()
        time.sleep(0.05)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui_hook_failure.png"), full_page=True)
    raise AssertionError(f"{what} within {timeout} s (screenshot: artifacts/ui/ui_hook_failure.png)")


def _first_and_last(page: Page, tag: str) -> tuple[float, float]:
    """When the first and the last words of the reply tagged ``tag`` became visible (polled together)."""
    first = last = None
    deadline = time.monotonic() + 25.0
    while last is None and time.monotonic() < deadline:
        now = time.monotonic()
        if first is None and _visible(page, f"{tag}-FIRST-WORDS"):
            first = now
        if _visible(page, f"{tag}-LAST-WORDS"):
            last, first = now, first or now
        time.sleep(0.05)
    if first is None or last is None:
        _wait(page, lambda: False, f"the {tag} reply was not shown in full", 0.0)
    assert first is not None and last is not None
    return first, last


def _send(page: Page, text: str) -> None:
    box = page.get_by_test_id("stChatInputTextArea")
    box.wait_for(state="visible")
    box.fill(text)
    box.press("Enter")


def _open(browser: Browser, url: str) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 1100}).new_page()
    page.set_default_timeout(25_000)
    page.goto(url)
    page.get_by_test_id("stChatInputTextArea").wait_for(state="visible")
    return page


@pytest.mark.parametrize("shape", [pytest.param("stand-in", marks=pytest.mark.slow), "upstream-shape"])
def test_update_ui_goes_live_flips_back_and_restores(manifest: Path, browser: Browser, tmp_path: Path,
                                                      shape: str) -> None:
    upstream_shape = shape == "upstream-shape"
    original = (STAND_IN / "streamlit.py").read_bytes()
    original = upstream_shaped(original) if upstream_shape else original
    target, backup_id = deploy_with_backup(manifest, tmp_path, upstream_shape=upstream_shape, streaming=True)
    assert (target / "streamlit.py").read_bytes() != original
    home = tmp_path / "home"
    home.mkdir()
    log = tmp_path / "streamlit.log"
    with ScriptedServer(SCENARIO) as srv:
        env = streamlit_env(srv.base_url, home)  # no PYTHONPATH: upstream's command finds the package from cwd
        port = free_port()
        proc = _upstream_command(tmp_path, port, env, log)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_healthy(url, proc, timeout=90)
            page = _open(browser, url)

            # 1. the toggle is on: our page, text streamed
            assert _visible(page, OUR_CAPTION), "upstream's start command did not serve the streaming page"
            _send(page, "tell me a slow story")
            first, last = _first_and_last(page, "HOOKED")
            print(f"[{shape}] streaming page: first words {last - first:.2f} s before the last")
            assert last - first >= 1.0, f"first and last words appeared {last - first:.2f} s apart (streamed: >= 1 s)"
            _wait(page, lambda: page.get_by_test_id("stButton").filter(has_text="Stop").count() == 0,
                  "the streamed turn did not finish")
            assert srv.requests[0].body.get("stream") is True

            # 2. flipped off: the next message gets upstream's page, block-level
            installer(manifest, target, "--enable-unified-streaming=false")
            _send(page, "and another one")
            first, last = _first_and_last(page, "UPSTREAM")
            print(f"[{shape}] upstream's page after the flip: first words {last - first:.2f} s before the last")
            assert last - first < 0.5, f"upstream's page showed the reply over {last - first:.2f} s; it draws whole blocks"
            assert not _visible(page, OUR_CAPTION), "the flip did not hand the page back to upstream"
            assert _visible(page, "HOOKED-LAST-WORDS"), "the history of the streamed turn is still shown"
            assert len(srv.requests) == 2 and srv.requests[1].body.get("stream") is not True
            assert [m["role"] for m in srv.requests[1].body["messages"]] == ["user", "assistant", "user"]

            # 3. restore the backup taken before --update-ui: upstream's file, byte for byte, and its page
            installer(manifest, target, "--restore", backup_id)
            assert (target / "streamlit.py").read_bytes() == original
            assert not (target / "dc_impl").exists()
            page.reload()
            page.get_by_test_id("stChatInputTextArea").wait_for(state="visible")
            assert not _visible(page, OUR_CAPTION)
            _send(page, "still there?")
            _wait(page, lambda: _visible(page, "RESTORED-REPLY"), "the restored upstream page did not answer")
            assert srv.violations == []
        finally:
            stop_process(proc)
    text = log.read_text(errors="replace")
    assert "Traceback" not in text and "upstream's page is shown" not in text, text[-3000:]
