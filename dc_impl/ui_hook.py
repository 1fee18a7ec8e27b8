"""What the managed block at the top of upstream's ``streamlit.py`` calls on every page run.

Upstream's image serves ``python -m streamlit run computer_use_demo/streamlit.py``. With the UI hook
installed (``integrate_streaming.py --integrate --update-ui``), each page run of that file first
calls ``serve()``, which decides from the runtime toggles, read at that moment:

* ``use_unified_streaming`` on: draw ``dc_impl``'s streaming page (the page ``streamlit_app.py``
  serves), then end the script run with ``st.stop()`` so upstream's page is not drawn under it;
* off: return at once; upstream's page runs exactly as it always did.

A flip therefore takes effect at the next page run (the next message or click), without restarting
Streamlit. A turn our page started and has not yet moved into the history keeps our page until it
has (its thread would otherwise finish unseen). The UI never goes dark because of us: when our page
cannot be imported, or the decision itself fails, upstream's page runs and the reason is logged once
per distinct problem. Errors *while our page draws* are not swallowed (Streamlit shows them, as for
any page): falling back then could run the same turn twice. Outside a Streamlit page run (plain
``python streamlit.py``, an import from a test) ``serve()`` does nothing. See docs/ui.md.
"""

from __future__ import annotations

import importlib
import logging
import sys
from types import ModuleType
from typing import Any

from . import toggles

FEATURE = "use_unified_streaming"
LOGGER_NAME = "claude_dc_streaming.ui_hook"  # the managed block logs under the same name
ENTRY_MODULE = "streamlit_app"  # the public entry; its PAGE_MODULE names the page this hook serves
RUNNING_TURN_KEY = "dc_runner"  # our page's running turn (None once it is in the history)
LOG = logging.getLogger(LOGGER_NAME)
_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        LOG.warning("%s", message)


def page_run_streamlit() -> Any | None:
    """The ``streamlit`` module when called inside a Streamlit script run, else None (never imports it)."""
    st = sys.modules.get("streamlit")
    if st is None:
        return None
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx
    except ImportError as exc:  # a Streamlit that moved it: we cannot tell a page run, so we stay out
        _warn_once(f"cannot tell a Streamlit page run ({exc}); upstream's page is shown")
        return None
    return st if get_script_run_ctx(suppress_warning=True) is not None else None


def _stop_exception() -> BaseException | None:
    """Streamlit's StopException (its module moved between releases), or None."""
    for name in ("streamlit.runtime.scriptrunner_utils.exceptions", "streamlit.runtime.scriptrunner.script_runner",
                 "streamlit.runtime.scriptrunner"):
        try:
            exc_type = getattr(importlib.import_module(name), "StopException", None)
        except ImportError:
            continue
        if isinstance(exc_type, type) and issubclass(exc_type, BaseException):
            return exc_type()
    return None


def page_module_name() -> str:
    """Dotted name of the streaming page (the module whose ``main()`` draws it)."""
    entry = importlib.import_module(f"{__package__}.{ENTRY_MODULE}")
    return f"{__package__}.{entry.PAGE_MODULE}"


def load_page() -> ModuleType | None:
    """The streaming page module, or None (logged once) when it cannot be imported."""
    try:
        return importlib.import_module(page_module_name())
    except Exception as exc:  # an import failure must leave upstream's page, not a broken one
        _warn_once(f"streaming page unavailable, upstream's page is shown: {type(exc).__name__}: {exc}")
        return None


def wants_our_page(session_state: Any) -> bool:
    """The toggle is on, or our page still has a turn to move into the history."""
    if toggles.current().enabled(FEATURE):
        return True
    return session_state.get(RUNNING_TURN_KEY) is not None


def prepare_upstream(session_state: Any) -> None:
    """Make a session our page served drawable by upstream's page (a session upstream started is not touched).

    Upstream's page redraws the whole session on every run, and three things our page leaves would make
    it raise there: its tool-version radio reads ``tool_version`` (set by upstream with ``model``), its
    HTTP log reads ``response.text`` (our streamed responses were consumed by the SSE reader, so that
    raises), and its history looks every ``tool_result`` up in ``tools``.
    """
    if "tool_version" not in session_state and "tool_versions" in session_state:
        session_state["tool_version"] = session_state["tool_versions"]
    responses = session_state.get("responses")
    if isinstance(responses, dict):
        for ident, pair in list(responses.items()):
            if isinstance(pair, tuple) and len(pair) == 2 and _unreadable(pair[1]):
                responses[ident] = (pair[0], _streamed_note(pair[1]))
    tools, messages = session_state.get("tools"), session_state.get("messages")
    if isinstance(tools, dict) and isinstance(messages, list):
        for block in _tool_results(messages):
            if block.get("tool_use_id") not in tools:
                tools[block["tool_use_id"]] = _host_tool_result(block)


def _unreadable(response: Any) -> bool:
    """A response object whose body cannot be read any more (a consumed stream)."""
    if response is None or isinstance(response, str | bytes | dict) or not hasattr(type(response), "text"):
        return False
    try:
        response.text  # noqa: B018 - the property raises for a consumed stream
    except Exception:
        return True
    return False


def _streamed_note(response: Any) -> str:
    status = getattr(response, "status_code", "?")
    return (f"HTTP {status}: streamed response; its events were shown live by the streaming page and its body "
            "was consumed by the stream")


def _tool_results(messages: list[Any]) -> list[dict[str, Any]]:
    return [b for m in messages if isinstance(m, dict) and isinstance(m.get("content"), list)
            for b in m["content"] if isinstance(b, dict) and b.get("type") == "tool_result" and b.get("tool_use_id")]


def _host_tool_result(block: dict[str, Any]) -> Any:
    """The host's ``ToolResult`` for a result our loop stored only in the history (e.g. "not run")."""
    content = block.get("content")
    if isinstance(content, list):
        text = "\n".join(str(c.get("text", "")) for c in content if isinstance(c, dict) and c.get("type") == "text")
    else:
        text = str(content or "")
    tool_result = importlib.import_module(f"{host_package()}.tools").ToolResult
    return tool_result(error=text) if block.get("is_error") else tool_result(output=text)


def host_package() -> str:
    """The ``computer_use_demo`` package this hook is deployed in (``<host>.dc_impl.ui_hook``)."""
    return (__package__ or "").rpartition(".")[0] or "computer_use_demo"


def choose(st: Any) -> ModuleType | None:
    """The page module to draw instead of upstream's, or None for upstream's page. Never raises."""
    try:
        if not wants_our_page(st.session_state):
            prepare_upstream(st.session_state)
            return None
        return load_page()
    except Exception as exc:  # the decision must never take the page down
        _warn_once(f"UI hook failed, upstream's page is shown: {type(exc).__name__}: {exc}")
        return None


def serve() -> None:
    """Draw our page and stop the script run when it should replace upstream's; else return at once."""
    st = page_run_streamlit()
    if st is None:
        return
    page = choose(st)
    if page is None:
        return
    page.main()
    # StopException derives from BaseException, so upstream's code below never runs; it is raised at
    # the next yield point (st.stop() forces one), outside any ``except Exception``.
    st.stop()
    stop = _stop_exception()  # not reached where st.stop() raises, as it does in every release we know
    if stop is not None:
        raise stop


__all__ = ["FEATURE", "LOGGER_NAME", "choose", "load_page", "page_run_streamlit", "serve"]
