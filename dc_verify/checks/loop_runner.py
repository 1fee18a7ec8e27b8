"""Drive one agent turn of the deployed loop against a scripted server and record what happened."""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import loop_scenarios as sc
from .child_env import CheckFailed, ChildEnv, ScenarioRecord

TOOL_VERSION = "computer_use_20250429"
TURN_TIMEOUT_S = 12.0  # below the per-check budget, so a hung turn is reported as such
API_KEY = "verify-scripted-key"


@dataclass
class LoopRun:
    entry: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    output_blocks: list[dict[str, Any]] = field(default_factory=list)
    tool_outputs: list[tuple[str, Any]] = field(default_factory=list)
    api_errors: list[str] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    has_stream_events: bool = False
    error: str | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    t_message_stop: list[float | None] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(1 for e in self.events if getattr(e, "kind", None) == kind)


def resolve_entry(env: ChildEnv) -> tuple[str, Callable[..., Any], Any]:
    """(label, sampling_loop, provider) the way production reaches the loop."""
    env.display_used = True  # every turn constructs the agent's tools (the computer tool reads WIDTH/HEIGHT)
    if env.package is not None and env.installed("loop-hook"):
        loop = env.host("loop")
        assert loop is not None
        if getattr(loop, "DC_STREAMING_HOOK", None) is None:
            raise CheckFailed(f"{env.package}.loop has no DC_STREAMING_HOOK: the managed hook block did not install")
        return f"{env.package}.loop.sampling_loop (hook)", loop.sampling_loop, loop.APIProvider.ANTHROPIC
    usl = env.impl("unified_streaming_loop")
    provider_enum = getattr(usl, "APIProvider", None)
    provider = provider_enum.ANTHROPIC if provider_enum is not None else "anthropic"
    return f"{env.impl_module}.unified_streaming_loop.sampling_loop", usl.sampling_loop, provider


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    params = inspect.signature(fn).parameters
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _loop_kwargs(run: LoopRun, provider: Any, prompt: str, *, model: str, api_key: str,
                 thinking_budget: int | None, max_tokens: int) -> dict[str, Any]:
    def on_response(_request: Any, _response: Any, error: Exception | None) -> None:
        if error is not None:
            run.api_errors.append(f"{type(error).__name__}: {error}")

    return {
        "model": model,
        "provider": provider,
        "system_prompt_suffix": "",
        "messages": [{"role": "user", "content": [{"type": "text", "text": prompt}]}],
        "output_callback": run.output_blocks.append,
        "tool_output_callback": lambda result, tool_id: run.tool_outputs.append((tool_id, result)),
        "api_response_callback": on_response,
        "api_key": api_key,
        "only_n_most_recent_images": 3,
        "max_tokens": max_tokens,
        "tool_version": TOOL_VERSION,
        "thinking_budget": thinking_budget,
        "token_efficient_tools_beta": False,
    }


async def _call(run: LoopRun, fn: Callable[..., Any], kwargs: dict[str, Any], timeout: float) -> None:
    if _accepts(fn, "stream_callback"):
        kwargs["stream_callback"] = run.events.append
        run.has_stream_events = True
    try:
        run.messages = list(await asyncio.wait_for(fn(**kwargs), timeout))
    except TimeoutError:
        run.error = f"no return within {timeout:g} s"
    except Exception as exc:
        run.error = f"{type(exc).__name__}: {exc}"


async def run_loop(
    env: ChildEnv,
    scenario: dict[str, Any],
    prompt: str,
    *,
    thinking_budget: int | None = None,
    max_tokens: int = 4096,
) -> LoopRun:
    """One turn against a scripted server serving ``scenario``."""
    from dc_verify.fake_api.scripted_server import ScriptedServer

    label, fn, provider = resolve_entry(env)
    run = LoopRun(entry=label)
    kwargs = _loop_kwargs(run, provider, prompt, model=sc.MODEL, api_key=API_KEY,
                          thinking_budget=thinking_budget, max_tokens=max_tokens)
    with ScriptedServer(scenario, strict=True) as srv:
        saved = os.environ.get("ANTHROPIC_BASE_URL")
        os.environ["ANTHROPIC_BASE_URL"] = srv.base_url
        try:
            await _call(run, fn, kwargs, TURN_TIMEOUT_S)
        finally:
            if saved is None:
                os.environ.pop("ANTHROPIC_BASE_URL", None)
            else:
                os.environ["ANTHROPIC_BASE_URL"] = saved
        run.requests = [r.body for r in srv.requests if isinstance(r.body, dict)]
        run.outcomes = [r.outcome for r in srv.requests]
        run.violations = [f"{v.rule}: {v.message}" for v in srv.violations]
        run.t_message_stop = [srv.t_message_stop(i) for i in range(len(srv.requests))]
    env.scenario_runs.append(ScenarioRecord(str(scenario.get("name")), len(run.requests), run.violations))
    return run


async def run_live_turn(env: ChildEnv, prompt: str, *, model: str, api_key: str, timeout: float) -> LoopRun:
    """One turn against the real API (or whatever ``ANTHROPIC_BASE_URL`` already points at)."""
    label, fn, provider = resolve_entry(env)
    run = LoopRun(entry=label)
    kwargs = _loop_kwargs(run, provider, prompt, model=model, api_key=api_key, thinking_budget=None,
                          max_tokens=1024)
    await _call(run, fn, kwargs, timeout)
    return run
