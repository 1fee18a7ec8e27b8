"""The unified streaming ``sampling_loop``: one request at a time, streamed, tools started mid-stream.

``unified_streaming_loop.sampling_loop`` (the public name) is this module's ``sampling_loop``. It has
upstream's keyword signature, return value and callbacks (``output_callback`` once per block of each
assistant message appended, in order; ``tool_output_callback`` per tool in block order;
``api_response_callback(request, response, error)`` per request), plus:

- ``stream_callback``: receives the events of ``events.py`` as they happen;
- ``eager_tools`` (default on): a ``tool_use`` starts at its ``content_block_stop`` while the model
  keeps streaming; off, tools start once the message is complete;
- ``tools``: explicit tool instances instead of the tool group of ``tool_version``;
- ``retry_policy`` and ``tool_concurrency`` (``history.RetryPolicy``, ``runner.ToolRunner``);
- ``stream_idle_timeout_s``: the longest silence tolerated on an open stream (no byte, not even a
  ``ping``) before it counts as dropped. Default ``$DC_STREAM_IDLE_TIMEOUT_S`` or 180 s; the SDK's
  own default would wait 600 s on a stalled stream.

Requests go through ``client.beta.messages.create(stream=True)`` of the async clients, whose raw events
feed the pure accumulator (``accumulator.apply_event``); the stream events it returns go to the
``stream_callback`` as they are, and a ``BlockStopped`` of a ``tool_use`` is where the tool starts. A
malformed tool input becomes an ``is_error`` result instead of an exception that ends the stream.

What is retried, what is continued, what is kept in history on a cut or a drop, and what each
cancellation phase leaves behind are the rules of docs/streaming-rules.md; the methods below name
the section they follow. ``LoopParams`` carries one call's arguments; ``_Loop`` is the call.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..metrics_hook import LOOP_RECORDS_TOOLS, with_metrics
from . import host
from .accumulator import TurnState, apply_event, completed_prefix, final_blocks, message_completeness
from .events import BlockStopped, Done, RequestStarted, Retry, StreamEvent, Usage, safe_emitter
from .history import IncompleteStream, RetryPolicy, check_thinking_params, classify_failure, results_message
from .runner import ToolRunner, ToolSet, beta_flag_for, resolve_tool_set

log = logging.getLogger(__name__)

SYSTEM_PROMPT = host.SYSTEM_PROMPT
APIProvider = host.APIProvider
DEFAULT_STREAM_IDLE_TIMEOUT_S = 180.0
ENV_STREAM_IDLE_TIMEOUT = "DC_STREAM_IDLE_TIMEOUT_S"
CUT_STOP_REASONS = {"max_tokens": "truncated", "model_context_window_exceeded": "truncated", "refusal": "refused"}


ApiResponseCallback = Callable[[Any, Any, Exception | None], Any]


def _ignore(*_args: Any) -> None:
    return None


@dataclass(frozen=True)
class LoopParams:
    """The arguments of one ``sampling_loop`` call that the loop reads while it runs."""

    model: str
    provider: Any  # the host's APIProvider member (or its value)
    api_key: str
    messages: list[dict[str, Any]]  # the history, appended to in place
    system_prompt_suffix: str = ""
    output_callback: Callable[[Any], Any] = _ignore
    tool_output_callback: Callable[[Any, str], Any] = _ignore
    api_response_callback: ApiResponseCallback = _ignore
    only_n_most_recent_images: int | None = None
    max_tokens: int = 4096
    thinking_budget: int | None = None
    stream_idle_timeout_s: float = DEFAULT_STREAM_IDLE_TIMEOUT_S
    eager_tools: bool = True
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass
class _Attempt:
    kind: str  # "ok" | "error" (nothing started) | "failed_after_tools" | "continue" (after tools, budget left)
    state: TurnState
    error: Exception | None = None
    error_type: str = ""


class _Loop:
    """One ``sampling_loop`` call; ``state`` and ``pending`` say which cancellation phase it is in
    (docs/streaming-rules.md, "Cancellation")."""

    def __init__(self, params: LoopParams, runner: ToolRunner, betas: list[str],
                 emit: Callable[[StreamEvent], None] | None) -> None:
        self.p = params
        self.messages = params.messages
        self.runner = runner
        self.betas = betas
        self.emit = emit
        self.iteration = 0
        self.failures = 0  # consecutive failed streams (retries + continuations) since the last complete message
        self.state: TurnState | None = None            # message being streamed (phases a, b)
        self.pending: list[dict[str, Any]] | None = None  # appended message awaiting results (phase c)
        self.last_stop: str | None = None
        suffix = params.system_prompt_suffix
        self.system: dict[str, Any] = {"type": "text", "text": f"{SYSTEM_PROMPT}{' ' + suffix if suffix else ''}"}
        self.only_n_images = params.only_n_most_recent_images

    # ---------------------------------------------------------------------------------------- driver
    async def run(self) -> list[dict[str, Any]]:
        """One iteration per request until a message asks for no tool, is cut, or fails for good
        (docs/streaming-rules.md: "Tool results", "Cut messages", "Failed streams")."""
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

    def _done(self, outcome: str, error: Exception | None = None) -> list[dict[str, Any]]:
        if self.emit:
            self.emit(Done(stop_reason=self.last_stop, outcome=outcome, iterations=self.iteration + 1,
                           error=repr(error) if error is not None else None))
        return self.messages

    def _request_kwargs(self) -> dict[str, Any]:
        p, betas = self.p, list(self.betas)
        image_truncation_threshold = self.only_n_images or 0
        if host.is_first_party(p.provider):
            betas.append(host.PROMPT_CACHING_BETA_FLAG)
            host.inject_prompt_caching(self.messages)
            self.only_n_images = 0  # cached reads cost a tenth: never break the cache by truncating
            self.system["cache_control"] = {"type": "ephemeral"}
        if self.only_n_images:
            host.filter_to_n_most_recent_images(self.messages, self.only_n_images,
                                                min_removal_threshold=image_truncation_threshold)
        extra_body: dict[str, Any] = {}
        if p.thinking_budget:
            extra_body = {"thinking": {"type": "enabled", "budget_tokens": p.thinking_budget}}
        import httpx2

        # connect/write/pool keep the SDK's generous default; a read is one wait for the next bytes
        timeout = httpx2.Timeout(600.0, read=p.stream_idle_timeout_s)
        return {"max_tokens": p.max_tokens, "messages": self.messages, "model": p.model,
                "system": [self.system], "tools": self.runner.to_params(), "betas": betas, "extra_body": extra_body,
                "timeout": timeout}

    # ------------------------------------------------------------------------------------ streaming
    async def _stream_with_retries(self, kwargs: dict[str, Any]) -> _Attempt:
        """Stream one request; retry it while no tool started ("Failed streams": retry vs continuation)."""
        from anthropic import APIError, APIResponseValidationError, APIStatusError

        callback = self.p.api_response_callback
        attempt = 0
        while True:
            self.state = state = TurnState(iteration=self.iteration)
            if self.emit:
                self.emit(RequestStarted(iteration=self.iteration, attempt=attempt))
            client = host.make_async_client(self.p.provider, self.p.api_key)
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
            if retryable and self.failures < self.p.retry.max_retries:
                self.failures += 1
                if started:  # a tool ran: continue the turn from the kept blocks and their results
                    return _Attempt("continue", state, failure, error_type)
                delay = self.p.retry.delay(self.failures - 1)
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
        delay = self.p.retry.delay(self.failures - 1)
        log.warning("stream failed (%s) after a tool started; continuing the turn in %.2fs: %s",
                    attempt.error_type, delay, attempt.error)
        if self.emit:
            self.emit(Retry(iteration=self.iteration, attempt=self.failures, delay_s=delay, error=str(attempt.error),
                            error_type=attempt.error_type, discard_partial=False))
        await asyncio.sleep(delay)

    async def _consume(self, stream: Any, state: TurnState) -> Exception | None:
        """Read the stream into ``state``; return the failure (None when the message ended properly).

        Each stream event the accumulator produces goes to the callback as it is; a ``BlockStopped``
        of a ``tool_use`` starts its tool when eager (docs/streaming-rules.md, "Tools mid-stream").
        """
        import httpx2
        from anthropic import APIError

        failure: Exception | None = None
        emit, eager = self.emit, self.p.eager_tools
        self.runner.stream_open = True
        try:
            async for event in stream:
                _, produced = apply_event(state, event)
                for ev in produced:
                    if emit:
                        emit(ev)
                    if eager and type(ev) is BlockStopped and ev.block.get("type") == "tool_use" \
                            and self._dispatchable(ev.index):
                        self.runner.dispatch(ev.block, iteration=ev.iteration, index=ev.index,
                                             input_error=ev.input_error)
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
        """Phase c: append the message, run/await its tools in block order, append the results
        (docs/streaming-rules.md, "Tool results")."""
        blocks = final_blocks(state)
        cb_out, cb_tool = self.p.output_callback, self.p.tool_output_callback
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
        """An unfinished/truncated/refused message: keep its complete prefix and answer its tool_uses
        (docs/streaming-rules.md: "Cut messages", "Failed streams")."""
        tasks = [r.task for r in self.runner.runs.values() if r.iteration == self.iteration and r.task is not None]
        if stop_running:
            for task in tasks:
                task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        kept = completed_prefix(state, keep_partial_text=keep_partial_text)
        results = self._tool_results(kept, reason)
        self.state = None
        if kept:
            self.messages.append({"role": "assistant", "content": kept})
        if results:
            self.messages.append(results_message(results))
        for block in kept:
            self.p.output_callback(block)
            if block.get("type") == "tool_use":
                run = self.runner.runs[block["id"]]
                self.p.tool_output_callback(run.result, block["id"])

    def heal(self, reason: str) -> None:
        """Leave a valid history when an exception or cancellation escapes (synchronous: no await);
        the phases are those of docs/streaming-rules.md, "Cancellation"."""
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
    from ..toggles import current

    # thinking limits before anything is built or sent; interleaved thinking is on whenever tools and thinking are
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
    params = LoopParams(model=model, provider=provider, api_key=api_key, messages=messages,
                        system_prompt_suffix=system_prompt_suffix, output_callback=output_callback,
                        tool_output_callback=tool_output_callback, api_response_callback=api_response_callback,
                        only_n_most_recent_images=only_n_most_recent_images, max_tokens=max_tokens,
                        thinking_budget=thinking_budget, stream_idle_timeout_s=_idle_timeout(stream_idle_timeout_s),
                        eager_tools=eager_tools, retry=retry_policy or RetryPolicy())
    emit = with_metrics(safe_emitter(stream_callback))
    records = LOOP_RECORDS_TOOLS.set(True)  # the loop records tool calls from its events (tool tasks inherit it)
    runner = ToolRunner(toolset.tools, emit or (lambda e: None), concurrency=tool_concurrency)
    loop = _Loop(params, runner, betas, emit)
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


__all__ = ["SYSTEM_PROMPT", "APIProvider", "LoopParams", "RetryPolicy", "final_blocks", "results_message",
           "sampling_loop"]
