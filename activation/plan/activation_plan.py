"""What an activation will do, resolved once before the flow runs (DESIGN.md "How an activation
flows"): profile, mode, passwords and, for ACM, the provisioning certificate. Frozen; every
password is a `Secret`."""

from __future__ import annotations

from dataclasses import dataclass, field

from activation.protocol.messages import DeviceRequest
from profiles.models import ActivationMode
from rps_site.sensitive import Secret


@dataclass(frozen=True)
class ProvisioningCertificate:
    """The domain's provisioning chain, leaf first and self-signed root last (§4.2 step 2)."""

    chain_der: tuple[bytes, ...] = field(repr=False)
    private_key_pem: Secret


@dataclass(frozen=True)
class ActivationPlan:
    profile_name: str
    mode: ActivationMode
    tenant_id: str
    device: DeviceRequest
    amt_password: Secret
    password_generated: bool
    mebx_password: Secret | None = None
    provisioning_certificate: ProvisioningCertificate | None = None
    tags: tuple[str, ...] = ()  # the profile's, for the MPS record

    @property
    def device_guid(self) -> str:
        return self.device.device_guid
