"""Prometheus metrics as ``*.prom`` files for node_exporter's textfile collector.

Set ``DC_METRICS_DIR=DIR`` and the unified loop and the tools write ``DIR/claude_dc_agent.prom``
after every request and every tool call; the installer writes ``DIR/claude_dc_deploy.prom``. Unset,
nothing is recorded and nothing costs anything. Every agent process on the host adds its counts into
the same file (merged under a lock, see ``store``), so counters add up across processes, no series
appears in two files, and what a process that exited recorded stays in.

``definitions`` is the one list of names, types, labels, buckets and the OpenTelemetry GenAI
equivalents; ``recorder`` is what the runtime calls; ``store`` does the merging and atomic writes
(rendered by ``prometheus_client``). Metrics never break the runtime: a missing ``prometheus_client``
or an unwritable directory means no metrics and one warning.
"""

from __future__ import annotations

from .recorder import ENV_DIR, Recorder, get_recorder

__all__ = ["ENV_DIR", "Recorder", "get_recorder"]
