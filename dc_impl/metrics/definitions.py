"""Every metric we export: name, type, help, labels, buckets, and its OpenTelemetry GenAI counterpart.

Names follow Prometheus conventions (base units, ``_seconds``, counters ending in ``_total``); labels
take values from small fixed sets (``bounded``), so cardinality stays bounded whatever the agent does.
"""

from __future__ import annotations

from dataclasses import dataclass

# OTel GenAI gen_ai.client.operation.duration boundaries (0.01 .. 81.92 s, doubling)
REQUEST_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
# time to first token: the same doubling series, finer at the low end where streaming lives
TTFT_BUCKETS = (0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48)
# tool calls: from a fast file view to bash's 120 s default timeout and beyond
TOOL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
# screenshot phases: capture and encode take milliseconds, settling up to the 2 s cap
SCREEN_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0)
# verification during a deploy
VERIFY_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0)

TOKEN_TYPES = ("input", "output", "cache_read", "cache_creation")
TOOL_OUTCOMES = ("ok", "error", "interrupted", "not_run")
SCREEN_PHASES = ("capture", "settle", "encode")
MAX_TOOL_NAMES = 16  # distinct ``tool`` label values kept; the rest are counted as "other"


@dataclass(frozen=True)
class MetricDef:
    name: str               # the full exposed name (counters include _total)
    kind: str               # "counter" | "histogram" | "gauge"
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()
    otel: str = ""          # the OpenTelemetry GenAI metric it maps to, if any


AGENT: tuple[MetricDef, ...] = (
    MetricDef("claude_dc_llm_time_to_first_token_seconds", "histogram",
              "Time from sending a Messages API request to its first streamed content token.",
              buckets=TTFT_BUCKETS, otel="gen_ai.client.operation.time_to_first_chunk"),
    MetricDef("claude_dc_llm_request_duration_seconds", "histogram",
              "Duration of one streamed Messages API request, from send to message_stop or failure.",
              buckets=REQUEST_BUCKETS, otel="gen_ai.client.operation.duration"),
    MetricDef("claude_dc_llm_tokens_total", "counter",
              "Tokens reported in the API's usage, by type.", ("type",),
              otel="gen_ai.client.token.usage (gen_ai.token.type)"),
    MetricDef("claude_dc_tool_duration_seconds", "histogram",
              "Duration of one tool call, by the tool's API name.", ("tool",), TOOL_BUCKETS,
              otel="gen_ai.execute_tool.duration (gen_ai.tool.name)"),
    MetricDef("claude_dc_tool_calls_total", "counter",
              "Tool calls by the tool's API name and outcome (ok, error, interrupted, not_run).",
              ("tool", "outcome")),
    MetricDef("claude_dc_stream_retries_total", "counter",
              "Requests retried or continued after an overloaded, dropped or stalled stream."),
    MetricDef("claude_dc_midstream_saved_seconds_total", "counter",
              "Time won by starting tools while the model was still streaming (tool time overlapped with the stream)."),
    MetricDef("claude_dc_screenshot_phase_duration_seconds", "histogram",
              "Streaming screenshot tool: time spent capturing, settling after an action, and PNG-encoding.",
              ("phase",), SCREEN_BUCKETS),
)

DEPLOY: tuple[MetricDef, ...] = (
    MetricDef("claude_dc_deploy_info", "gauge", "The deployed claude-dc-streaming version (value 1).", ("version",)),
    MetricDef("claude_dc_deploy_last_success_timestamp_seconds", "gauge",
              "Unix time of the last deployment, toggle change or restore that committed."),
    MetricDef("claude_dc_deploy_rollbacks_total", "counter",
              "Automatic restores after a deployment failed verification."),
    MetricDef("claude_dc_deploy_verify_duration_seconds", "histogram",
              "Duration of the verification run of a deployment.", buckets=VERIFY_BUCKETS),
    MetricDef("claude_dc_feature_enabled", "gauge", "1 when the feature toggle is on, 0 when off.", ("feature",)),
)

BY_NAME = {d.name: d for d in AGENT + DEPLOY}
