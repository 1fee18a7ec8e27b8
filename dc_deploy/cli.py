"""``integrate_streaming.py``: the click shell over dc_deploy.api (thin: parse, call, render, exit)."""

from __future__ import annotations

import math
import os
import shlex
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from . import api, launch, render, repair, transaction
from .build import SELECTION_FLAGS
from .context import Context
from .deploy_metrics import metrics_dir
from .errors import DeployError, ExitCode, UsageError, exit_code_for, filesystem_error
from .results import ListResult, Result
from .toggle_store import FLAG_TO_FEATURE, parse_bool
from .verifyrun import ENV_COMMAND as ENV_VERIFY_COMMAND

ENV_PROJECT_ROOT = "DC_PROJECT_ROOT"  # deploy from another checkout (default: the one holding dc_deploy)
MAX_TIMEOUT = 365 * 24 * 3600  # larger timeouts overflow the clocks of subprocess and filelock
NO_TARGET = "no target: pass --target DIR or set DC_PRODUCTION_DIR"


def _flips(values: dict[str, Any]) -> dict[str, bool]:
    out: dict[str, bool] = {}
    for flag, feature in FLAG_TO_FEATURE.items():
        raw = values.get(f"enable_{flag.replace('-', '_')}") or ()
        given = {parse_bool(str(v), f"--enable-{flag}") for v in raw}
        if len(given) > 1:  # the same flag twice with different values: never let the last one win silently
            raise UsageError(f"--enable-{flag} is given more than once with different values "
                             f"({', '.join(map(str, raw))})",
                             hint=f"pass --enable-{flag} once")
        if given:
            out[feature] = given.pop()
    return out


def _command(p: dict[str, Any], flips: dict[str, bool]) -> str:
    chosen = [name for name, on in (("integrate", p["integrate"]), ("status", p["status"]),
                                    ("list-backups", p["list_backups"]), ("restore", p["restore"] is not None),
                                    ("prune-backups", p["prune_backups"]), ("build-manifest", p["build_manifest"]),
                                    ("repair", p["repair"]))
              if on]
    if len(chosen) > 1:
        raise UsageError(f"choose one of --{', --'.join(chosen)}", hint="run them one after the other")
    cmd = chosen[0] if chosen else ("toggles" if flips else "")
    if any(p[k] for k in (*SELECTION_FLAGS, "all")) and cmd != "integrate":
        raise UsageError("component flags (--all, --bash-tool, ...) need --integrate", hint="add --integrate")
    if (p["keep"] is not None) != (cmd == "prune-backups"):
        raise UsageError("--prune-backups and --keep N go together", hint="e.g. --prune-backups --keep 5")
    if p.get("force") and cmd != "build-manifest":
        raise UsageError("--force only goes with --build-manifest", hint="drop --force")
    if not cmd:
        raise UsageError("nothing to do", hint="see --help: e.g. --integrate --all, --status, --list-backups")
    if flips and cmd not in ("integrate", "toggles"):
        raise UsageError(f"--enable-... cannot be combined with --{cmd}", hint="flip toggles in a separate command")
    if p["python"] is not None and cmd not in ("integrate", "toggles", "repair"):
        raise UsageError(f"--python cannot be combined with --{cmd}: it names the interpreter verification runs in",
                         hint="use it with --integrate (recorded in the receipt) or a toggle flip")
    return cmd


def _options(p: dict[str, Any], ctx: Context) -> api.Options:
    target = p["target"]
    if not target:
        raise UsageError(NO_TARGET, hint="e.g. --target /opt/claude-dc/computer_use_demo")
    for name, zero_ok, flag in (("verify_timeout", False, "--verify-timeout"), ("lock_timeout", True, "--lock-timeout")):
        value = float(p[name])
        if not math.isfinite(value) or value < 0 or (value == 0 and not zero_ok) or value > MAX_TIMEOUT:
            raise UsageError(f"{flag} must be a number of seconds {'>= 0' if zero_ok else '> 0'} and at most "
                             f"{MAX_TIMEOUT} (a year), not {value:g}", hint=f"e.g. {flag} 30")
    backup_dir = p["backup_dir"] or ctx.project_root / "backups"
    return api.Options(target=Path(str(target)), backup_dir=Path(str(backup_dir)).absolute(),
                       manifest=Path(str(p["manifest"])) if p["manifest"] else None, dry_run=bool(p["dry_run"]),
                       verify=not p["no_verify"], verify_timeout=float(p["verify_timeout"]),
                       lock_timeout=float(p["lock_timeout"]), reason=p["reason"],
                       on_drift=str(p["on_drift"]), git_commit=bool(p["git_commit"]),
                       python=str(p["python"]) if p["python"] is not None else None)


def _check_backup_dir(opts: api.Options) -> None:
    """Backups must live outside the tree they protect, and the tree outside the backups."""
    target, backups = opts.target.resolve(), opts.backup_dir.resolve()
    hint = "pass a --backup-dir (or DC_BACKUP_DIR) outside the target, e.g. next to it"
    if backups.exists() and not backups.is_dir():
        raise UsageError(f"backup directory {backups} is not a directory; nothing was changed",
                         hint="pass a directory with --backup-dir (or DC_BACKUP_DIR); it is created if missing")
    if backups == target or backups.is_relative_to(target):
        raise UsageError(f"backup directory {backups} is inside the target {target}: a restore would leave it "
                         "behind or overwrite it; nothing was changed", hint=hint)
    if target.is_relative_to(backups):
        raise UsageError(f"target {target} is inside the backup directory {backups}: pruning could delete it; "
                         "nothing was changed", hint=hint)


def _check_verify_command(ctx: Context) -> None:
    """Refuse a DC_VERIFY_COMMAND that could never run before anything is backed up or changed."""
    raw = ctx.environ.get(ENV_VERIFY_COMMAND)
    if raw is None or raw == "":
        return
    try:
        parts = shlex.split(raw)
    except ValueError as exc:
        raise UsageError(f"{ENV_VERIFY_COMMAND}={raw!r} cannot be split like a shell command line ({exc}); "
                         "nothing was changed", hint=f"fix its quoting, or unset {ENV_VERIFY_COMMAND}") from exc
    if not parts:
        raise UsageError(f"{ENV_VERIFY_COMMAND} is blank; nothing was changed",
                         hint=f"unset {ENV_VERIFY_COMMAND} to run the default suite, or pass --no-verify")
    if shutil.which(parts[0]) is None:
        raise UsageError(f"{ENV_VERIFY_COMMAND}: program {parts[0]!r} not found or not executable; nothing was "
                         "changed", hint=f"fix {ENV_VERIFY_COMMAND} (an executable and its arguments)")


KIND = {"list-backups": "list", "prune-backups": "prune", "build-manifest": "build"}  # as the results' kind


def _run(p: dict[str, Any], ctx: Context, seen: dict[str, str]) -> Result:
    flips = _flips(p)
    cmd = _command(p, flips)
    seen["command"] = KIND.get(cmd, cmd)  # named in the JSON error document if this command fails
    if cmd == "build-manifest":
        out = p["output"] or p["manifest"]
        return api.build_manifest(ctx, str(p["version_"] or ""), Path(str(out)) if out else None, bool(p["force"]))
    opts = _options(p, ctx)
    if cmd in ("integrate", "toggles", "restore"):
        _check_backup_dir(opts)
    if cmd in ("integrate", "toggles") and opts.verify:
        _check_verify_command(ctx)
    if cmd == "integrate":
        components: list[str] | None = None
        if not p["all"]:
            components = [cid for flag, cid in SELECTION_FLAGS.items() if p[flag]]
        return api.integrate(opts, ctx, components, flips)
    if cmd == "toggles":
        return api.set_toggles(opts, ctx, flips)
    if cmd == "restore":
        return api.restore(opts, ctx, str(p["restore"]))
    if cmd == "status":
        return api.status(opts, ctx)
    if cmd == "repair":
        return repair.repair(opts, ctx)
    if cmd == "list-backups":
        return api.list_backups(opts, ctx)
    return api.prune(opts, ctx, int(p["keep"]))


def _toggle_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for flag in reversed(list(FLAG_TO_FEATURE)):
        f = click.option(f"--enable-{flag}", metavar="BOOL", multiple=True,
                         help=f"set {FLAG_TO_FEATURE[flag]} (true/false, yes/no, on/off, 1/0)")(f)
    return f


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--integrate", is_flag=True, help="Deploy the selected components (backup, apply, verify).")
@click.option("--all", "all", is_flag=True, help="Select every component of the manifest.")
@click.option("--bash-tool", is_flag=True, help="Select the streaming bash tool.")
@click.option("--file-tool", is_flag=True, help="Select the streaming file tool.")
@click.option("--screenshot-tool", is_flag=True, help="Select the streaming screenshot (computer) tool (needs mss "
              "and Pillow in the agent's interpreter).")
@click.option("--metrics", is_flag=True, help="Select the Prometheus metrics of the loop and tools (needs "
              "prometheus_client in the agent's interpreter; written when DC_METRICS_DIR is set).")
@click.option("--unified-streaming", is_flag=True, help="Select the unified streaming loop.")
@click.option("--update-loop", is_flag=True, help="Select the loop hook (managed block in loop.py).")
@click.option("--streamlit-ui", is_flag=True, help="Select the Streamlit front end (needs streamlit on the host).")
@click.option("--update-ui", is_flag=True, help="Select the UI hook (managed block in streamlit.py): upstream's start "
              "command serves the streaming page while use_unified_streaming is on.")
@_toggle_options
@click.option("--status", is_flag=True, help="Show what is installed, toggles, drift, last backup.")
@click.option("--list-backups", is_flag=True, help="List the target's backups.")
@click.option("--restore", metavar="ID|latest", help="Restore a backup (latest = newest COMMITTED).")
@click.option("--repair", is_flag=True, help="Set aside an unreadable journal (kept) and check the tree; rewrite an "
              "invalid toggles file from the receipt and the toggle audit log.")
@click.option("--prune-backups", is_flag=True, help="Delete old backups (with --keep N).")
@click.option("--keep", type=int, metavar="N", help="Backups to keep; the newest COMMITTED one is always kept.")
@click.option("--build-manifest", is_flag=True, help="Write a manifest for the current sources (with --version).")
@click.option("--version", "version_", metavar="X.Y.Z", help="Version of the manifest to build.")
@click.option("--output", type=click.Path(path_type=Path), help="Where --build-manifest writes.")
@click.option("--force", is_flag=True, help="With --build-manifest: overwrite an existing manifest file.")
@click.option("--target", envvar="DC_PRODUCTION_DIR", metavar="DIR", help="The computer_use_demo directory.")
@click.option("--backup-dir", envvar="DC_BACKUP_DIR", metavar="DIR", help="Backup root [default: <project>/backups].")
@click.option("--manifest", metavar="PATH", help="Manifest [default: newest manifests/streaming-*.json].")
@click.option("--dry-run", is_flag=True, help="Print the plan; write nothing (no backup, no lock, no journal).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.option("--no-verify", is_flag=True, help="Skip the verification run.")
@click.option("--python", metavar="PATH", help="The interpreter that runs the agent (e.g. /opt/venv/bin/python); "
              "verification runs there. Recorded in the receipt by --integrate and reused when not given.")
@click.option("--metrics-dir", metavar="DIR", help="Write deploy metrics (claude_dc_deploy.prom) for node_exporter's "
              "textfile collector here [default: $DC_METRICS_DIR; unset: none].")
@click.option("--verify-timeout", type=float, default=api.DEFAULT_VERIFY_TIMEOUT, show_default=True, metavar="S")
@click.option("--lock-timeout", type=float, default=api.DEFAULT_LOCK_TIMEOUT, show_default=True, metavar="S")
@click.option("--on-drift", type=click.Choice(["fail", "overwrite", "keep"]), default="fail", show_default=True,
              help="What to do with managed files changed by hand.")
@click.option("--reason", metavar="TEXT", help="Recorded in the backup and the toggle audit log.")
@click.option("--git-commit", is_flag=True, help="Commit the deployed files in the target's git repository.")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def cli(**params: Any) -> None:
    """Deploy Claude DC's streaming components into a computer_use_demo tree, transactionally.

    \b
    Examples:
      integrate_streaming.py --integrate --all --target DIR
      integrate_streaming.py --enable-streaming-bash=true --target DIR
      integrate_streaming.py --status --target DIR
      integrate_streaming.py --restore latest --target DIR
    """
    as_json, debug = bool(params["as_json"]), bool(params["debug"])
    ctx = Context(progress=not params["no_progress"] and not as_json, debug=debug)
    if os.environ.get(ENV_PROJECT_ROOT):
        ctx.project_root = Path(os.environ[ENV_PROJECT_ROOT]).resolve()
    ctx.metrics_dir = metrics_dir(str(params["metrics_dir"]) if params["metrics_dir"] else None, ctx.environ)
    out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
    seen: dict[str, str] = {}
    try:
        try:
            result = _run(params, ctx, seen)
        except OSError as exc:  # a filesystem failure nobody translated: name the path and the fix, exit 1
            if isinstance(exc, DeployError):  # LockTimeoutError is a TimeoutError
                raise
            raise filesystem_error(exc, "filesystem error") from exc
    except DeployError as exc:
        if debug:
            ctx.err.print_exception()
        if as_json:
            click.echo(render.error_json(exc, seen.get("command")))
        render.render_error(exc, ctx.err)
        sys.exit(int(exc.exit_code))
    except KeyboardInterrupt:
        ctx.err.print("[bold red]error:[/] interrupted")
        sys.exit(int(ExitCode.SIGINT))
    except Exception as exc:
        if debug:
            raise
        if as_json:
            click.echo(render.error_json(DeployError(f"internal error: {exc!r}"), seen.get("command")))
        ctx.err.print(f"[bold red]error:[/] internal error: {escape(repr(exc))} "
                      "[bold](hint:[/] re-run with --debug and report the traceback[bold])[/]",
                      highlight=False, soft_wrap=True)
        sys.exit(exit_code_for(exc))
    if as_json:
        if isinstance(result, ListResult) and result.interrupted:
            ctx.err.print(f"warning: {result.interrupted['message']}", highlight=False, soft_wrap=True)
        click.echo(render.to_json(result))
    else:
        render.render(result, out)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: usage errors exit 2 (as one JSON document with --json)."""
    args = sys.argv[1:] if argv is None else argv
    launch.restore_signals()  # the start-up handlers of integrate_streaming.py end here
    with transaction.signals_deferred_after_commit() as after_commit:
        try:
            cli.main(args=args, prog_name="integrate_streaming.py", standalone_mode=False)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            if "--json" in args:
                click.echo(render.error_json(UsageError(exc.format_message()), None))
            exc.show()
            sys.exit(int(ExitCode.USAGE))
        except click.Abort:
            click.echo("error: interrupted; nothing was changed", err=True)
            sys.exit(int(ExitCode.SIGINT))
        finally:
            if after_commit["late"] is not None:  # the outcome above is the truth: the change committed
                click.echo(f"note: {signal.Signals(after_commit['late']).name} arrived after the change was "
                           "committed; it was finished and reported first", err=True)
