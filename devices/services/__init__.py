"""Writes about devices, one module per concern: `device_secrets` (Vault), `runs` (the registry and
run history), `admin_actions`."""
