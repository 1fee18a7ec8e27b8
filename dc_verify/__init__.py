"""dc_verify."""
