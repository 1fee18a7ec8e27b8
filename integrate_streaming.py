#!/usr/bin/env python3
"""Transactional installer for Claude DC's streaming components (see docs/operations.md)."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dc_deploy import launch  # noqa: E402  (standard library only)

launch.early_signals()  # Ctrl-C while the heavy imports run: one line, exit 130, no traceback

if __name__ == "__main__":
    launch.ensure_dependencies(__file__)
    from dc_deploy.cli import main

    main()
