"""Admin portal pages for wireless configs (to be built)."""
