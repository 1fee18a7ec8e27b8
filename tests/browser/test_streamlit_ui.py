"""End to end: the deployed Streamlit app in headless Chromium against the scripted Messages API.

One staged tree (stand-in ``computer_use_demo`` with ``dc_impl`` inside, streaming toggles on) and one
``streamlit run`` process serve the module. The app's ``ANTHROPIC_BASE_URL`` is a small TCP relay on
127.0.0.1 that each test points at its own ``ScriptedServer``, so every test has its own scenario and
its own ``violations``; each test also opens a fresh browser context (a new Streamlit session, so a
fresh history).
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dc_verify.demo.ui import (
    STREAMING_TOGGLES,
    free_port,
    stage_tree,
    start_streamlit,
    stop_process,
    streamlit_env,
    wait_healthy,
)
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
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
INTERRUPT_TEXT = "(user stopped or interrupted and wrote the following)"


class Relay:
    """TCP relay on 127.0.0.1 whose target can change between tests; closes both ends on any EOF."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.target: tuple[str, int] | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name="ui-relay", daemon=True).start()

    def point_at(self, port: int) -> None:
        with self._lock:
            self.target = ("127.0.0.1", port)
            for s in self._conns:  # pooled connections to the previous server must not be reused
                _close(s)
            self._conns.clear()

    def close(self) -> None:
        self.listener.close()
        self.point_at(0)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                target = self.target
            try:
                upstream = socket.create_connection(target or ("127.0.0.1", 1), timeout=5)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        _close(src)
        _close(dst)


def _close(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()


class UI:
    def __init__(self, url: str, relay: Relay, browser: Browser) -> None:
        self.url, self.relay, self.browser = url, relay, browser
        self.srv: ScriptedServer | None = None

    def serve(self, scenario: dict[str, Any]) -> ScriptedServer:
        self.srv = ScriptedServer(scenario).start()
        self.relay.point_at(self.srv.port)
        return self.srv

    def open(self) -> Page:
        context = self.browser.new_context(viewport={"width": 1280, "height": 1100})
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(self.url)
        page.get_by_test_id("stChatInputTextArea").wait_for(state="visible")
        return page

    def send(self, page: Page, text: str) -> int:
        """Type ``text`` into the chat input; return the index the server will give the request."""
        assert self.srv is not None
        index = len(self.srv.requests)
        box = page.get_by_test_id("stChatInputTextArea")
        box.fill(text)
        box.press("Enter")
        return index


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Relay, Path]]:
    work = tmp_path_factory.mktemp("ui")
    app = stage_tree(work, toggles=dict.fromkeys(STREAMING_TOGGLES, True))
    home = work / "home"
    home.mkdir()
    log = work / "streamlit.log"
    relay = Relay()
    env = streamlit_env(f"http://127.0.0.1:{relay.port}", home, {"PYTHONPATH": str(work)})
    port = free_port()
    proc = start_streamlit(app, port=port, env=env, cwd=work, log=log)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc, timeout=60)
        yield url, relay, log
    finally:
        stop_process(proc)
        relay.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def ui(app_url: tuple[str, Relay, Path], browser: Browser) -> Iterator[UI]:
    url, relay, _ = app_url
    handle = UI(url, relay, browser)
    try:
        yield handle
    finally:
        for ctx in browser.contexts:
            ctx.close()
        if handle.srv is not None:
            handle.srv.stop()


def _visible(page: Page, text: str) -> bool:
    loc = page.get_by_text(text, exact=False)
    return loc.count() > 0 and loc.first.is_visible()


def _wait(page: Page, cond: Callable[[], bool], what: str, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return time.monotonic()
        time.sleep(0.05)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "failure.png"), full_page=True)
    raise AssertionError(f"{what} within {timeout} s (screenshot: artifacts/ui/failure.png)")


def _wait_visible(page: Page, text: str, timeout: float = 20.0) -> float:
    return _wait(page, lambda: _visible(page, text), f"{text!r} not visible", timeout)


def _stop_buttons(page: Page) -> int:
    return page.get_by_test_id("stButton").filter(has_text="Stop").count()


def _wait_turn_done(page: Page, timeout: float = 20.0) -> None:
    """The turn is in the stored history: its metrics caption shows and the Stop button is gone."""
    _wait_visible(page, "Turn metrics:", timeout)
    _wait(page, lambda: _stop_buttons(page) == 0, "the Stop button stayed", 5.0)


SLOW_TEXT = (
    "Partial text must show up in the page while the model is still writing. This reply is cut into "
    "many small deltas that arrive over more than two seconds, so a page that renders only complete "
    "blocks would show nothing of it until the very end. FINAL-WORDS-OF-SLOW-TEXT."
)


def test_partial_text_is_visible_before_the_turn_ends(ui: UI) -> None:
    srv = ui.serve({"name": "slow", "turns": [  # ~60 deltas, 0.05 s apart: about 3 s of text
        {"event_delay_s": 0.05, "blocks": [{"type": "text", "text": SLOW_TEXT, "chunk_size": 4}]}]})
    page = ui.open()
    req = ui.send(page, "tell me a slow story")
    _wait_visible(page, "Partial text must show up")
    assert srv.t_message_stop(req) is None, "the first words appeared only after the server sent message_stop"
    assert not _visible(page, "FINAL-WORDS-OF-SLOW-TEXT"), "the whole text was there at once"
    _wait_visible(page, "FINAL-WORDS-OF-SLOW-TEXT")
    _wait_turn_done(page)
    assert srv.t_message_stop(req) is not None
    assert _visible(page, "first token") and srv.violations == []


THINKING = "THINKING-MARKER: the user asks for a plan; consider the options before answering."


def test_thinking_is_shown_and_collapsible(ui: UI) -> None:
    srv = ui.serve({"name": "thinking", "turns": [{"event_delay_s": 0.03, "blocks": [
        {"type": "thinking", "thinking": THINKING, "signature": "sig_ui_thinking", "chunk_size": 10},
        {"type": "text", "text": "ANSWER-AFTER-THINKING is here.", "chunk_size": 8}]}]})
    page = ui.open()
    ui.send(page, "think first")
    _wait_visible(page, "THINKING-MARKER")  # streamed into an open expander
    _wait_visible(page, "ANSWER-AFTER-THINKING")
    _wait_turn_done(page)
    expander = page.get_by_test_id("stExpander").filter(has_text="Thinking").first
    summary = expander.locator("summary")
    body = expander.get_by_text("THINKING-MARKER", exact=False)
    assert not body.is_visible(), "a finished turn's thinking starts collapsed"
    summary.click()
    body.wait_for(state="visible", timeout=5_000)
    summary.click()
    body.wait_for(state="hidden", timeout=5_000)
    assert srv.violations == []


# The brief's command sleeps 0.4 s; 1 s keeps a wide margin over the page's refresh lag on a loaded machine.
BASH_CMD = "for i in 1 2 3 4; do echo line$i; sleep 1; done"


def test_bash_output_appears_line_by_line(ui: UI) -> None:
    srv = ui.serve({"name": "bash", "turns": [
        {"event_delay_s": 0.01, "blocks": [
            {"type": "text", "text": "Running the command now."},
            {"type": "tool_use", "id": "toolu_ui_bash", "name": "bash", "input": {"command": BASH_CMD}}]},
        {"event_delay_s": 0.01, "blocks": [{"type": "text", "text": "BASH-TURN-DONE: four lines printed."}],
         "expect": {"tool_result_contains": {"toolu_ui_bash": "line4"}}}]})
    page = ui.open()
    ui.send(page, "run the loop")
    t1 = _wait_visible(page, "line1")
    assert not _visible(page, "line4"), "line4 was already there when line1 appeared"
    t4 = _wait_visible(page, "line4")
    assert t4 - t1 > 1.0, f"line1 and line4 appeared {t4 - t1:.2f} s apart; the command sleeps 3 s between them"
    _wait_visible(page, "BASH-TURN-DONE")
    _wait_turn_done(page)
    assert srv.violations == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "full_turn.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


STOPPABLE = "STOPPABLE-START " + " ".join(f"w{i}" for i in range(40)) + " STOPPABLE-END"


def test_stop_keeps_the_app_usable_and_the_history_valid(ui: UI) -> None:
    # The first attempt stalls after a few deltas, where the user presses Stop. A stream the client
    # abandoned is not consumed: the next request is attempt 2 of the same turn, served in full.
    srv = ui.serve({"name": "stop", "turns": [{
        "event_delay_s": 0.02, "blocks": [{"type": "text", "text": STOPPABLE, "chunk_size": 6}],
        "inject": [{"kind": "stall", "at": "after_delta:4", "seconds": 60, "keepalive_ping_s": 1, "times": 1}]}]})
    page = ui.open()
    req = ui.send(page, "write a long answer")
    _wait_visible(page, "STOPPABLE-START")
    page.get_by_test_id("stButton").filter(has_text="Stop").click()
    _wait_visible(page, "Turn stopped by the user")
    _wait(page, lambda: _stop_buttons(page) == 0, "the Stop button stayed", 5.0)
    assert srv.t_message_stop(req) is None, "the stopped turn ran to its end"
    assert not _visible(page, "STOPPABLE-END")
    nxt = ui.send(page, "are you still there?")
    _wait_visible(page, "STOPPABLE-END")
    _wait_turn_done(page)
    assert srv.violations == []
    assert srv.requests[nxt].attempt == 2
    messages = srv.requests[nxt].body["messages"]
    assert [m["role"] for m in messages] == ["user", "user"], "the stopped turn left nothing in the history"
    assert [b.get("text") for b in messages[-1]["content"]] == [INTERRUPT_TEXT, "are you still there?"]
