"""``make metrics-demo``: the agent's and the installer's metrics in a real Prometheus, on 127.0.0.1.

1. starts Debian's ``prometheus-node-exporter`` (textfile collector on a fresh metrics directory) and
   ``prometheus`` (scraping it every 2 s), both on free 127.0.0.1 ports;
2. on a fresh copy of the stand-in tree: ``--integrate --all`` with every toggle on, then a deliberately
   broken release that verification catches and restores automatically (one rollback);
3. a few scripted agent turns through the terminal chat (scripted Messages API, real HTTP);
4. waits until Prometheus has scraped them and prints its URL with ready-made queries and their values.

``--no-wait`` ends there (tests); otherwise it keeps both servers up until Ctrl-C.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ..fake_api.scripted_server import ScriptedServer, load_scenario
from .rollout import _broken_release_step, _fresh_manifest
from .steps import PROJECT_ROOT, DemoRunner
from .ui import free_port

QUERIES = {
    "time to first token p50 (s)": "histogram_quantile(0.5, sum by (le) (claude_dc_llm_time_to_first_token_seconds_bucket))",
    "time to first token p95 (s)": "histogram_quantile(0.95, sum by (le) (claude_dc_llm_time_to_first_token_seconds_bucket))",
    "requests": "sum(claude_dc_llm_request_duration_seconds_count)",
    "tokens by type": "sum by (type) (claude_dc_llm_tokens_total)",
    "tool calls by tool and outcome": "sum by (tool, outcome) (claude_dc_tool_calls_total)",
    "tool time by tool (s)": "sum by (tool) (claude_dc_tool_duration_seconds_sum)",
    "time won mid-stream (s)": "claude_dc_midstream_saved_seconds_total",
    "deployed version": "claude_dc_deploy_info",
    "automatic rollbacks": "claude_dc_deploy_rollbacks_total",
    "features on": "claude_dc_feature_enabled == 1",
    "textfile errors": "node_textfile_scrape_error",
}
TURNS = 3




def find(program: str, *alternatives: str) -> str:
    for name in (program, *alternatives):
        path = shutil.which(name)
        if path:
            return path
    raise click.ClickException(f"{program} is not installed (Debian package "
                               f"{'prometheus-node-exporter' if 'exporter' in program else program})")


def query(base: str, promql: str) -> list[dict]:
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    with urllib.request.urlopen(url, timeout=5) as resp:
        doc = json.loads(resp.read())
    return list(doc.get("data", {}).get("result", []))


def _sample(row: dict) -> str:
    labels = ",".join(f"{k}={v}" for k, v in row["metric"].items() if k not in ("__name__", "instance", "job"))
    return f"{labels} {float(row['value'][1]):g}".strip()


def wait_for(base: str, promql: str, timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if query(base, promql):
                return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


def start_servers(workdir: Path, metrics: Path) -> tuple[list[subprocess.Popen[bytes]], str]:
    exporter, prometheus = find("prometheus-node-exporter", "node_exporter"), find("prometheus")
    ne_port, prom_port = free_port(), free_port()
    procs = [subprocess.Popen([exporter, "--collector.disable-defaults", "--collector.textfile",
                               f"--collector.textfile.directory={metrics}",
                               f"--web.listen-address=127.0.0.1:{ne_port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    config = workdir / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 2s\n  evaluation_interval: 2s\nscrape_configs:\n"
                      f"  - job_name: claude-dc\n    static_configs:\n      - targets: ['127.0.0.1:{ne_port}']\n")
    procs.append(subprocess.Popen([prometheus, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
                                   f"--web.listen-address=127.0.0.1:{prom_port}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return procs, f"http://127.0.0.1:{prom_port}"


def agent_turns(d: DemoRunner, count: int) -> int:
    scratch = d.workdir / "agent-scratch"
    scratch.mkdir(exist_ok=True)
    failures = 0
    for i in range(count):
        with ScriptedServer(load_scenario("demo", {"WORKDIR": str(scratch / str(i))})) as srv:
            (scratch / str(i)).mkdir(exist_ok=True)
            rc, _out, _err = d.run(["-m", "dc_impl.chat", "--base-url", srv.base_url, "--api-key", "demo-scripted",
                                    "--tool-version", "computer_use_20250429", "--prompt", "Take notes."],
                                   cwd=PROJECT_ROOT, show=False)
            failures += rc != 0
    return failures


def run(console: Console, workdir: Path, *, wait: bool) -> int:
    metrics = workdir / "metrics"
    metrics.mkdir(parents=True)
    os.environ["DC_METRICS_DIR"] = str(metrics)  # the installer and the agent processes inherit it
    procs, base = start_servers(workdir, metrics)
    try:
        d = DemoRunner(console, workdir)
        d.prepare_target()
        if not _fresh_manifest(d):
            return 1
        toggles = ["--enable-streaming-bash=true", "--enable-streaming-file=true", "--enable-unified-streaming=true"]
        d.step(1, "Integrate everything with the toggles on (deploy metrics written)",
               d.integrate("--integrate", "--all", *toggles, "--reason", "metrics demo"), expect_rc=0)
        _broken_release_step(d)
        console.print(f"[bold]{TURNS} scripted agent turns[/] (terminal chat, DC_METRICS_DIR={metrics})")
        failed = agent_turns(d, TURNS)
        if not wait_for(base, "claude_dc_llm_tokens_total") or not wait_for(base, "claude_dc_deploy_rollbacks_total > 0"):
            console.print(f"[red]Prometheus at {base} did not scrape the metrics in time[/]")
            return 1
        table = Table("query", "value now", title=f"Prometheus: {base}/graph")
        for name, promql in QUERIES.items():
            rows = query(base, promql)
            shown = "\n".join(_sample(r) for r in rows[:8]) or "-"
            table.add_row(name, shown)
        console.print(table)
        console.print("[bold]the queries[/] (paste into the Prometheus UI):")
        for name, promql in QUERIES.items():
            console.print(f"  {name}: [cyan]{promql}[/]", soft_wrap=True, highlight=False)
        console.print(f"Prometheus: {base}/graph   node_exporter metrics dir: {metrics}")
        console.print("Grafana: import docs/grafana-dashboard.json (data source: this Prometheus)")
        bad = [o for o in d.outcomes if o.status != "ok"]
        if failed or bad:
            console.print(f"[red]{failed} agent turn(s) failed; steps not ok: {[o.title for o in bad]}[/]")
            return 1
        if wait:
            console.print("[dim]Ctrl-C stops Prometheus and node_exporter[/]")
            try:
                while all(p.poll() is None for p in procs):
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
        return 0
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


@click.command()
@click.option("--no-wait", is_flag=True, help="Stop the servers once the queries are printed.")
@click.option("--keep", is_flag=True, help="Keep the temporary directory.")
def main(no_wait: bool, keep: bool) -> None:
    """Agent and deploy metrics scraped by a real Prometheus on 127.0.0.1."""
    console = Console()
    workdir = Path(tempfile.mkdtemp(prefix="dc-metrics-demo-"))
    try:
        code = run(console, workdir, wait=not no_wait)
    finally:
        if keep:
            console.print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
