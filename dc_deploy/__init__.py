"""dc_deploy."""
