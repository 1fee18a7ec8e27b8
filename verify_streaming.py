#!/usr/bin/env python3
"""Verify the streaming components: ``verify_streaming.py [--target DIR] [--json] [--check NAME] ...``.

Thin executable: puts the project root on ``sys.path`` and calls ``dc_verify.cli.main()``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dc_verify.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
