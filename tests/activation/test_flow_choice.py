"""`activation.plan.flow_choice`: the one table that says which activation flow runs, read
against protocol.md §4.1-4.3 and §5.1/§5.5, and the fitting of a plan to its flow."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

import pytest

from activation.plan.configuration_plan import ConfigurationUnavailable, TlsPlan
from activation.plan.flow_choice import ACTIVATION_FLOWS, ActivationFlow, Transport, activation_flow, transport_for
from activation.plan.resolve import fitted_to_flow
from activation.protocol.messages import ProtocolError
from devices.models import ControlMode
from tests.activation.flow_fakes import GUID, acm_plan, ccm_plan, device_request
from tests.activation.test_configure import base_plan

CCM, ACM = "ccmactivate", "acmactivate"


def activate(**payload: Any) -> Any:
    return device_request("activate --profile office", **payload)


@pytest.mark.parametrize(
    ("payload", "transport"),
    [
        ({}, Transport.PLAIN),
        ({"tlsEnforced": True}, Transport.TLS_ENFORCED),
        ({"tlsEnforced": True, "currentMode": 1}, Transport.TLS_ENFORCED),
        ({"tlsTunnel": True}, Transport.PORT_SWITCH),
        ({"tlsTunnel": True, "tlsEnforced": True}, Transport.TLS_ENFORCED),  # in the tunnel already
        ({"tlsTunnel": True, "currentMode": 2}, Transport.PLAIN),  # activated: `--tls-tunnel` does not apply
    ],
)
def test_transport_follows_section_5_1(payload: dict[str, Any], transport: Transport) -> None:
    assert transport_for(activate(**payload)) is transport


def test_every_reachable_case_has_one_row_and_only_those() -> None:
    reachable = {
        (transport, mode, profile)
        for transport, mode, profile in itertools.product(Transport, ControlMode, (CCM, ACM))
        # `--tls-tunnel` only from pre-provisioning; a CCM profile on an ACM device is refused first.
        if not (transport is Transport.PORT_SWITCH and mode is not ControlMode.PRE_PROVISIONING)
        and not (mode is ControlMode.ADMIN and profile == CCM)
    }
    assert set(ACTIVATION_FLOWS) == reachable


@pytest.mark.parametrize(
    ("payload", "profile", "flow"),
    [
        ({}, CCM, ActivationFlow.CCM),
        ({}, ACM, ActivationFlow.ACM),
        ({"tlsEnforced": True}, CCM, ActivationFlow.CCM_TLS_ENFORCED),
        ({"tlsEnforced": True}, ACM, ActivationFlow.ACM_TLS_ENFORCED),
        ({"tlsTunnel": True}, ACM, ActivationFlow.THROUGH_TLS_TUNNEL),
        ({"currentMode": 1}, CCM, ActivationFlow.RECONFIGURE),
        ({"currentMode": 1}, ACM, ActivationFlow.UPGRADE_TO_ACM),
        ({"currentMode": 2, "tlsEnforced": True}, ACM, ActivationFlow.RECONFIGURE),
    ],
)
def test_the_flow_for_a_request(payload: dict[str, Any], profile: str, flow: ActivationFlow) -> None:
    assert activation_flow(activate(**payload), profile) is flow  # type: ignore[arg-type]


def test_acm_on_amt_19_without_the_tunnel_is_refused_before_the_device_is_touched() -> None:
    plan = replace(acm_plan(), provisioning_certificate=None)
    with pytest.raises(ProtocolError, match="runs through the TLS tunnel, and the client did not report tlsEnforced"):
        fitted_to_flow(ActivationFlow.ACM, plan, ConfigurationUnavailable("VaultUnavailable"))


def test_the_tls_tunnel_needs_tls_the_server_can_configure() -> None:
    configuration = base_plan(GUID, tls=TlsPlan(2, problem="Failed to fetch MPS root key"))
    with pytest.raises(ProtocolError, match=r"\(--tls-tunnel\) needs TLS: Failed to fetch MPS root key"):
        fitted_to_flow(ActivationFlow.THROUGH_TLS_TUNNEL, ccm_plan(), configuration)
    with pytest.raises(ProtocolError, match=r"needs TLS: the configuration could not be read \(VaultUnavailable\)"):
        fitted_to_flow(ActivationFlow.THROUGH_TLS_TUNNEL, ccm_plan(), ConfigurationUnavailable("VaultUnavailable"))


def test_tls_configured_while_activating_is_not_configured_again() -> None:
    tls = TlsPlan(1)
    through_tunnel = fitted_to_flow(ActivationFlow.THROUGH_TLS_TUNNEL, ccm_plan(), base_plan(GUID, tls=tls))
    assert through_tunnel.tls_while_activating == tls
    assert through_tunnel.configuration.tls is None and through_tunnel.configuration.keep_tls  # type: ignore[union-attr]
    plain = fitted_to_flow(ActivationFlow.CCM, ccm_plan(), base_plan(GUID, tls=tls))
    assert plain.tls_while_activating is None
    assert plain.configuration.tls == tls and not plain.configuration.keep_tls  # type: ignore[union-attr]
