"""Test settings: debug off paths exercised with known test keys, PostgreSQL by default.

The Vault address and token are filled in by the test session's own OpenBao dev server
(tests/conftest.py); nothing here reaches the network on import.
"""

import os

os.environ.setdefault("RPS_DEBUG", "false")
os.environ.setdefault("RPS_SECRET_KEY", "test-secret-key-" + "x" * 60)
os.environ.setdefault("RPS_JWT_SECRET", "test-jwt-secret-that-is-long-enough-0123456789")
os.environ.setdefault("RPS_VAULT_TOKEN", "set-by-tests")
os.environ.setdefault("RPS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rps")
os.environ.setdefault("RPS_ALLOWED_HOSTS", "testserver")
os.environ.setdefault("RPS_SECURE_SSL_REDIRECT", "false")

from rps_site.settings import *  # noqa: E402,F403

# Production refuses "*"; tests send requests under several host names.
ALLOWED_HOSTS = ["*"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AXES_ENABLED = True
