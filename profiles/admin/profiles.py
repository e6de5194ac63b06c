"""Admin portal pages for profiles (to be built)."""
