"""Admin portal pages for ieee8021x configs (to be built)."""
