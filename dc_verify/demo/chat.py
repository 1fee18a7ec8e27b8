"""``python -m dc_verify.chat``: the terminal front end, on the scripted server by default.

``dc_impl.chat`` is runtime code and must not import ``dc_verify``, so it needs a ``--base-url`` or an
API key. This wrapper gives the issue's default: without ``ANTHROPIC_API_KEY`` (or with
``--scripted``) it starts the scripted Messages API server on 127.0.0.1 with a scenario (``demo``
unless ``--scenario`` says otherwise), points the chat at it and, when no prompt is given, asks the
scenario's prompt. With a key and without ``--scripted``, it runs the chat against the real API.
Every other argument goes to ``dc_impl.chat`` unchanged.

    python -m dc_verify.chat                         # one scripted turn, rendered live
    python -m dc_verify.chat --scenario slow_text --prompt "hello"
    ANTHROPIC_API_KEY=... python -m dc_verify.chat --prompt "list /tmp"
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

from ..fake_api.scripted_server import ScriptedServer, load_scenario
from .rollout import DEMO_PROMPT

DEMO_THINKING_BUDGET = "2048"  # the demo scenario streams thinking: the request must enable it


def _split(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    p = argparse.ArgumentParser(prog="python -m dc_verify.chat", add_help=False)
    p.add_argument("--scenario", default="demo")
    p.add_argument("--scripted", action="store_true", help="use the scripted server even with an API key")
    p.add_argument("-h", "--help", action="store_true")
    return p.parse_known_args(argv)


def main(argv: list[str] | None = None) -> int:
    from dc_impl import chat
    from dc_impl.frontends import terminal

    ours, rest = _split(list(sys.argv[1:] if argv is None else argv))
    if ours.help:
        print(__doc__)
        terminal._parser().print_help()
        return 0
    if os.environ.get("ANTHROPIC_API_KEY") and not ours.scripted and "--base-url" not in rest:
        return chat.main(rest or ["--interactive"])
    if not any(a in rest for a in ("--prompt", "--interactive")):
        rest += ["--prompt", DEMO_PROMPT]
    if ours.scenario == "demo" and "--thinking-budget" not in rest:
        rest += ["--thinking-budget", DEMO_THINKING_BUDGET]
    with tempfile.TemporaryDirectory(prefix="dc-chat-") as workdir:
        try:
            scenario = load_scenario(ours.scenario, {"WORKDIR": workdir})
        except (OSError, ValueError) as exc:
            print(f"python -m dc_verify.chat: error: {exc}", file=sys.stderr)
            return 2
        with ScriptedServer(scenario) as srv:
            code = chat.main(["--base-url", srv.base_url, "--api-key", "scripted", *rest])
            if srv.violations:
                for v in srv.violations:
                    print(f"scripted server: request violation {v.rule}: {v.message}", file=sys.stderr)
                return code or 1
    return code

