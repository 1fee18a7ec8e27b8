"""What the runtime calls to record metrics; a no-op unless ``DC_METRICS_DIR`` is set.

``get_recorder()`` returns the process's recorder for the current ``DC_METRICS_DIR`` (a disabled one
when it is unset, so callers never check). Observations accumulate in memory and reach the shared
file at ``flush()``, which the loop calls once per request and the tools once per call -- never per
streamed delta. Any failure (``prometheus_client`` missing, a directory that cannot be written) turns
the recorder off with one warning: metrics never break the agent.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..contract import ENV_METRICS_DIR
from .definitions import AGENT, MAX_TOOL_NAMES, SCREEN_PHASES, TOKEN_TYPES, TOOL_OUTCOMES, MetricDef
from .store import Pending, TextfileStore, series_key

ENV_DIR = ENV_METRICS_DIR
AGENT_FILE = "claude_dc_agent"
log = logging.getLogger("dc_impl.metrics")
_TOOL_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")
_warned: set[str] = set()


def _warn_once(key: str, message: str, *args: object) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning(message, *args)


class Recorder:
    def __init__(self, directory: Path | None, name: str = AGENT_FILE, defs: Sequence[MetricDef] = AGENT) -> None:
        self.enabled = directory is not None
        self.defs = {d.name: d for d in defs}
        self._lock = threading.Lock()
        self._pending = Pending()
        self._tools: set[str] = set()
        self.store: TextfileStore | None = None
        if directory is None:
            return
        try:
            import prometheus_client  # noqa: F401
        except ImportError:
            _warn_once("no-lib", "%s is set but prometheus_client is not installed: no metrics are written", ENV_DIR)
            self.enabled = False
            return
        self.store = TextfileStore(directory, name, defs)

    # ---- observations --------------------------------------------------------------------------
    def _observe(self, name: str, value: float, labels: Sequence[str] = ()) -> None:
        if not self.enabled or value != value or value < 0:  # NaN or negative: not a duration
            return
        with self._lock:
            self._pending.observe(series_key(name, labels), self.defs[name].buckets, float(value))

    def _inc(self, name: str, value: float = 1.0, labels: Sequence[str] = ()) -> None:
        if not self.enabled or not value or value != value:
            return
        with self._lock:
            self._pending.inc(series_key(name, labels), float(value))

    def tool_label(self, tool: str) -> str:
        name = tool if isinstance(tool, str) and _TOOL_NAME.fullmatch(tool) else "other"
        with self._lock:
            if name not in self._tools and len(self._tools) >= MAX_TOOL_NAMES:
                return "other"
            self._tools.add(name)
        return name

    def request(self, *, duration_s: float | None, ttft_s: float | None = None, usage: Any = None,
                flush: bool = True) -> None:
        """One Messages API request ended (``usage``: the API's usage object or dict, if any)."""
        if not self.enabled:
            return
        if ttft_s is not None:
            self._observe("claude_dc_llm_time_to_first_token_seconds", ttft_s)
        if duration_s is not None:
            self._observe("claude_dc_llm_request_duration_seconds", duration_s)
        for kind, value in usage_tokens(usage).items():
            self._inc("claude_dc_llm_tokens_total", value, (kind,))
        if flush:
            self.flush()

    def retry(self, count: int = 1) -> None:
        self._inc("claude_dc_stream_retries_total", count)

    def midstream_saved(self, seconds: float) -> None:
        if seconds > 0:
            self._inc("claude_dc_midstream_saved_seconds_total", seconds)

    def tool_call(self, tool: str, outcome: str, duration_s: float | None, *, flush: bool = True) -> None:
        if not self.enabled:
            return
        label = self.tool_label(tool)
        self._inc("claude_dc_tool_calls_total", 1, (label, outcome if outcome in TOOL_OUTCOMES else "error"))
        if duration_s is not None:
            self._observe("claude_dc_tool_duration_seconds", duration_s, (label,))
        if flush:
            self.flush()

    def screenshot(self, phase: str, seconds: float) -> None:
        if phase in SCREEN_PHASES:
            self._observe("claude_dc_screenshot_phase_duration_seconds", seconds, (phase,))

    # ---- writing -------------------------------------------------------------------------------
    def flush(self) -> None:
        if not self.enabled or self.store is None:
            return
        with self._lock:
            pending, self._pending = self._pending, Pending()
        if not pending:
            return
        try:
            self.store.dir.mkdir(parents=True, exist_ok=True)
            self.store.flush(pending)
        except Exception as exc:  # never break the agent because of metrics
            _warn_once(f"flush:{self.store.dir}", "metrics disabled: cannot write %s: %s", self.store.prom, exc)
            self.enabled = False


def usage_tokens(usage: Any) -> dict[str, float]:
    """Token counts by our ``type`` label from the API's usage (object or dict); missing -> absent."""
    if usage is None:
        return {}
    fields = {"input": "input_tokens", "output": "output_tokens", "cache_read": "cache_read_input_tokens",
              "cache_creation": "cache_creation_input_tokens"}
    out: dict[str, float] = {}
    for kind in TOKEN_TYPES:
        value = usage.get(fields[kind]) if isinstance(usage, dict) else getattr(usage, fields[kind], None)
        if isinstance(value, int | float) and value > 0:
            out[kind] = float(value)
    return out


_recorders: dict[str | None, Recorder] = {}
_recorders_lock = threading.Lock()


def get_recorder() -> Recorder:
    """The recorder for the current ``DC_METRICS_DIR`` (disabled when unset); one per directory."""
    raw = os.environ.get(ENV_DIR) or None
    with _recorders_lock:
        rec = _recorders.get(raw)
        if rec is None:
            rec = _recorders[raw] = Recorder(Path(raw) if raw else None)
        return rec
