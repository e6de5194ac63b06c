"""The activation checks that need the profile (protocol.md §2.6.4 steps 5-8, §2.6.5): the pure
rules and exact texts; the plan resolver (`activation.plan.resolve`) makes the look-ups they
need (profile, domain, stored password)."""

from __future__ import annotations

from enum import Enum

from activation.protocol.messages import DeviceRequest, ProtocolError
from devices.models import ControlMode
from profiles.models import ActivationMode


class ActivationStart(Enum):
    """Where an activation starts, decided from `currentMode` and the profile (§2.6.4 step 6)."""

    FROM_PRE_PROVISIONING = "pre-provisioning"
    RECONFIGURE_CCM = "already enabled in client mode."
    UPGRADE_TO_ACM = "Upgraded to admin control mode."
    RECONFIGURE_ACM = "already enabled in admin mode."

    @property
    def preset_status(self) -> str | None:
        return None if self is ActivationStart.FROM_PRE_PROVISIONING else self.value


def profile_not_found_text(request: DeviceRequest) -> str:
    return (
        f"Device {request.device_guid} activation failed. {request.command.profile} "
        "does not match list of available AMT profiles."
    )


def password_mismatch_text(device_guid: str) -> str:
    """Also the text when no secret is stored (§2.6.5 step 4)."""
    return f"AMT password DOES NOT match stored version for Device {device_guid}"


def check_activation_mode(request: DeviceRequest, profile_activation: ActivationMode) -> ActivationStart:
    """§2.6.4 step 6. Raises `ProtocolError` for a CCM profile on an ACM device."""
    guid = request.device_guid
    mode = request.payload.current_mode
    if mode is ControlMode.PRE_PROVISIONING:
        return ActivationStart.FROM_PRE_PROVISIONING
    if mode is ControlMode.CLIENT:
        if profile_activation is ActivationMode.ACM:
            return ActivationStart.UPGRADE_TO_ACM
        return ActivationStart.RECONFIGURE_CCM
    if profile_activation is not ActivationMode.ACM:
        raise ProtocolError(f"Device {guid} already enabled in admin control mode.")
    return ActivationStart.RECONFIGURE_ACM


def runs_acm_checks(request: DeviceRequest, profile_activation: ActivationMode) -> bool:
    """§2.6.4 step 5: an ACM profile on AMT 19+ is validated as CCM (it activates through TLS)."""
    version = request.payload.amt_version
    return profile_activation is ActivationMode.ACM and not (version is not None and version >= 19)


def check_acm_prerequisites(request: DeviceRequest) -> None:
    """§2.6.4 step 8, the part that needs no database. The domain lookup follows, with
    `domain_suffix_candidates` and `domain_suffix_mismatch_text`."""
    payload = request.payload
    if payload.cert_hashes is None:
        raise ProtocolError(f"Device {payload.uuid} activation failed. Missing certificate hashes from the device.")
    if not payload.fqdn and payload.current_mode is not ControlMode.ADMIN:
        raise ProtocolError(f"Device {payload.uuid} activation failed. Missing DNS Suffix.")


def domain_suffix_mismatch_text(request: DeviceRequest) -> str:
    return (
        f"Device {request.device_guid} activation failed. Specified AMT domain suffix: "
        f"{request.payload.fqdn} does not match list of available AMT domain suffixes."
    )


def domain_suffix_candidates(fqdn: str) -> list[str]:
    """Every suffix of at least two labels, longest first: a.b.corp.com → a.b.corp.com,
    b.corp.com, corp.com (upstream DomainCredentialManager)."""
    labels = fqdn.strip(".").split(".")
    return [".".join(labels[start:]) for start in range(len(labels) - 1) if all(labels[start:])]
