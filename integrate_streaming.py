#!/usr/bin/env python3
"""Transactional installer for Claude DC's streaming components (see docs/operations.md)."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dc_deploy.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
