"""Admin portal pages for domains (to be built)."""
