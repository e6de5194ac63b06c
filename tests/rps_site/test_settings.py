"""Production settings refuse insecure values; `check --deploy` is clean with good ones."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rps_site.openbao_dev import DevVault

ROOT = Path(__file__).resolve().parents[2]
GOOD = {
    "RPS_DEBUG": "false",
    "RPS_SECRET_KEY": "k" * 20 + "-production-secret-key-with-enough-entropy-0123456789",
    "RPS_JWT_SECRET": "j" * 16 + "-a-jwt-secret-of-at-least-32-bytes",
    "RPS_VAULT_ADDR": "https://vault.example.com:8200",
    "RPS_VAULT_TOKEN": "s.scoped-token",
    "RPS_ALLOWED_HOSTS": "rps.example.com",
    "DJANGO_SETTINGS_MODULE": "rps_site.settings",
}


def run(code_or_args: list[str], **overrides: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("RPS_")}
    environment.update(GOOD)
    environment.update(overrides)
    environment = {key: value for key, value in environment.items() if value != "<unset>"}
    return subprocess.run(
        [sys.executable, *code_or_args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"RPS_SECRET_KEY": "<unset>"},
        {"RPS_SECRET_KEY": "short"},
        {"RPS_SECRET_KEY": "django-insecure-" + "x" * 50},
        {"RPS_JWT_SECRET": "<unset>"},
        {"RPS_JWT_SECRET": "only-31-bytes-long-jwt-secret!!"},
        {"RPS_JWT_SECRET": "supersecret"},
        {"RPS_VAULT_TOKEN": "myroot"},
    ],
    ids=["no-key", "short-key", "django-insecure", "no-jwt", "short-jwt", "supersecret", "myroot"],
)
def test_insecure_values_make_every_command_fail(overrides: dict[str, str]) -> None:
    result = run(["manage.py", "check"], **overrides)
    assert result.returncode == 1
    # One line naming the cause, no traceback (rps_site/startup.py).
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("rps-django: Refusing insecure production settings: ")
    for value in overrides.values():
        if value != "<unset>":
            assert value not in result.stderr, "the refused value must not be echoed"


# What every command and the server do first (`manage.py check` each time would cost seconds).
LOAD_SETTINGS = ["-c", "from django.conf import settings; settings.DEBUG"]


def refusal_line(result: subprocess.CompletedProcess[str]) -> str:
    """The line that stops start-up: the last one written, naming every problem at once."""
    last = result.stderr.strip().splitlines()[-1]
    assert "Refusing insecure production settings: " in last, result.stderr
    return last


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"RPS_VAULT_ADDR": "http://127.0.0.1@vault.example.com:8200"}, "RPS_VAULT_ADDR must not contain user"),
        ({"RPS_VAULT_ADDR": "http://127.0.0.1.evil.example:8200"}, "RPS_VAULT_ADDR must use https:// outside loopback"),
        ({"RPS_VAULT_ADDR": "http://vault.example.com:8200"}, "RPS_VAULT_ADDR must use https:// outside loopback"),
        ({"RPS_VAULT_ADDR": "https://vault.example.com:99999"}, "RPS_VAULT_ADDR is not a valid URL"),
        ({"RPS_VAULT_ADDR": "vault.example.com:8200"}, "RPS_VAULT_ADDR must be an http(s):// URL with a host"),
        ({"RPS_VAULT_TOKEN": ""}, "RPS_VAULT_TOKEN (or AppRole: RPS_VAULT_ROLE_ID and RPS_VAULT_SECRET_ID_FILE)"),
        (
            {"RPS_VAULT_TOKEN": "<unset>"},
            "RPS_VAULT_TOKEN (or AppRole: RPS_VAULT_ROLE_ID and RPS_VAULT_SECRET_ID_FILE)",
        ),
        ({"RPS_VAULT_ROLE_ID": "role"}, "set either RPS_VAULT_TOKEN or AppRole"),
        ({"RPS_VAULT_TOKEN": "", "RPS_VAULT_ROLE_ID": "role"}, "RPS_VAULT_ROLE_ID needs RPS_VAULT_SECRET_ID"),
        (
            {"RPS_VAULT_TOKEN": "", "RPS_VAULT_SECRET_ID_FILE": "/run/id"},
            "RPS_VAULT_SECRET_ID(_FILE) needs RPS_VAULT_ROLE_ID",
        ),
        ({"RPS_ALLOWED_HOSTS": "*"}, "RPS_ALLOWED_HOSTS must name this server's hosts, not '*'"),
        ({"RPS_ALLOWED_HOSTS": "rps.example.com,*"}, "RPS_ALLOWED_HOSTS must name this server's hosts, not '*'"),
        ({"RPS_MPS_URL": "http://mps.example.com:3000"}, "RPS_MPS_URL must use https:// outside loopback"),
        ({"RPS_MPS_URL": "http://127.0.0.1@mps.example.com"}, "RPS_MPS_URL must not contain user"),
    ],
    ids=[
        "vault-userinfo-host",
        "vault-loopback-lookalike",
        "vault-plain-http",
        "vault-bad-port",
        "vault-no-scheme",
        "empty-token",
        "no-token",
        "token-and-approle",
        "role-without-secret-id",
        "secret-id-without-role",
        "any-host",
        "any-host-among-others",
        "mps-plain-http",
        "mps-userinfo-host",
    ],
)
def test_production_start_up_refuses_with_one_clear_line(overrides: dict[str, str], expected: str) -> None:
    result = run(LOAD_SETTINGS, **overrides)
    assert result.returncode != 0
    assert expected in refusal_line(result)


@pytest.mark.parametrize(
    "overrides",
    [
        {"RPS_VAULT_ADDR": "http://127.0.0.1:8200"},
        {"RPS_VAULT_ADDR": "http://127.8.9.10:8200"},
        {"RPS_VAULT_ADDR": "http://[::1]:8200"},
        {"RPS_VAULT_ADDR": "http://localhost:8200"},
        {"RPS_MPS_URL": "http://127.0.0.1:3000", "RPS_VAULT_ADDR": "http://LOCALHOST:8200"},
        {"RPS_MPS_URL": "https://mps.example.com"},
        {"RPS_VAULT_TOKEN": "", "RPS_VAULT_ROLE_ID": "role", "RPS_VAULT_SECRET_ID_FILE": "/run/secret-id"},
        {"RPS_VAULT_TOKEN": "", "RPS_VAULT_ROLE_ID": "role", "RPS_VAULT_SECRET_ID": "secret-id"},
    ],
    ids=[
        "ipv4-loopback",
        "ipv4-loopback-net",
        "ipv6-loopback",
        "localhost",
        "mps-loopback",
        "mps-https",
        "approle-file",
        "approle",
    ],
)
def test_loopback_and_approle_settings_are_accepted(overrides: dict[str, str]) -> None:
    result = run(LOAD_SETTINGS, **overrides)
    assert result.returncode == 0, result.stderr


def test_debug_allows_development_defaults() -> None:
    result = run(["manage.py", "check"], RPS_DEBUG="true", RPS_SECRET_KEY="<unset>", RPS_JWT_SECRET="<unset>")
    assert result.returncode == 0, result.stderr


def test_deploy_check_is_clean_with_production_settings(dev_vault: DevVault) -> None:
    # The deploy check asks Vault about the token: a real one with the shipped policy.
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        RPS_VAULT_ADDR=dev_vault.addr,
        RPS_VAULT_TOKEN=dev_vault.rps_token(),
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_importing_settings_does_no_network_io() -> None:
    # An unroutable Vault and database address: import must still be instant and succeed.
    code = "import time,socket;t=time.time();import rps_site.settings;print(round(time.time()-t,2))"
    result = run(
        ["-c", code], RPS_VAULT_ADDR="https://10.255.255.1:8200", RPS_DATABASE_URL="postgres://u@10.255.255.1/x"
    )
    assert result.returncode == 0, result.stderr
    assert float(result.stdout.strip()) < 5


@pytest.mark.parametrize(
    "overrides",
    [{"RPS_WSMAN_TIMEOUT": "0"}, {"RPS_DELAY_TIMER": "-1"}, {"RPS_RETRY_DELAY": "-0.5"}],
    ids=["no-wsman-wait", "negative-delay", "negative-retry"],
)
def test_timer_settings_are_checked(overrides: dict[str, str]) -> None:
    result = run(["manage.py", "check"], RPS_DEBUG="true", **overrides)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "rps-django: RPS_WSMAN_TIMEOUT must be > 0; RPS_DELAY_TIMER and RPS_RETRY_DELAY must be >= 0"
    ]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"RPS_HTTP_THREADS": "many"}, "RPS_HTTP_THREADS must be a whole number"),
        ({"RPS_BLOCKING_THREADS": "1.5"}, "RPS_BLOCKING_THREADS must be a whole number"),
        ({"RPS_HTTP_THREADS": "0"}, "RPS_BLOCKING_THREADS and RPS_HTTP_THREADS must be >= 1"),
        ({"RPS_WSMAN_TIMEOUT": "soon"}, "RPS_WSMAN_TIMEOUT must be a number"),
        ({"RPS_JWT_LIFETIME_SECONDS": "a day; DROP TABLE"}, "RPS_JWT_LIFETIME_SECONDS must be a whole number"),
    ],
)
def test_a_number_setting_given_garbage_is_refused_in_one_line_naming_it(
    overrides: dict[str, str], expected: str
) -> None:
    """One line naming the variable, not a ValueError traceback, and not the value given."""
    result = run(["manage.py", "check"], RPS_DEBUG="true", **overrides)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"rps-django: {expected}"]
    assert all(value not in result.stderr for value in overrides.values() if value != "0")


def test_zero_delays_are_allowed() -> None:
    result = run(["manage.py", "check"], RPS_DELAY_TIMER="0", RPS_RETRY_DELAY="0")
    assert result.returncode == 0, result.stderr
