"""``python -m dc_verify.chat``: thin entry point; the tool is ``dc_verify/demo/chat.py``."""

from __future__ import annotations

from ._checkout import demo_module

if __name__ == "__main__":
    raise SystemExit(demo_module("chat", "python -m dc_verify.chat").main())
