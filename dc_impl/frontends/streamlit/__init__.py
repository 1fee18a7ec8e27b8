"""The Streamlit page of the unified loop (``streamlit run <target>/dc_impl/streamlit_app.py``).

``app.py`` (the page), ``live.py`` (drawing the turn in progress), ``render.py`` (history and tool
output), ``runner.py`` (the turn's background thread), ``settings.py`` (session state and sidebar),
``turn.py`` (one turn: loop arguments, callbacks, metrics). The turn model is ``frontends/reducer.py``,
shared with the terminal chat. Importing this package needs no ``streamlit``; its modules do.
"""
