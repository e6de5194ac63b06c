"""The quick start's MPSCerts seed is one the configuration step can sign device certificates with."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command

from activation.plan.configuration_plan import mps_certificate_authority
from rps_site.vault import MPS_CERTIFICATES_PATH, SecretStore


def test_seed_is_usable_and_never_overwrites(vault: SecretStore) -> None:
    vault.destroy(MPS_CERTIFICATES_PATH)
    out = StringIO()
    call_command("rps_seed_mps_ca", stdout=out)
    assert "seeded" in out.getvalue()
    stored = vault.read(MPS_CERTIFICATES_PATH)
    assert mps_certificate_authority(stored) is not None
    call_command("rps_seed_mps_ca", stdout=out)
    assert "already present" in out.getvalue()
    again = vault.read(MPS_CERTIFICATES_PATH)
    assert again is not None and again.version == stored.version
    vault.destroy(MPS_CERTIFICATES_PATH)
