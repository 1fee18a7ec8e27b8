"""``make demo-ui``: the streaming Streamlit app against the scripted Messages API on 127.0.0.1.

Stages a deployed-looking tree in a fresh directory (the stand-in ``computer_use_demo`` with
``dc_impl`` copied in as its subpackage, as the installer lays it out), starts the scripted server
with a demo scenario, then ``streamlit run <tree>/computer_use_demo/dc_impl/streamlit_app.py``
(headless, 127.0.0.1 only) with ``ANTHROPIC_BASE_URL`` pointing at the server and a dummy key, and
prints the URL. Ctrl-C stops both. ``--before`` runs the stand-in upstream ``streamlit.py`` instead
(block-level rendering), ``--no-streaming`` our app with ``use_unified_streaming`` off.

The helpers (``stage_tree``, ``start_streamlit``, ``wait_healthy``, ``free_port``) are shared with
the browser tests.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..fake_api.scripted_server import ScriptedServer

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HOST_PACKAGE = "computer_use_demo"
STREAMING_TOGGLES = ("use_unified_streaming", "use_streaming_thinking", "use_streaming_bash", "use_streaming_file")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "tests")

_STORY = (
    "Streaming means you see this sentence grow word by word while the model is still writing it, "
    "instead of waiting for the whole reply. Tools start as soon as their call is complete."
)
DEMO_SCENARIO: dict[str, Any] = {
    "name": "ui_demo",
    "description": "thinking, streamed text, a bash tool with slow output, then a summary",
    "turns": [
        {
            "event_delay_s": 0.05,
            "blocks": [
                {"type": "thinking", "thinking": "The user wants to see streaming. I will explain it, then run a "
                 "command whose output arrives line by line.", "signature": "sig_demo_1", "chunk_size": 8},
                {"type": "text", "text": _STORY, "chunk_size": 6},
                {"type": "tool_use", "id": "toolu_demo_bash", "name": "bash",
                 "input": {"command": "for i in 1 2 3 4 5; do echo line$i; sleep 0.5; done"}},
            ],
        },
        {
            "event_delay_s": 0.04,
            "blocks": [{"type": "text", "text": "The command printed five lines, one every half second.",
                        "chunk_size": 5}],
        },
    ],
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stage_tree(dest: Path, *, toggles: Mapping[str, bool] | None = None, project_root: Path = PROJECT_ROOT) -> Path:
    """Lay out ``dest/computer_use_demo`` with ``dc_impl`` inside; return the deployed app path."""
    host = dest / HOST_PACKAGE
    shutil.copytree(project_root / "examples" / HOST_PACKAGE, host, ignore=_IGNORE, dirs_exist_ok=True)
    shutil.copytree(project_root / "dc_impl", host / "dc_impl", ignore=_IGNORE, dirs_exist_ok=True)
    if toggles is not None:
        path = host / "dc_impl" / "feature_toggles.json"
        doc = json.loads(path.read_text(encoding="utf-8"))
        doc.update(toggles)
        doc["revision"] = int(doc.get("revision", 0)) + 1
        path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return host / "dc_impl" / "streamlit_app.py"


def streamlit_env(base_url: str, home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "STREAMLIT_", "DC_"))}
    env.update(
        ANTHROPIC_BASE_URL=base_url,
        ANTHROPIC_API_KEY="sk-ant-scripted-demo",
        HOME=str(home),  # upstream keeps the API key in ~/.anthropic: never read the operator's
        HIDE_WARNING="1",
        STREAMLIT_BROWSER_GATHER_USAGE_STATS="false",
        PYTHONUNBUFFERED="1",
    )
    for name, value in (("WIDTH", "1024"), ("HEIGHT", "768")):  # as the agent's container sets them
        env.setdefault(name, value)
    env.update(extra or {})
    return env


def start_streamlit(app: Path, *, port: int, env: Mapping[str, str], cwd: Path, log: Path | None = None) -> subprocess.Popen[bytes]:
    """``streamlit run app`` headless on 127.0.0.1:port, in its own process group."""
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.headless", "true", "--server.address", "127.0.0.1", "--server.port", str(port),
        "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false",
        "--global.developmentMode", "false",
    ]
    out = open(log, "wb") if log is not None else None  # noqa: SIM115 - closed once the child has it
    try:
        return subprocess.Popen(cmd, cwd=cwd, env=dict(env), stdout=out if out is not None else subprocess.DEVNULL,
                                stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        if out is not None:
            out.close()


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Wait for Streamlit's health endpoint; raise if the process died or the time ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode} before serving {url}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise TimeoutError(f"streamlit did not answer on {url} within {timeout:.0f} s")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Terminate the child's process group (streamlit and anything its tools started)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dc_verify.demo_ui", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--scenario", help="scripted scenario name or JSON path (default: a built-in UI demo)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--before", action="store_true", help="run the stand-in upstream streamlit.py (no streaming)")
    mode.add_argument("--no-streaming", action="store_true", help="our app with use_unified_streaming off")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` and `timeout` stop the demo as Ctrl-C does
    signal.signal(signal.SIGINT, _interrupt)  # also when started from a script that ignores SIGINT

    work = Path(tempfile.mkdtemp(prefix="dc-demo-ui-"))
    streaming = not (args.before or args.no_streaming)
    app = stage_tree(work, toggles=dict.fromkeys(STREAMING_TOGGLES, streaming))
    if args.before:
        app = work / HOST_PACKAGE / "streamlit.py"
    home = work / "home"
    home.mkdir()
    try:
        with ScriptedServer(args.scenario or DEMO_SCENARIO) as srv:
            env = streamlit_env(srv.base_url, home, {"PYTHONPATH": str(work)})
            url = f"http://127.0.0.1:{args.port}"
            proc = start_streamlit(app, port=args.port, env=env, cwd=work, log=work / "streamlit.log")
            try:
                wait_healthy(url, proc)
                print(url, flush=True)
                print(
                    f"{'upstream stand-in' if args.before else 'Claude DC app'} on {url} (scripted API "
                    f"{srv.base_url}, scenario {srv.scenario.name!r}); type any message. Ctrl-C to stop.",
                    file=sys.stderr, flush=True,
                )
                while proc.poll() is None:
                    time.sleep(0.5)
                print(f"streamlit exited ({proc.returncode}); log: {work / 'streamlit.log'}", file=sys.stderr)
                return 1
            except KeyboardInterrupt:
                return 0
            finally:
                stop_process(proc)
                for v in srv.violations:
                    print(f"violation [{v.rule}]: {v.message}", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)

