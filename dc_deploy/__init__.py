"""dc_deploy: the transactional installer behind ``integrate_streaming.py``.

Library first: ``dc_deploy.api`` has one function per command (``integrate``, ``set_toggles``,
``restore``, ``status``, ``list_backups``, ``prune``, ``build_manifest``) returning a ``Result``;
``dc_deploy.cli`` is the thin click shell. Errors derive from ``dc_deploy.errors.DeployError`` and
map to exit codes in one place. See docs/operations.md.
"""
