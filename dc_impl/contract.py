"""The contracts the runtime, the installer and the verifier share: one source, standard library only.

``dc_impl`` (deployed into the host tree), ``dc_deploy`` (the installer) and ``dc_verify`` (the
verification suite) all read these names from here instead of keeping copies. What lives here:

* the feature toggle names (``FEATURES``) and which tool kind each streaming tool toggle switches;
* the environment variables the runtime and the installer read (``ENV_*``);
* the paths the installer manages inside a target tree (toggles file, receipt) and the receipt
  format version;
* the managed block appended to the host's ``loop.py`` (markers and full text).

This module must stay importable on its own (no imports of ours, no third-party ones): the verifier
and the installer import it without the rest of ``dc_impl``. The JSON schemas that repeat the toggle
names (``feature_toggles.schema.json``, ``dc_deploy/schemas/manifest.schema.json``) are kept equal to
``FEATURES`` by tests.
"""

from __future__ import annotations

# ------------------------------------------------------------------------------------------- toggles
USE_STREAMING_BASH = "use_streaming_bash"
USE_STREAMING_FILE = "use_streaming_file"
USE_STREAMING_SCREENSHOT = "use_streaming_screenshot"
USE_UNIFIED_STREAMING = "use_unified_streaming"
USE_STREAMING_THINKING = "use_streaming_thinking"

FEATURES: tuple[str, ...] = (
    USE_STREAMING_BASH,
    USE_STREAMING_FILE,
    USE_STREAMING_SCREENSHOT,
    USE_UNIFIED_STREAMING,
    USE_STREAMING_THINKING,
)

# streaming tool kind -> the toggle that swaps it in for the host's tool (see ``substitution``)
TOOL_TOGGLES: dict[str, str] = {
    "bash": USE_STREAMING_BASH,
    "file": USE_STREAMING_FILE,
    "computer": USE_STREAMING_SCREENSHOT,
}

# ------------------------------------------------------------------------------------------ components
# The ids of the release manifest's components, in manifest order (dc_deploy/build.py defines their
# files; a test keeps the two equal). The verifier's sandbox deployments list them in their receipts.
COMPONENTS: tuple[str, ...] = (
    "core", "loop-hook", "bash-tool", "file-tool", "screenshot-tool", "metrics", "unified-streaming", "streamlit-ui",
    "ui-hook",
)

# --------------------------------------------------------------------------------- environment variables
ENV_TOGGLES_FILE = "DC_TOGGLES_FILE"          # read the toggles from this file instead of the deployed one
ENV_METRICS_DIR = "DC_METRICS_DIR"            # write Prometheus textfile metrics here (unset: none)
ENV_VERIFY_PARENT_PID = "DC_VERIFY_PARENT_PID"  # set by the installer: the verifier dies with that process
ENV_SCREENSHOT_SETTLE_MS = "DC_SCREENSHOT_SETTLE_MS"  # quiet window that ends the screenshot tool's wait
ENV_STREAM_IDLE_TIMEOUT = "DC_STREAM_IDLE_TIMEOUT_S"  # the unified loop's idle timeout on a stream

# ------------------------------------------------------------------------------- paths inside a target
IMPL_DIRNAME = "dc_impl"
LOOP_FILE = "loop.py"
UI_FILE = "streamlit.py"  # upstream's page: gets the UI hook's managed block (component ui-hook, --update-ui)
TOGGLES_FILENAME = "feature_toggles.json"
TOGGLES_SCHEMA_FILENAME = "feature_toggles.schema.json"
RECEIPT_FILENAME = "receipt.json"
TOGGLES_PATH = f"{IMPL_DIRNAME}/{TOGGLES_FILENAME}"
RECEIPT_PATH = f"{IMPL_DIRNAME}/{RECEIPT_FILENAME}"
RECEIPT_FORMAT = 1

# the name ``install`` sets in the loop module so verification can see the hook is in
HOOK_NAMESPACE_KEY = "DC_STREAMING_HOOK"

# --------------------------------------------------------------------------------- managed loop block
LOOP_BLOCK_BEGIN = "# >>> claude-dc-streaming loop hook (managed by integrate_streaming.py; do not edit) >>>\n"
LOOP_BLOCK_END = "# <<< claude-dc-streaming loop hook <<<\n"
LOOP_BLOCK = (
    LOOP_BLOCK_BEGIN
    + "try:\n"
    "    from .dc_impl import hook as _dc_streaming_hook\n"
    "    _dc_streaming_hook.install(globals())\n"
    "except Exception as _dc_exc:  # never break the host loop\n"
    "    import logging as _dc_logging\n"
    '    _dc_logging.getLogger(__name__).warning("claude-dc-streaming hook not installed: %s", _dc_exc)\n'
    + LOOP_BLOCK_END
)
# the start of every managed block the installer writes into an upstream file
# The UI hook's block in upstream's streamlit.py (dc_deploy/ui_block.py places it after the docstring and
# the __future__ imports and writes it with the file's own line endings); these are its lines.
UI_BLOCK_BEGIN = "# >>> claude-dc-streaming ui hook (managed by integrate_streaming.py; do not edit) >>>"
UI_BLOCK_END = "# <<< claude-dc-streaming ui hook <<<"
UI_BLOCK_BODY: tuple[str, ...] = (
    "_dc_ui_hook = None",
    "try:  # a page run of `streamlit run` only: plain `python streamlit.py` or an import does nothing",
    "    import sys as _dc_sys",
    '    if __name__ == "__main__" and "streamlit" in _dc_sys.modules:',
    "        import importlib as _dc_importlib",
    "        import os as _dc_os",
    "        _dc_dir = _dc_os.path.dirname(_dc_os.path.abspath(__file__))",
    "        if _dc_os.path.dirname(_dc_dir) not in _dc_sys.path:",
    "            _dc_sys.path.append(_dc_os.path.dirname(_dc_dir))",
    '        _dc_ui_hook = _dc_importlib.import_module(_dc_os.path.basename(_dc_dir) + ".dc_impl.ui_hook")',
    "except Exception as _dc_exc:  # never break upstream's page: it runs, with one warning in the log",
    "    import logging as _dc_logging",
    '    _dc_log = _dc_logging.getLogger("claude_dc_streaming.ui_hook")',
    '    if not getattr(_dc_log, "dc_warned", False):',
    "        _dc_log.dc_warned = True",
    '        _dc_log.warning("claude-dc-streaming UI hook not active, upstream\'s page is shown: %r", _dc_exc)',
    "if _dc_ui_hook is not None:",
    "    _dc_ui_hook.serve()  # draws the streaming page and ends the run while use_unified_streaming is on",
)

MANAGED_MARKER = "# >>> claude-dc-streaming"

__all__ = [
    "COMPONENTS", "ENV_METRICS_DIR", "ENV_SCREENSHOT_SETTLE_MS", "ENV_STREAM_IDLE_TIMEOUT", "ENV_TOGGLES_FILE",
    "ENV_VERIFY_PARENT_PID", "FEATURES", "HOOK_NAMESPACE_KEY", "IMPL_DIRNAME", "LOOP_BLOCK", "LOOP_BLOCK_BEGIN",
    "LOOP_BLOCK_END", "LOOP_FILE", "UI_BLOCK_BEGIN", "UI_BLOCK_BODY", "UI_BLOCK_END", "UI_FILE", "MANAGED_MARKER", "RECEIPT_FILENAME", "RECEIPT_FORMAT", "RECEIPT_PATH",
    "TOGGLES_FILENAME", "TOGGLES_PATH", "TOGGLES_SCHEMA_FILENAME", "TOOL_TOGGLES", "USE_STREAMING_BASH",
    "USE_STREAMING_FILE", "USE_STREAMING_SCREENSHOT", "USE_STREAMING_THINKING", "USE_UNIFIED_STREAMING",
]
