"""Admin portal pages for cira configs (to be built)."""
