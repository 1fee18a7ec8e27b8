"""Deploy metrics for node_exporter's textfile collector: ``<DIR>/claude_dc_deploy.prom``.

``DC_METRICS_DIR`` or ``--metrics-dir`` names DIR (the same directory the agent writes into).
After each command that changed the target the installer records what is deployed now
(``claude_dc_deploy_info{version}`` = 1, ``claude_dc_feature_enabled{feature}``), when the last
successful change was, how long verification took, and counts automatic restores after failed
verification. After such a rollback the info names the version that is deployed, the old one.
Metrics never fail a deployment: a problem writing them is one warning line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dc_impl.metrics.definitions import DEPLOY
from dc_impl.metrics.store import Pending, TextfileStore, series_key

if TYPE_CHECKING:
    from .context import Context

ENV_DIR = "DC_METRICS_DIR"
DEPLOY_FILE = "claude_dc_deploy"


@dataclass(frozen=True)
class DeployOutcome:
    version: str | None                 # the version deployed after the command (None: nothing of ours)
    toggles: Mapping[str, bool]         # the toggles in force after the command
    succeeded: bool                     # the command committed a change
    now: float                          # unix time of the outcome (the context's clock)
    verify_s: float | None = None       # verification time, when verification ran
    rolled_back: bool = False           # verification failed and the old state was restored


def metrics_dir(option: str | os.PathLike[str] | None, environ: Mapping[str, str] | None = None) -> Path | None:
    env = os.environ if environ is None else environ
    raw = option if option is not None else (env.get(ENV_DIR) or None)
    return Path(raw) if raw else None


def pending_for(outcome: DeployOutcome) -> Pending:
    defs = {d.name: d for d in DEPLOY}
    p = Pending()
    p.replace["claude_dc_deploy_info"] = (
        {series_key("claude_dc_deploy_info", (outcome.version,)): 1.0} if outcome.version else {})
    p.replace["claude_dc_feature_enabled"] = {
        series_key("claude_dc_feature_enabled", (name,)): 1.0 if on else 0.0
        for name, on in sorted(outcome.toggles.items())}
    if outcome.succeeded:
        p.set[series_key("claude_dc_deploy_last_success_timestamp_seconds", ())] = float(outcome.now)
    if outcome.verify_s is not None:
        p.observe(series_key("claude_dc_deploy_verify_duration_seconds", ()),
                  defs["claude_dc_deploy_verify_duration_seconds"].buckets, outcome.verify_s)
    if outcome.rolled_back:
        p.inc(series_key("claude_dc_deploy_rollbacks_total", ()), 1.0)
    return p


def record(directory: Path, outcome: DeployOutcome) -> Path:
    """Merge ``outcome`` into ``<directory>/claude_dc_deploy.prom``; returns the file's path.

    Raises ``ImportError`` without prometheus_client and ``OSError`` when the directory cannot be
    written; the caller turns either into one warning.
    """
    import prometheus_client  # noqa: F401  (a clear ImportError before anything is written)

    directory.mkdir(parents=True, exist_ok=True)
    store = TextfileStore(directory, DEPLOY_FILE, DEPLOY)
    store.flush(pending_for(outcome))
    return store.prom


def record_target(ctx: Context, target: Path, *, succeeded: bool, verify_s: float | None = None,
                  rolled_back: bool = False) -> None:
    """Record what ``target`` holds now (its receipt's version, its toggles) after a command.

    ``ctx`` is the installer's ``Context`` (its ``metrics_dir``, clock and log). Never raises: a
    missing ``prometheus_client`` or an unwritable directory is one warning line.
    """
    import json

    from .receipt import read_receipt

    directory = ctx.metrics_dir
    if directory is None:
        return
    try:
        receipt = read_receipt(target)
    except Exception:  # noqa: BLE001 - a damaged receipt: nothing of ours is known to be deployed
        receipt = None
    try:
        raw = json.loads((target / "dc_impl" / "feature_toggles.json").read_text(encoding="utf-8"))
        toggles = {k: v for k, v in raw.items() if isinstance(v, bool)} if isinstance(raw, dict) else {}
    except (OSError, ValueError):
        toggles = {}
    outcome = DeployOutcome(getattr(receipt, "version", None), toggles, succeeded,
                            ctx.clock().timestamp(), verify_s, rolled_back)
    try:
        record(Path(directory), outcome)
    except ImportError:
        ctx.log("[yellow]warning[/]: no deploy metrics: prometheus_client is not installed "
                "(pip install 'claude-dc-streaming[metrics]')")
    except OSError as exc:
        ctx.log(f"[yellow]warning[/]: no deploy metrics: cannot write {directory}: {exc.strerror or exc}")
