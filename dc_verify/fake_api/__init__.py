"""The scripted Messages API: real HTTP on 127.0.0.1 and real SSE, answering from scenario files, validating
every request like the real API (docs/scenarios.md). The verifier's loop checks run against it, so it is
part of the wheel.

- ``scripted_server.py``: ``ScriptedServer`` (decides each answer, records requests, violations, events).
- ``_http.py``: the request handler (JSON answers, SSE streams, injected faults); it sees the server only
  through ``exchange.Decider``.
- ``exchange.py``: what the two exchange (``RecordedRequest``, ``Answer``) and the ``Decider`` protocol.
- ``scenario.py`` + ``scenarios/``: loading and checking scenario files; ``sse.py``: event plans and encoding;
  ``validation.py``: the request rules.
"""
