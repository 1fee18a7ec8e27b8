"""The streaming editor tool's parts; ``dc_impl.tools.dc_file`` is the public module.

* ``io``: reading and atomic writing; ``text``: text helpers (truncation, tabs, line numbers);
* ``view``: viewing a window of a large file without reading all of it.
"""
