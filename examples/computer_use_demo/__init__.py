"""Stand-in for Anthropic's upstream ``computer_use_demo`` package (see examples/README.md)."""
