"""Runtime streaming components for Claude DC.

Deployed into a production ``computer_use_demo/`` tree as ``computer_use_demo/dc_impl``.
Imports nothing of this project's other packages: in production only ``anthropic`` is there.
"""

__version__ = "1.0.0"
