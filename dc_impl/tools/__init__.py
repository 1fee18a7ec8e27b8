"""Streaming drop-in tools, one folder each behind a public module.

* ``dc_bash`` (``StreamingBashTool``) with its parts in ``bash/``;
* ``dc_file`` (``StreamingEditTool*``) with its parts in ``edit/``;
* ``dc_screenshot`` (``StreamingComputerTool*``) with its parts in ``screenshot/``;
* ``procs``: the process helpers all of them (and the installer and verifier) share.

Each public module is its own deployment component (``bash-tool``, ``file-tool``, ``screenshot-tool``);
this file and ``procs`` ship with ``core``.
"""
