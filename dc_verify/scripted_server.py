"""``python -m dc_verify.scripted_server`` and the documented import ``from dc_verify.scripted_server import
ScriptedServer, load_scenario``: thin; the scripted Messages API lives in ``dc_verify/fake_api/``."""

from __future__ import annotations

from .fake_api.scripted_server import ScriptedServer, load_scenario, main

__all__ = ["ScriptedServer", "load_scenario", "main"]

if __name__ == "__main__":
    raise SystemExit(main())
