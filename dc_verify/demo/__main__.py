"""``python -m dc_verify.demo`` (``make demo``): the rollout story, see ``rollout.py``."""

from __future__ import annotations

import os

from .rollout import main

if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    main()
