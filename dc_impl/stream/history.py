"""History and request rules for the unified loop (docs/streaming-rules.md).

- ``check_thinking_params`` checks the extended-thinking limits before anything is sent: a clear
  ``ThinkingConfigError`` instead of a 400 from the API ("Thinking").
- ``RetryPolicy`` / ``classify_failure``: which stream failures may be retried or, once a tool has
  started, continued from the kept blocks and their results, and with what backoff ("Failed streams").
- ``results_message`` builds the one user message that answers every ``tool_use`` of an assistant
  message, in block order, with nothing before the results ("Tool results").
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MIN_THINKING_BUDGET = 1024
RETRYABLE_ERROR_TYPES = frozenset({"overloaded_error", "api_error", "rate_limit_error", "timeout_error"})


class ThinkingConfigError(ValueError):
    """``thinking_budget`` / ``max_tokens`` break the API's extended-thinking rules."""


def check_thinking_params(thinking_budget: int | None, max_tokens: int, *, interleaved: bool) -> None:
    """Budget >= 1024, and below ``max_tokens`` unless interleaved thinking is on."""
    if not thinking_budget:
        return
    if isinstance(thinking_budget, bool) or not isinstance(thinking_budget, int):
        raise ThinkingConfigError(f"thinking_budget must be an integer, got {thinking_budget!r}")
    if thinking_budget < MIN_THINKING_BUDGET:
        raise ThinkingConfigError(
            f"thinking_budget must be at least {MIN_THINKING_BUDGET} tokens, got {thinking_budget}")
    if not interleaved and thinking_budget >= max_tokens:
        raise ThinkingConfigError(
            f"thinking_budget ({thinking_budget}) must be less than max_tokens ({max_tokens}) "
            "without interleaved thinking; raise max_tokens or lower the budget")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how fast a failed stream is tried again (docs/streaming-rules.md, "Failed streams").

    ``max_retries`` bounds the consecutive failed streams of one ``sampling_loop`` call (reset when a
    message completes): a retry of the same request (no tool started) and a continuation (a tool started:
    the kept blocks and their results are sent in a new request) each use one.
    """

    max_retries: int = 2
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    jitter: float = 0.25  # +- fraction of the delay

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        base = min(self.max_delay_s, self.base_delay_s * (2 ** attempt))
        return max(0.0, base * (1 + self.jitter * (2 * rand() - 1)))


class IncompleteStream(Exception):
    """The stream ended (cleanly) without a complete message."""


def error_type_of(exc: BaseException) -> str:
    """The API error type of an in-stream error (``overloaded_error``...), else the class name."""
    etype = getattr(exc, "type", None)
    if isinstance(etype, str) and etype:
        return etype
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and isinstance(err.get("type"), str):
            return err["type"]
    return type(exc).__name__


def classify_failure(exc: BaseException) -> tuple[bool, str]:
    """(retryable, error type) for an exception raised while reading a stream."""
    from anthropic import APIConnectionError, APIStatusError

    etype = error_type_of(exc)
    if isinstance(exc, APIStatusError):
        return etype in RETRYABLE_ERROR_TYPES or exc.status_code >= 500 or exc.status_code == 429, etype
    if isinstance(exc, (APIConnectionError, IncompleteStream, ValueError)):
        return True, etype
    try:
        import httpx2
    except ImportError:  # pragma: no cover - anthropic 2.x always brings httpx2
        return False, etype
    return isinstance(exc, httpx2.TransportError), etype


def results_message(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One user message with every tool_result, in block order and nothing before them."""
    return {"role": "user", "content": results}


__all__ = [
    "MIN_THINKING_BUDGET", "RETRYABLE_ERROR_TYPES", "IncompleteStream", "RetryPolicy", "ThinkingConfigError",
    "check_thinking_params", "classify_failure", "error_type_of", "results_message",
]
