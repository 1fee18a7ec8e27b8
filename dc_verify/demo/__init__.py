"""The demo and sandbox tools: they need the project checkout (``examples/``, the scripts at its root), so
they are not part of the wheel (setup.cfg excludes this package).

- ``rollout.py`` + ``steps.py``: ``python -m dc_verify.demo`` (``make demo``), the rollout story.
- ``ui.py``: ``python -m dc_verify.demo_ui`` (``make demo-ui``), the Streamlit app on the scripted API.
- ``chat.py``: ``python -m dc_verify.chat``, the terminal chat on the scripted API.
- ``sandbox.py``: throwaway deployments built without the installer (the demo's breakages, the tests).
- ``xdisplay.py`` + ``xapp.py``: a private Xvfb and a Tk test application (screenshot tests, benchmark).
"""
