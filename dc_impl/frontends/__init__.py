"""The front ends of the unified loop, all drawing one turn model (``reducer.py``).

- ``terminal.py``: the terminal chat (``python -m dc_impl.chat``), rich;
- ``streamlit/``: the Streamlit page (``streamlit run <target>/dc_impl/streamlit_app.py``);
- ``reducer.py``: the stream events folded into a ``LiveTurn`` both draw;
- ``text_safety.py``: model and tool text made safe and bounded for display.
"""
