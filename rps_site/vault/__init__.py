"""The Vault storage layer: the one package every secret passes through.

KV v2 under `RPS_VAULT_MOUNT`/`RPS_VAULT_PREFIX`, laid out as upstream RPS and MPS expect
(DESIGN.md "Vault layout"). By concern:
- `paths`: where each secret lives; no name can climb to another path;
- `store`: `SecretStore`, reads and check-and-set writes whose outcome is known on return;
- `changes`: `atomic_with_secrets`, secret writes undone with the database transaction;
- `errors`: what can fail, each a business error of `rps_site.errors`.
Callers import from here; the modules are the layout, not the interface.
"""

from rps_site.vault.changes import (
    SecretChanges,
    atomic_with_secrets,
    destroy_pending,
    lock_secret_path,
)
from rps_site.vault.errors import (
    SecretVersionConflict,
    VaultCredentialRefused,
    VaultDestroyUnconfirmed,
    VaultUnavailable,
    VaultWriteUnconfirmed,
)
from rps_site.vault.paths import (
    DEVICE_GUID,
    MPS_CERTIFICATES_PATH,
    InvalidDeviceGuid,
    cira_config_path,
    device_path,
    domain_certificate_path,
    ieee8021x_config_path,
    path_segment,
    profile_passwords_path,
    profile_tls_path,
    tenant_path,
    wireless_config_path,
)
from rps_site.vault.store import (
    DATA_CAPABILITIES,
    METADATA_CAPABILITIES,
    SecretStore,
    StoredSecret,
    secret_store,
)

__all__ = [
    "DATA_CAPABILITIES",
    "DEVICE_GUID",
    "METADATA_CAPABILITIES",
    "MPS_CERTIFICATES_PATH",
    "InvalidDeviceGuid",
    "SecretChanges",
    "SecretStore",
    "SecretVersionConflict",
    "StoredSecret",
    "VaultCredentialRefused",
    "VaultDestroyUnconfirmed",
    "VaultUnavailable",
    "VaultWriteUnconfirmed",
    "atomic_with_secrets",
    "cira_config_path",
    "destroy_pending",
    "device_path",
    "domain_certificate_path",
    "ieee8021x_config_path",
    "lock_secret_path",
    "path_segment",
    "profile_passwords_path",
    "profile_tls_path",
    "secret_store",
    "tenant_path",
    "wireless_config_path",
]
