"""Start-up checks that need I/O, so they cannot run when settings are imported.

The Vault credential (SECURITY.md check 25) is checked when the server starts outside debug
(rps_site.asgi) and by `manage.py check --deploy`: a root token, a token Vault refuses, one that
expires without renewal, or one lacking what deploy/rps-vault-policy.hcl grants stops start-up
with one line naming the problem.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register
from django.core.exceptions import ImproperlyConfigured

from rps_site.vault import secret_store


class UnfitVaultCredential(ImproperlyConfigured):
    pass


def vault_credential_refusal() -> str | None:
    problem = secret_store().credential_problem()
    return f"Refusing the Vault credential: {problem}" if problem else None


def refuse_unfit_vault_credential() -> None:
    """Outside debug, the server starts only with a Vault credential fit for production."""
    if settings.DEBUG:
        return
    refusal = vault_credential_refusal()
    if refusal:
        raise UnfitVaultCredential(refusal)


@register(Tags.security, deploy=True)
def vault_credential_check(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    refusal = vault_credential_refusal()
    return [Error(refusal, id="rps.E001")] if refusal else []
