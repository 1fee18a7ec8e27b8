"""The ``live`` check: one short real-API turn through the deployed loop (``--live`` + a key).

The model is asked to run ``echo <nonce>`` with the bash tool and report the output; the check passes
when the tool really ran (its result carries the nonce) and the turn ended with an assistant message.
The parent skips this check unless ``--live`` is given and ``ANTHROPIC_API_KEY`` is set. The model is
``$DC_VERIFY_LIVE_MODEL`` (default below); ``ANTHROPIC_BASE_URL`` is honoured as the SDK does.
"""

from __future__ import annotations

import os
import secrets

from .child_env import CheckFailed, CheckSkipped, ChildEnv
from .loop_runner import run_live_turn

DEFAULT_MODEL = "claude-sonnet-4-5"
LIVE_TIMEOUT_S = 50.0


def _result_texts(messages: list[dict]) -> list[str]:
    texts: list[str] = []
    for message in messages:
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for block in content:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                inner = block.get("content")
                if isinstance(inner, str):
                    texts.append(inner)
                elif isinstance(inner, list):
                    texts.append("".join(str(c.get("text", "")) for c in inner if isinstance(c, dict)))
    return texts


async def check_live(env: ChildEnv) -> str:
    api_key = os.environ.get("ANTHROPIC_API_KEY")
    if not api_key:
        raise CheckSkipped("ANTHROPIC_API_KEY is not set")
    nonce = f"dc-verify-{secrets.token_hex(6)}"
    model = os.environ.get("DC_VERIFY_LIVE_MODEL", DEFAULT_MODEL)
    prompt = (f"Use the bash tool exactly once to run this command: echo {nonce}\n"
              "Then reply with one short sentence containing its output. Do not use any other tool.")
    run = await run_live_turn(env, prompt, model=model, api_key=api_key, timeout=LIVE_TIMEOUT_S)
    if run.error is not None:
        raise CheckFailed(f"the live turn failed via {run.entry}: {run.error}"
                          + (f" (API: {run.api_errors[-1]})" if run.api_errors else ""))
    results = _result_texts(run.messages)
    if not results and run.api_errors:
        raise CheckFailed(f"the live API turn failed via {run.entry}: {run.api_errors[-1]}")
    if not any(nonce in t for t in results):
        raise CheckFailed(f"no bash tool result carried the nonce {nonce} ({len(run.messages)} messages; "
                          f"API errors: {run.api_errors[-1:] or 'none'})")
    if not run.messages or run.messages[-1].get("role") != "assistant":
        raise CheckFailed("the live turn did not end with an assistant message")
    return f"{model} ran `echo {nonce}` through {run.entry}; {len(run.messages)} messages"


CHECKS = {"live": check_live}
