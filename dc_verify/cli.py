"""``verify_streaming.py``: run the verification suite and render its result.

Exit codes: 0 when nothing failed (skips allowed), 1 when a check failed, 2 for usage errors (bad
``--check`` name, missing target directory, unknown option, unwritable ``--junit-xml``) with a
one-line message on stderr (and, with ``--json``, ``{"passed": false, "checks": [], "error": MSG}`` on stdout).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import click
from rich.console import Console

from dc_impl.contract import ENV_VERIFY_PARENT_PID

from .checks import UnknownCheckError, select_checks
from .checks.target import TargetError
from .report import (
    checks_listing,
    display_safe,
    json_safe,
    render_listing,
    render_table,
    to_json,
    write_junit,
)
from .runner import VerifyOptions, verify

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
PROG = "verify_streaming.py"
DEFAULT_TIMEOUT_S = 60.0
LIVE_TIMEOUT_S = 120.0


class UsageProblem(Exception):
    """A usage error detected after click parsed the arguments."""


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--target", type=click.Path(path_type=Path, file_okay=False),
              help="Deployed computer_use_demo directory to verify (default: the project's own dc_impl).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout and nothing else.")
@click.option("--junit-xml", type=click.Path(path_type=Path, dir_okay=False), help="Also write JUnit XML here.")
@click.option("--live", is_flag=True, help="Also run one short real-API turn (needs ANTHROPIC_API_KEY).")
@click.option("--check", "checks", multiple=True, metavar="NAME",
              help="Run only this check or group (repeatable, or comma-separated).")
@click.option("--list-checks", is_flag=True, help="List the checks and exit.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.1), default=None,
              help="Kill the verification child process group after this many seconds "
                   f"[default: {DEFAULT_TIMEOUT_S:g}, {LIVE_TIMEOUT_S:g} with --live].")
@click.option("--python", "python", default=sys.executable, show_default="this interpreter",
              help="The interpreter that runs the agent (e.g. /opt/venv/bin/python): the checks import the "
                   "deployed loop there. It needs Python 3.11+ and what the agent needs (anthropic, and what "
                   "loop.py imports); dc_verify's own code is put on its path.")
def command(target: Path | None, as_json: bool, junit_xml: Path | None, live: bool, checks: tuple[str, ...],
            list_checks: bool, timeout_s: float | None, python: str) -> None:
    """Verify the streaming components (deployed in --target, or the project's own)."""
    try:
        specs = select_checks(checks)
        if list_checks:
            if as_json:
                click.echo(json.dumps(checks_listing(specs), indent=2))
            else:
                render_listing(Console(), specs)
            return
        if junit_xml is not None:
            _check_writable(junit_xml)
        if timeout_s is not None and not math.isfinite(timeout_s):  # FloatRange lets nan and inf through
            raise UsageProblem(f"--timeout must be a finite number of seconds, not {timeout_s}")
        python = _check_python(python)
        timeout = timeout_s if timeout_s is not None else (LIVE_TIMEOUT_S if live else DEFAULT_TIMEOUT_S)
        options = VerifyOptions(target=target, checks=checks, live=live, timeout_s=timeout, python=python)
        suite = verify(options)
    except (UnknownCheckError, TargetError) as exc:
        raise UsageProblem(str(exc)) from exc
    if junit_xml is not None:
        try:
            write_junit(junit_xml, suite)
        except OSError as exc:
            raise UsageProblem(f"cannot write the JUnit XML to {junit_xml}: {exc.strerror or exc}") from exc
    if as_json:
        click.echo(to_json(suite))
    else:
        render_table(Console(), suite)
    sys.exit(EXIT_OK if suite.passed else EXIT_FAILED)


def _check_writable(path: Path) -> None:
    """Refuse an unusable ``--junit-xml`` before spending the suite's time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageProblem(f"cannot write the JUnit XML to {path}: {exc.strerror or exc}") from exc
    if path.is_dir() or not os.access(path.parent, os.W_OK | os.X_OK):
        raise UsageProblem(f"cannot write the JUnit XML to {path}: not a writable file location")


PYTHON_PROBE = "import sys; print('DC-PY', int(sys.version_info >= (3, 11)), sys.version.split()[0])"


def _check_python(python: str) -> str:
    """Refuse an unusable ``--python`` (missing, not executable, not a Python 3.11+) in one line."""
    if python == sys.executable:
        return python
    path = shutil.which(python) if os.sep not in python else os.path.abspath(os.path.expanduser(python))
    fix = "pass the interpreter that runs the agent, e.g. --python /opt/venv/bin/python"
    if path is None or not os.path.exists(path):
        raise UsageProblem(f"--python {python}: no such file ({fix})")
    if os.path.isdir(path) or not os.access(path, os.X_OK):
        raise UsageProblem(f"--python {python}: not an executable file ({fix})")
    try:
        proc = subprocess.run([path, "-I", "-c", PYTHON_PROBE], capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)
        words = next((ln.split() for ln in proc.stdout.splitlines() if ln.startswith("DC-PY ")), [])
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageProblem(f"--python {python}: not a Python interpreter ({exc}) ({fix})") from exc
    if len(words) != 3:
        raise UsageProblem(f"--python {python}: not a Python interpreter ({fix})")
    if words[1] != "1":
        raise UsageProblem(f"--python {python} is Python {words[2]}; verification needs 3.11 or newer ({fix})")
    return path


def _usage_error(message: str, as_json: bool, code: int = EXIT_USAGE) -> int:
    if as_json:  # stdout stays one JSON document, even for a usage error
        click.echo(json.dumps(json_safe({"passed": False, "checks": [], "error": message}), indent=2))
    click.echo(f"{PROG}: error: {display_safe(message)}", err=True)
    return code


ENV_PARENT_PID = ENV_VERIFY_PARENT_PID


def _die_with_installer() -> None:
    """When the installer started us (it sets ``DC_VERIFY_PARENT_PID``), never outlive it.

    The installer runs us in our own session so it can kill our group on timeout; a SIGKILLed
    installer, or one interrupted while starting us, would otherwise leave us running. The kernel
    sends SIGTERM when the parent dies (Linux); our own checks child follows us the same way.
    """
    raw = os.environ.get(ENV_PARENT_PID, "")
    if not raw.isdigit():
        return
    from dc_impl.tools.procs import set_parent_death_signal

    if not set_parent_death_signal(signal.SIGTERM):
        return  # not Linux: the installer's group kill on timeout still applies
    if os.getppid() != int(raw):  # the installer died before the death signal was armed
        os._exit(128 + signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; returns (and exits with) the process exit code."""
    _die_with_installer()
    args = sys.argv[1:] if argv is None else list(argv)
    as_json = "--json" in args
    try:
        command.main(args=args, prog_name=PROG, standalone_mode=False)
    except click.exceptions.Exit as exc:  # --help
        code = exc.exit_code
    except click.UsageError as exc:
        code = _usage_error(exc.format_message(), as_json)
    except UsageProblem as exc:
        code = _usage_error(str(exc), as_json)
    except click.Abort:  # Ctrl-C: a failed run, and with --json still one JSON document
        code = _usage_error("aborted (interrupted before the suite finished)", as_json, EXIT_FAILED)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else EXIT_FAILED
    except Exception as exc:  # a bug of ours: one line (and the JSON document), never a pass, no traceback
        code = _usage_error(f"internal error: {type(exc).__name__}: {exc}", as_json, EXIT_FAILED)
    else:
        code = EXIT_OK
    sys.exit(code)
