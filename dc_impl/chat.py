"""``python -m dc_impl.chat``: the terminal chat on the unified streaming loop (``frontends/terminal.py``).

    python -m dc_impl.chat --base-url http://127.0.0.1:PORT --prompt "list the files"
    python -m computer_use_demo.dc_impl.chat ...          # the same, from a deployed tree
"""

from __future__ import annotations

import sys

from .frontends.terminal import LiveView, ToolView, main, metrics_table, run_turn

__all__ = ["LiveView", "ToolView", "main", "metrics_table", "run_turn"]

if __name__ == "__main__":
    sys.exit(main())
