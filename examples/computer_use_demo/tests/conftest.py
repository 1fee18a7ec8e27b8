"""Make the stand-in tree importable as ``computer_use_demo`` (it lives under ``examples/``)."""

from __future__ import annotations

import sys
from pathlib import Path

_EXAMPLES = str(Path(__file__).resolve().parents[2])
if _EXAMPLES not in sys.path:
    sys.path.insert(0, _EXAMPLES)
