"""``python -m dc_verify.demo_ui`` (``make demo-ui``): thin entry point; the tool is ``dc_verify/demo/ui.py``."""

from __future__ import annotations

from ._checkout import demo_module

if __name__ == "__main__":
    raise SystemExit(demo_module("ui", "python -m dc_verify.demo_ui").main())
