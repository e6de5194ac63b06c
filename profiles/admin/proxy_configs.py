"""Admin portal pages for proxy configs (to be built)."""
