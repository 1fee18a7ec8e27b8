"""Import a tool of ``dc_verify/demo/``, which only a project checkout has (the wheel leaves it out)."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType


def demo_module(name: str, command: str) -> ModuleType:
    """``dc_verify.demo.<name>``, or exit 2 with one line saying where ``command`` runs."""
    try:
        return importlib.import_module(f"dc_verify.demo.{name}")
    except ModuleNotFoundError as exc:
        if exc.name not in ("dc_verify.demo", f"dc_verify.demo.{name}"):
            raise
        print(f"{command}: error: this installation has no dc_verify.demo (the wheel leaves the demo tools out: "
              "they need the project checkout's examples/); run it from a clone of the project "
              "(hint: git clone ... && make demo)", file=sys.stderr)
        raise SystemExit(2) from None
