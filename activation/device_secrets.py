"""The Vault implementation of `DeviceSecretsPort`: `devices/<guid>` through devices.services.

hvac is synchronous, so every call runs in a worker thread and never blocks the event loop.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async

from activation.flows.ports import DeviceSecretExists
from devices import services
from rps_site.sensitive import Secret
from rps_site.vault import SecretVersionConflict


class VaultDeviceSecrets:
    async def write_initial(self, guid: str, amt_password: Secret, mebx_password: Secret | None) -> None:
        values = {services.AMT_PASSWORD: amt_password}
        if mebx_password is not None:
            values[services.MEBX_PASSWORD] = mebx_password
        try:
            await sync_to_async(services.device_secret_create, thread_sensitive=False)(guid=guid, values=values)
        except SecretVersionConflict:
            raise DeviceSecretExists(guid) from None

    async def write_pending(self, guid: str, amt_password: Secret) -> None:
        await sync_to_async(services.device_password_stage, thread_sensitive=False)(
            guid=guid, amt_password=amt_password
        )

    async def promote_pending(self, guid: str) -> None:
        await sync_to_async(services.device_password_promote, thread_sensitive=False)(guid=guid)

    async def write_mebx_password(self, guid: str, mebx_password: Secret) -> None:
        await sync_to_async(services.device_secret_merge, thread_sensitive=False)(
            guid=guid, values={services.MEBX_PASSWORD: mebx_password}
        )

    async def destroy(self, guid: str) -> None:
        await sync_to_async(services.device_secret_destroy, thread_sensitive=False)(guid=guid)

    async def write_mps_password(self, guid: str, mps_password: Secret) -> None:
        await sync_to_async(services.device_secret_merge, thread_sensitive=False)(
            guid=guid, values={services.MPS_PASSWORD: mps_password}
        )

    async def write_tls_certificate(self, guid: str, certificate_pem: str) -> None:
        await sync_to_async(services.device_secret_merge, thread_sensitive=False)(
            guid=guid, values={"TLS_ISSUED_CERTIFICATE": Secret(certificate_pem)}
        )

    async def read_tls_certificate(self, guid: str) -> str | None:
        stored = await sync_to_async(services.device_secret_read, thread_sensitive=False)(guid=guid)
        certificate = stored.get("TLS_ISSUED_CERTIFICATE") if stored is not None else None
        return certificate.reveal() if certificate else None

    async def read_amt_password(self, guid: str) -> Secret | None:
        stored = await sync_to_async(services.device_secret_read, thread_sensitive=False)(guid=guid)
        return stored.get(services.AMT_PASSWORD) if stored is not None else None
