"""The unified streaming loop's runtime, one module per concern.

- ``events.py``: the one event vocabulary, from the accumulator to the front ends;
- ``accumulator.py``: pure fold of the API's stream events into a message (and the events above);
- ``loop.py``: ``sampling_loop`` (requests, retries, continuations, history, cancellation);
- ``history.py``: thinking limits, retry policy and failure classes, the tool-results message;
- ``runner.py``: tool sets and the runner that starts a tool the moment its block is complete;
- ``host.py``: the host tree's helpers (system prompt, caching, image truncation), or our own;
- ``session.py``: per-turn metrics, the UI coalescer, the JSONL event log.

Public entries: ``dc_impl/unified_streaming_loop.py`` and ``dc_impl/streaming_enhancements.py``.
The rules the loop follows: docs/streaming-rules.md.
"""
