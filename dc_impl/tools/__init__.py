"""Streaming drop-in tools: bash (dc_bash) and the text editor (dc_file)."""
