"""The streaming bash tool's parts; ``dc_impl.tools.dc_bash`` is the public module.

* ``session``: one shell session per tool, calls framed by markers; ``shell``: the process and its pipes;
* ``output``: bounded capture and spill files; ``emit``: ordered delivery to ``on_output``;
* ``policy``: the deny rules; ``guard``: the watchdog that kills sessions when the host dies
  (process helpers in ``dc_impl.tools.procs``).
"""
