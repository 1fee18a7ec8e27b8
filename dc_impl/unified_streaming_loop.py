"""Public entry of the unified streaming loop: ``sampling_loop``, a drop-in for upstream's.

The loop hook (``hook.py``) and operators import ``sampling_loop`` from here; the code lives in
``stream/`` (``stream/loop.py`` for the loop, ``stream/events.py`` for the events its
``stream_callback`` receives). The rules it follows (retries, continuations, what is kept in history
on a cut or a drop, cancellation) are in docs/streaming-rules.md.
"""

from __future__ import annotations

from .stream.history import RetryPolicy, ThinkingConfigError
from .stream.loop import SYSTEM_PROMPT, APIProvider, LoopParams, sampling_loop

__all__ = ["SYSTEM_PROMPT", "APIProvider", "LoopParams", "RetryPolicy", "ThinkingConfigError", "sampling_loop"]
