"""Drop-in streaming ``sampling_loop``: streamed text and thinking, tools started mid-stream.

Same keyword signature, return value and callbacks as upstream ``computer_use_demo.loop.sampling_loop``
(``output_callback`` once per block of each assistant message appended, in order; ``tool_output_callback``
per tool in block order; ``api_response_callback(request, response, error)`` per request), plus:

- ``stream_callback``: receives the typed events of ``stream_events`` as they happen;
- ``eager_tools`` (default on): a ``tool_use`` starts at its ``content_block_stop`` while the model
  keeps streaming; off, tools start once the message is complete;
- ``tools``: explicit tool instances instead of the tool group of ``tool_version``;
- ``retry_policy`` and ``tool_concurrency`` (see ``_loop_history.RetryPolicy`` and ``_loop_tools``);
- ``stream_idle_timeout_s``: the longest silence tolerated on an open stream (no byte, not even a
  ``ping``) before it counts as dropped and is retried under R12 like any drop. Default
  ``$DC_STREAM_IDLE_TIMEOUT_S`` or 180 s; the SDK's own default would wait 600 s on a stalled stream.

Requests go through ``client.beta.messages.create(stream=True)`` of the async clients, whose raw events
feed the pure accumulator of ``stream_accumulator``: one accumulation (ours, replay-tested) instead of
two, and a malformed tool input becomes an ``is_error`` result instead of the SDK helper's
``ValueError`` that aborts the whole stream (reference §3.4).

History rules (reference §2):
- A complete message (R10) is appended whole; its tool results follow in one user message.
- ``max_tokens`` / ``model_context_window_exceeded``: the leading complete blocks (and text cut mid-way)
  are appended; an unfinished ``tool_use`` is dropped and never runs; a complete ``tool_use`` that was
  already started runs to its end and its real result is sent; one never started is answered
  "not run". Then the loop returns. ``refusal``: the same, but calls still running are stopped.
- A stream failure (``error`` event, dropped connection, malformed event, end without ``message_stop``)
  before any tool started is retried (R12): the same request again, after a ``Retry(discard_partial=True)``
  event. After a tool started the request is never resent (the tool would run twice): running tools
  finish, the leading complete blocks (signed thinking unchanged, every complete ``tool_use``) and one
  user message with their results are appended (R11 b: a tool that ran must be in the history the model
  sees), and the turn is *continued*: a new request with that history, after a
  ``Retry(discard_partial=False)`` event, so the model carries on from the results.
- Retries and continuations share one budget, ``RetryPolicy.max_retries`` consecutive failed streams
  (reset when a message completes): a server that fails every time gets ``max_retries + 1`` requests.
  A failure with no budget left, or one that is not retryable, is reported through
  ``api_response_callback`` and the loop returns (after a tool started: with the blocks and results
  above appended).
- Cancellation in every phase of R11: (a) nothing started: nothing appended; (b) mid-stream with tools
  dispatched: complete blocks + one result per kept ``tool_use`` ("interrupted while running" with
  the partial output, or "not run"); (c) message appended, tools running: one result per ``tool_use``;
  running tools are cancelled; then ``CancelledError`` propagates. Any other exception heals the same way.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import _loop_host as host
from ._loop_history import (
    IncompleteStream,
    RetryPolicy,
    check_thinking_params,
    classify_failure,
    results_message,
)
from ._loop_tools import ToolRunner, ToolSet, beta_flag_for, resolve_tool_set
from .metrics_hook import LOOP_RECORDS_TOOLS, with_metrics
from .stream_accumulator import (
    BlockClosed,
    InputAppended,
    TextAppended,
    ThinkingAppended,
    TurnState,
    apply_event,
    completed_prefix,
    final_blocks,
    message_completeness,
)
from .stream_events import (
    Done,
    RequestStarted,
    Retry,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    ToolInputProgress,
    Usage,
    safe_emitter,
)

log = logging.getLogger(__name__)

SYSTEM_PROMPT = host.SYSTEM_PROMPT
APIProvider = host.APIProvider
DEFAULT_STREAM_IDLE_TIMEOUT_S = 180.0
ENV_STREAM_IDLE_TIMEOUT = "DC_STREAM_IDLE_TIMEOUT_S"
CUT_STOP_REASONS = {"max_tokens": "truncated", "model_context_window_exceeded": "truncated", "refusal": "refused"}


@dataclass
class _Attempt:
    kind: str  # "ok" | "error" (nothing started) | "failed_after_tools" | "continue" (after tools, budget left)
    state: TurnState
    error: BaseException | None = None
    error_type: str = ""


class _Loop:
    """One ``sampling_loop`` call; the attributes say which R11 phase a cancellation would hit."""

    def __init__(self, params: dict[str, Any], runner: ToolRunner, betas: list[str],
                 emit: Callable[[StreamEvent], None] | None, eager: bool, retry: RetryPolicy) -> None:
        self.p = params
        self.messages: list[dict[str, Any]] = params["messages"]
        self.runner = runner
        self.betas = betas
        self.emit = emit
        self.eager = eager
        self.retry = retry
        self.iteration = 0
        self.failures = 0  # consecutive failed streams (retries + continuations) since the last complete message
        self.state: TurnState | None = None            # message being streamed (phase a/b)
        self.pending: list[dict[str, Any]] | None = None  # appended message awaiting results (phase c)
        self.last_stop: str | None = None
        suffix = params["system_prompt_suffix"]
        self.system: dict[str, Any] = {"type": "text", "text": f"{SYSTEM_PROMPT}{' ' + suffix if suffix else ''}"}
        self.only_n_images = params["only_n_most_recent_images"]

    # ---------------------------------------------------------------------------------------- driver
    async def run(self) -> list[dict[str, Any]]:
        while True:
            attempt = await self._stream_with_retries(self._request_kwargs())
            state = attempt.state
            self.last_stop = state.stop_reason
            if attempt.kind == "error":
                self.state = None
                return self._done("error", attempt.error)
            if attempt.kind in ("failed_after_tools", "continue"):
                await self._append_cut(state, f"the response stream failed ({type(attempt.error).__name__})",
                                       stop_running=False, keep_partial_text=False)
                if attempt.kind == "failed_after_tools":
                    return self._done("error", attempt.error)
                await self._pause_before_continuing(attempt)
                self.iteration += 1
                continue
            outcome = CUT_STOP_REASONS.get(state.stop_reason or "")
            if outcome is not None:
                await self._append_cut(state, f"the response ended with stop_reason {state.stop_reason}",
                                       stop_running=outcome == "refused", keep_partial_text=True)
                return self._done(outcome)
            if not await self._append_complete(state):
                return self._done("completed")
            self.iteration += 1

    def _done(self, outcome: str, error: BaseException | None = None) -> list[dict[str, Any]]:
        if self.emit:
            self.emit(Done(stop_reason=self.last_stop, outcome=outcome, iterations=self.iteration + 1,
                           error=repr(error) if error is not None else None))
        return self.messages

    def _request_kwargs(self) -> dict[str, Any]:
        p, betas = self.p, list(self.betas)
        image_truncation_threshold = self.only_n_images or 0
        if host.is_first_party(p["provider"]):
            betas.append(host.PROMPT_CACHING_BETA_FLAG)
            host.inject_prompt_caching(self.messages)
            self.only_n_images = 0  # cached reads cost a tenth: never break the cache by truncating
            self.system["cache_control"] = {"type": "ephemeral"}
        if self.only_n_images:
            host.filter_to_n_most_recent_images(self.messages, self.only_n_images,
                                                min_removal_threshold=image_truncation_threshold)
        extra_body: dict[str, Any] = {}
        if p["thinking_budget"]:
            extra_body = {"thinking": {"type": "enabled", "budget_tokens": p["thinking_budget"]}}
        import httpx2

        # connect/write/pool keep the SDK's generous default; a read is one wait for the next bytes
        timeout = httpx2.Timeout(600.0, read=p["stream_idle_timeout_s"])
        return {"max_tokens": p["max_tokens"], "messages": self.messages, "model": p["model"],
                "system": [self.system], "tools": self.runner.to_params(), "betas": betas, "extra_body": extra_body,
                "timeout": timeout}

    # ------------------------------------------------------------------------------------ streaming
    async def _stream_with_retries(self, kwargs: dict[str, Any]) -> _Attempt:
        from anthropic import APIError, APIResponseValidationError, APIStatusError

        callback = self.p["api_response_callback"]
        attempt = 0
        while True:
            self.state = state = TurnState()
            if self.emit:
                self.emit(RequestStarted(iteration=self.iteration, attempt=attempt))
            client = host.make_async_client(self.p["provider"], self.p["api_key"])
            try:
                try:
                    stream = await client.beta.messages.create(**kwargs, stream=True)
                except (APIStatusError, APIResponseValidationError) as exc:
                    callback(exc.request, exc.response, exc)
                    return _Attempt("error", state, exc)
                except APIError as exc:
                    callback(exc.request, exc.body, exc)
                    return _Attempt("error", state, exc)
                callback(stream.response.request, stream.response, None)
                failure = await self._consume(stream, state)
            finally:
                await client.close()
            if failure is None:
                self.failures = 0
                return _Attempt("ok", state)
            retryable, error_type = classify_failure(failure)
            started = self.runner.started_in(self.iteration)
            if retryable and self.failures < self.retry.max_retries:
                self.failures += 1
                if started:  # a tool ran: continue the turn from the kept blocks and their results
                    return _Attempt("continue", state, failure, error_type)
                delay = self.retry.delay(self.failures - 1)
                log.warning("stream failed (%s), retrying in %.2fs: %s", error_type, delay, failure)
                attempt += 1
                if self.emit:
                    self.emit(Retry(iteration=self.iteration, attempt=self.failures, delay_s=delay,
                                    error=str(failure), error_type=error_type))
                await asyncio.sleep(delay)
                continue
            callback(stream.response.request, stream.response, failure)
            return _Attempt("failed_after_tools" if started else "error", state, failure, error_type)

    async def _pause_before_continuing(self, attempt: _Attempt) -> None:
        """After a failure once tools ran: the kept blocks and results are appended; back off, then go on."""
        delay = self.retry.delay(self.failures - 1)
        log.warning("stream failed (%s) after a tool started; continuing the turn in %.2fs: %s",
                    attempt.error_type, delay, attempt.error)
        if self.emit:
            self.emit(Retry(iteration=self.iteration, attempt=self.failures, delay_s=delay, error=str(attempt.error),
                            error_type=attempt.error_type, discard_partial=False))
        await asyncio.sleep(delay)

    async def _consume(self, stream: Any, state: TurnState) -> BaseException | None:
        """Read the stream into ``state``; return the failure (None when the message ended properly)."""
        import httpx2
        from anthropic import APIError

        failure: BaseException | None = None
        self.runner.stream_open = True
        try:
            async for event in stream:
                _, actions = apply_event(state, event)
                if actions:
                    self._on_actions(actions)
        except (APIError, httpx2.HTTPError, ValueError) as exc:
            failure = exc
        finally:
            self.runner.stream_open = False
            await stream.close()
        if self.emit:
            u = state.usage
            self.emit(Usage(iteration=self.iteration, stop_reason=state.stop_reason,
                            input_tokens=u.get("input_tokens") or 0, output_tokens=u.get("output_tokens") or 0,
                            cache_creation_input_tokens=u.get("cache_creation_input_tokens") or 0,
                            cache_read_input_tokens=u.get("cache_read_input_tokens") or 0,
                            thinking_tokens=state.thinking_tokens,
                            message_complete=failure is None and message_completeness(state)[0]))
        if failure is None:
            complete, why = message_completeness(state)
            if not complete and state.stop_reason not in CUT_STOP_REASONS:  # a cut message is handled later
                failure = IncompleteStream(why or "incomplete message")
        return failure

    def _on_actions(self, actions: list[Any]) -> None:
        emit, it = self.emit, self.iteration
        for a in actions:
            kind = type(a)
            if kind is TextAppended:
                if emit:
                    emit(TextDelta(iteration=it, index=a.index, text=a.text))
            elif kind is ThinkingAppended:
                if emit:
                    emit(ThinkingDelta(iteration=it, index=a.index, thinking=a.thinking))
            elif kind is InputAppended:
                if emit:
                    emit(ToolInputProgress(iteration=it, index=a.index, tool_use_id=a.tool_use_id, name=a.name,
                                           partial_json=a.partial_json, chars=a.chars))
            elif kind is BlockClosed and self.eager and a.block.get("type") == "tool_use" and self._dispatchable(a.index):
                self.runner.dispatch(a.block, iteration=it, index=a.index, input_error=a.input_error)

    def _dispatchable(self, index: int) -> bool:
        """Every block before this tool_use is complete and signed, so it will be kept in history."""
        assert self.state is not None
        for bs in self.state.blocks:
            if bs.index == index:
                return True
            if not bs.complete or (bs.type == "thinking" and not bs.block.get("signature")):
                return False
        return False

    # ------------------------------------------------------------------------------------- history
    def _tool_results(self, blocks: list[dict[str, Any]], reason: str) -> list[dict[str, Any]]:
        """One result per tool_use of ``blocks``: real where finished, else interrupted / not run."""
        out = []
        for i, b in enumerate(blocks):
            if b.get("type") != "tool_use":
                continue
            run = self.runner.runs.get(b["id"])
            if run is not None and run.result is not None:
                result = run.result
            elif run is not None:
                result = self.runner.interrupt_result(run, reason)
            else:
                result = self.runner.not_run(b, iteration=self.iteration, index=i, reason=reason)
            out.append(host.make_api_tool_result(result, b["id"]))
        return out

    async def _append_complete(self, state: TurnState) -> bool:
        """Phase c: append the message, run/await its tools in block order, append the results."""
        blocks = final_blocks(state)
        cb_out, cb_tool = self.p["output_callback"], self.p["tool_output_callback"]
        if blocks:
            self.messages.append({"role": "assistant", "content": blocks})
        self.pending, self.state = blocks, None
        for index, block in enumerate(blocks):
            if block.get("type") == "tool_use":
                self.runner.dispatch(block, iteration=self.iteration, index=index)
        results = []
        for block in blocks:
            cb_out(block)
            if block.get("type") == "tool_use":
                run = self.runner.runs[block["id"]]
                assert run.task is not None
                result = await run.task
                results.append(host.make_api_tool_result(result, block["id"]))
                cb_tool(result, block["id"])
        if results:
            self.messages.append(results_message(results))
        self.pending = None
        return bool(results) or state.stop_reason == "pause_turn"

    async def _append_cut(self, state: TurnState, reason: str, *, stop_running: bool, keep_partial_text: bool) -> None:
        """An unfinished/truncated/refused message: keep its complete prefix and answer its tool_uses."""
        runs = [r for r in self.runner.runs.values() if r.iteration == self.iteration and r.task is not None]
        if stop_running:
            for r in runs:
                r.task.cancel()  # type: ignore[union-attr]
        if runs:
            await asyncio.wait([r.task for r in runs])  # type: ignore[misc]
        kept = completed_prefix(state, keep_partial_text=keep_partial_text)
        results = self._tool_results(kept, reason)
        self.state = None
        if kept:
            self.messages.append({"role": "assistant", "content": kept})
        if results:
            self.messages.append(results_message(results))
        for block in kept:
            self.p["output_callback"](block)
            if block.get("type") == "tool_use":
                run = self.runner.runs[block["id"]]
                self.p["tool_output_callback"](run.result, block["id"])

    def heal(self, reason: str) -> None:
        """Leave a valid history when an exception or cancellation escapes (synchronous: no await)."""
        if self.pending is not None:  # phase c: the message is in history, answer every tool_use
            results = self._tool_results(self.pending, reason)
            if results:
                self.messages.append(results_message(results))
        elif self.state is not None and self.runner.started_in(self.iteration):  # phase b
            kept = completed_prefix(self.state)
            results = self._tool_results(kept, reason)
            if kept:
                self.messages.append({"role": "assistant", "content": kept})
            if results:
                self.messages.append(results_message(results))
        # phase a (nothing started) and d (results appended): nothing to add
        self.pending = self.state = None
        self.runner.cancel_unfinished()


def _idle_timeout(value: float | None) -> float:
    if value is None:
        raw = os.environ.get(ENV_STREAM_IDLE_TIMEOUT, "").strip()
        try:
            value = float(raw) if raw else DEFAULT_STREAM_IDLE_TIMEOUT_S
        except ValueError:
            log.warning("ignoring %s=%r: not a number of seconds", ENV_STREAM_IDLE_TIMEOUT, raw)
            value = DEFAULT_STREAM_IDLE_TIMEOUT_S
    if value <= 0:
        raise ValueError(f"stream_idle_timeout_s must be > 0, got {value}")
    return value


async def sampling_loop(
    *,
    model: str,
    provider: Any,
    system_prompt_suffix: str,
    messages: list[Any],
    output_callback: Callable[[Any], None],
    tool_output_callback: Callable[[Any, str], None],
    api_response_callback: Callable[[Any, Any, Exception | None], None],
    api_key: str,
    only_n_most_recent_images: int | None = None,
    max_tokens: int = 4096,
    tool_version: str,
    thinking_budget: int | None = None,
    token_efficient_tools_beta: bool = False,
    stream_callback: Callable[[StreamEvent], Any] | None = None,
    eager_tools: bool = True,
    tools: list[Any] | None = None,
    retry_policy: RetryPolicy | None = None,
    tool_concurrency: str = "serial",
    stream_idle_timeout_s: float | None = None,
) -> list[Any]:
    """Agentic sampling loop with streaming; a drop-in for upstream's ``sampling_loop``."""
    from .toggles import current

    # R9 before anything is built or sent; interleaved thinking is on whenever tools and thinking are
    interleaved = bool(thinking_budget) and (tools is None or bool(tools))
    check_thinking_params(thinking_budget, max_tokens, interleaved=interleaved)
    if tools is not None:
        toolset = ToolSet(list(tools), beta_flag_for(tool_version), owned=False)
    else:
        toolset = resolve_tool_set(tool_version, current())
    betas = [toolset.beta_flag] if toolset.beta_flag else []
    if token_efficient_tools_beta:
        betas.append(host.TOKEN_EFFICIENT_TOOLS_BETA_FLAG)
    if interleaved:
        betas.append(host.INTERLEAVED_THINKING_BETA_FLAG)
    emit = with_metrics(safe_emitter(stream_callback))
    records = LOOP_RECORDS_TOOLS.set(True)  # the loop records tool calls from its events (tool tasks inherit it)
    runner = ToolRunner(toolset.tools, emit or (lambda e: None), concurrency=tool_concurrency)
    params = {"model": model, "provider": provider, "system_prompt_suffix": system_prompt_suffix,
              "messages": messages, "output_callback": output_callback, "tool_output_callback": tool_output_callback,
              "api_response_callback": api_response_callback, "api_key": api_key,
              "only_n_most_recent_images": only_n_most_recent_images, "max_tokens": max_tokens,
              "thinking_budget": thinking_budget,
              "stream_idle_timeout_s": _idle_timeout(stream_idle_timeout_s)}
    loop = _Loop(params, runner, betas, emit, eager_tools, retry_policy or RetryPolicy())
    try:
        return await loop.run()
    except asyncio.CancelledError:
        loop.heal("the turn was cancelled")
        if emit:
            emit(Done(stop_reason=loop.last_stop, outcome="cancelled", iterations=loop.iteration + 1))
        raise
    except BaseException as exc:
        loop.heal(f"the loop failed ({type(exc).__name__})")
        raise
    finally:
        LOOP_RECORDS_TOOLS.reset(records)
        await runner.aclose(close_tools=toolset.owned)


__all__ = ["SYSTEM_PROMPT", "APIProvider", "RetryPolicy", "sampling_loop"]
