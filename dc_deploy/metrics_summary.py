"""The runtime metrics ``--status`` shows: a one-screen summary of what the agent and the installer
recorded in the metrics directory (p50/p95 time to first token, tokens, tool time, retries, rollbacks).

Read from the stores' merged state (``.claude_dc_agent.state.json``, ``.claude_dc_deploy.state.json``),
the same numbers the ``.prom`` files show. Quantiles are estimated from histogram buckets by linear
interpolation inside the bucket, as Prometheus' ``histogram_quantile`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dc_impl.metrics.definitions import BY_NAME
from dc_impl.metrics.store import TextfileStore, split_key


def quantile(q: float, buckets: Sequence[float], row: Sequence[float]) -> float | None:
    """``row``: per-bucket counts, then the +Inf count, then the sum. None without observations."""
    counts = list(row[:len(buckets) + 1])
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0.0
    for i, count in enumerate(counts):
        if seen + count >= rank and count > 0:
            if i == len(buckets):       # in +Inf: the highest finite bound, as Prometheus does
                return buckets[-1]
            lower = buckets[i - 1] if i else 0.0
            return lower + (buckets[i] - lower) * (rank - seen) / count
        seen += count
    return buckets[-1]


def _state(directory: Path, name: str) -> dict[str, Any]:
    path = directory / f".{name}.state.json"
    if not path.is_file():
        return {}
    return TextfileStore(directory, name, ()).read_state()["series"]


def summarize(directory: Path) -> dict[str, Any] | None:
    """What is recorded under ``directory``; None when neither the agent nor the installer wrote there."""
    agent, deploy = _state(directory, "claude_dc_agent"), _state(directory, "claude_dc_deploy")
    if not agent and not deploy:
        return None
    out: dict[str, Any] = {"dir": str(directory), "tokens": {}, "tools": {}, "requests": 0}
    ttft_def = BY_NAME["claude_dc_llm_time_to_first_token_seconds"]
    for key, value in agent.items():
        name, labels = split_key(key)
        if name == ttft_def.name:
            row = value.get("h", [])
            out["ttft_p50_s"] = quantile(0.5, ttft_def.buckets, row)
            out["ttft_p95_s"] = quantile(0.95, ttft_def.buckets, row)
        elif name == "claude_dc_llm_request_duration_seconds":
            out["requests"] = int(sum(value.get("h", [0.0])[:-1]))
        elif name == "claude_dc_llm_tokens_total":
            out["tokens"][labels[0]] = int(value.get("v", 0))
        elif name == "claude_dc_tool_duration_seconds":
            row = value.get("h", [0.0])
            out["tools"][labels[0]] = {"calls": int(sum(row[:-1])), "seconds": round(row[-1], 3)}
        elif name == "claude_dc_stream_retries_total":
            out["retries"] = int(value.get("v", 0))
        elif name == "claude_dc_midstream_saved_seconds_total":
            out["midstream_saved_s"] = round(value.get("v", 0.0), 3)
    for key, value in deploy.items():
        name, _labels = split_key(key)
        if name == "claude_dc_deploy_rollbacks_total":
            out["rollbacks"] = int(value.get("v", 0))
    return out


def render_lines(summary: dict[str, Any]) -> list[str]:
    """Human lines for ``--status``."""
    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v * 1000:.0f} ms"

    tokens = summary.get("tokens", {})
    lines = [f"metrics in {summary['dir']}:",
             f"  requests {summary.get('requests', 0)}, time to first token p50 {ms(summary.get('ttft_p50_s'))}"
             f" / p95 {ms(summary.get('ttft_p95_s'))}, retries {summary.get('retries', 0)}",
             "  tokens " + (", ".join(f"{k} {v}" for k, v in sorted(tokens.items())) or "none")]
    tools = summary.get("tools", {})
    if tools:
        lines.append("  tools " + ", ".join(f"{n} {t['calls']} calls {t['seconds']:.1f} s"
                                            for n, t in sorted(tools.items())))
    lines.append(f"  time won by starting tools mid-stream {summary.get('midstream_saved_s', 0.0):.1f} s, "
                 f"automatic rollbacks {summary.get('rollbacks', 0)}")
    return lines
