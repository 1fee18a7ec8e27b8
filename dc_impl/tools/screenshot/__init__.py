"""The streaming computer (screenshot) tool's parts: capture backends, settling, actions.

``dc_impl.tools.dc_screenshot`` is the public module; this package holds what it is made of:

* ``capture``: in-process capture (``mss`` over XShm, Pillow for scaling and PNG encoding) and the
  fallback to upstream's programs (``scrot -p`` + ImageMagick ``convert``) when the library is missing;
* ``settle``: the wait after an action -- until the screen changed and then stayed quiet, capped at
  upstream's 2.0 s -- as a loop over injected ``grab``/``clock``/``sleep`` so it is testable without X;
* ``actions``: the action vocabulary, validation and xdotool commands, identical to upstream's.
"""
