"""Proxies (protocol.md §4.7.5): each of the profile's proxy configs as an HTTP proxy access point;
one that AMT refuses fails the CIRA proxy component, not the others."""

from __future__ import annotations

from activation.flows.components import ConfigurationReport, cause_of
from activation.flows.ports import ProgressPort
from activation.plan.configuration_plan import (
    ConfigurationPlan,
)
from activation.protocol.status import Component
from activation.session import AmtSession
from activation.session_errors import CALL_ERRORS
from activation.wsman import network, proxies


async def configure_proxies(
    amt: AmtSession, plan: ConfigurationPlan, report: ConfigurationReport, progress: ProgressPort
) -> str:
    await progress.report("Configuring proxies")
    failed: list[str] = []
    causes: list[str] = []
    for proxy in plan.proxies:
        try:
            outcome = await amt.call(
                proxies.add_proxy_access_point(
                    address=proxy.address,
                    address_format=network.AddressFormat(proxy.info_format),
                    port=proxy.port,
                    network_dns_suffix=proxy.network_dns_suffix,
                )
            )
        except CALL_ERRORS as error:
            failed.append(proxy.name)
            causes.append(f"{proxy.name}: {cause_of(error)}")
            continue
        except ValueError:
            failed.append(proxy.name)
            causes.append(f"{proxy.name}: address format {proxy.info_format} is unknown")
            continue
        if not outcome.succeeded:
            failed.append(proxy.name)
            causes.append(f"{proxy.name}: ReturnValue {outcome.return_value}")
    if failed:
        text = f"Failed to add proxy {', '.join(failed)}"
        report.failed(Component.CIRA_PROXY, text, "; ".join(causes))
        return text
    report.succeeded(Component.CIRA_PROXY, "Proxy Configured")
    return "Proxy Configured"
