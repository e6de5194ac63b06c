"""Which activation flow runs, decided in one place (protocol.md §4.1-4.3, §5.1, §5.5).

Three facts decide it: how WS-Man reaches the device (`Transport`, §5.1), the control mode the
device reports (`currentMode`, §2.4) and the profile's activation mode. `ACTIVATION_FLOWS` is the
whole decision, one row per case, to be read against the spec; the runner runs what it names and
decides nothing itself. A CCM profile for a device already in admin control mode has no row: the
plan resolver refuses it first (§2.6.4 step 6, `check_activation_mode`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Final

from activation.plan.activation_plan import ActivationPlan
from activation.plan.configuration_plan import ConfigurationPlan, ConfigurationUnavailable, TlsPlan
from activation.protocol.messages import DeviceRequest
from devices.models import ControlMode
from profiles.models import ActivationMode


class Transport(Enum):
    """How WS-Man reaches AMT for the whole session (§5.1)."""

    PLAIN = "plain relay"  # §3: HTTP to 16992, relayed as `wsman` messages
    TLS_ENFORCED = "TLS tunnel"  # `tlsEnforced` (AMT 19+): TLS to 16993 from the first call
    PORT_SWITCH = "plain, then TLS tunnel"  # `--tls-tunnel` on AMT 11-18: `port_switch` once TLS is on


def transport_for(request: DeviceRequest) -> Transport:
    if request.payload.tls_enforced:
        return Transport.TLS_ENFORCED
    if request.switches_to_tls_tunnel:
        return Transport.PORT_SWITCH
    return Transport.PLAIN


class ActivationFlow(Enum):
    """The flows of `activation.flows` an activation can run; the value names the function."""

    CCM = "activate_ccm"  # §4.1
    ACM = "activate_acm"  # §4.2
    CCM_TLS_ENFORCED = "activate_ccm_tls_enforced"  # §5.5 "AMT 19+ CCM"
    ACM_TLS_ENFORCED = "activate_acm_tls_enforced"  # §5.5 "AMT 19+ ACM": CCM, TLS, upgrade
    THROUGH_TLS_TUNNEL = "activate_through_tls_tunnel"  # §5.5 "--tls-tunnel on AMT 11-18"
    RECONFIGURE = "reconfigure_activated"  # §4.3: same mode, password and MEBx brought in line
    UPGRADE_TO_ACM = "upgrade_to_acm"  # §4.3: a CCM device with an ACM profile

    @property
    def configures_tls_while_activating(self) -> bool:
        """TLS is configured inside the activation (§5.5), not again after it."""
        return self in (ActivationFlow.ACM_TLS_ENFORCED, ActivationFlow.THROUGH_TLS_TUNNEL)


PRE, CLIENT, ADMIN = ControlMode.PRE_PROVISIONING, ControlMode.CLIENT, ControlMode.ADMIN
CCM, ACM = ActivationMode.CCM, ActivationMode.ACM
PLAIN, TLS_ENFORCED, PORT_SWITCH = Transport.PLAIN, Transport.TLS_ENFORCED, Transport.PORT_SWITCH

# (transport, currentMode, profile) -> flow. A device already activated is reconfigured over
# whichever transport it uses; `--tls-tunnel` only applies from pre-provisioning (§5.1).
ACTIVATION_FLOWS: Final[Mapping[tuple[Transport, ControlMode, ActivationMode], ActivationFlow]] = {
    (PLAIN, PRE, CCM): ActivationFlow.CCM,
    (PLAIN, PRE, ACM): ActivationFlow.ACM,
    (TLS_ENFORCED, PRE, CCM): ActivationFlow.CCM_TLS_ENFORCED,
    (TLS_ENFORCED, PRE, ACM): ActivationFlow.ACM_TLS_ENFORCED,
    (PORT_SWITCH, PRE, CCM): ActivationFlow.THROUGH_TLS_TUNNEL,
    (PORT_SWITCH, PRE, ACM): ActivationFlow.THROUGH_TLS_TUNNEL,
    (PLAIN, CLIENT, CCM): ActivationFlow.RECONFIGURE,
    (PLAIN, CLIENT, ACM): ActivationFlow.UPGRADE_TO_ACM,
    (PLAIN, ADMIN, ACM): ActivationFlow.RECONFIGURE,
    (TLS_ENFORCED, CLIENT, CCM): ActivationFlow.RECONFIGURE,
    (TLS_ENFORCED, CLIENT, ACM): ActivationFlow.UPGRADE_TO_ACM,
    (TLS_ENFORCED, ADMIN, ACM): ActivationFlow.RECONFIGURE,
}


def activation_flow(request: DeviceRequest, mode: ActivationMode) -> ActivationFlow:
    """The row for this request; `mode` is the profile's. Raises KeyError only for the one case
    the plan resolver has already refused (a CCM profile on an ACM device)."""
    return ACTIVATION_FLOWS[(transport_for(request), request.payload.current_mode, mode)]


@dataclass(frozen=True)
class FlowPlan:
    """What the runner runs: the flow, its activation plan, the TLS the flow configures while
    activating (§5.5) and the configuration left for after the activation (§4.6-4.10)."""

    flow: ActivationFlow
    activation: ActivationPlan
    configuration: ConfigurationPlan | ConfigurationUnavailable
    tls_while_activating: TlsPlan | None = None
