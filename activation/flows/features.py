"""AMT features (protocol.md §4.8 with correction 3): SOL, IDER and KVM redirection, the
redirection listener, and user consent, set to what the profile asks for."""

from __future__ import annotations

from activation.flows.components import ComponentFailed, cause_of
from activation.flows.ports import ProgressPort
from activation.plan.configuration_plan import FeaturesPlan
from activation.session import AmtSession
from activation.session_errors import CALL_ERRORS
from activation.wsman import features

CONSENT_NAMES = {features.OPT_IN_NONE: "None", features.OPT_IN_KVM: "KVM", features.OPT_IN_ALL: "All"}


async def configure_features(amt: AmtSession, wanted: FeaturesPlan, progress: ProgressPort) -> str:
    """Returns the completion text; raises `ComponentFailed` naming the call that failed."""
    await progress.report("Configuring AMT features")
    step = "AMT_RedirectionService.Get"
    try:
        redirection = await amt.call(features.get_redirection_service())
        step = "IPS_OptInService.Get"
        opt_in = await amt.call(features.get_opt_in_service())
        step = "CIM_KVMRedirectionSAP.Get"
        kvm = await amt.call(features.get_kvm_redirection())

        redirection_changed = (
            wanted.sol != redirection.sol_enabled
            or wanted.ider != redirection.ider_enabled
            or ((wanted.sol or wanted.ider) and not redirection.listener_enabled)
            or wanted.kvm != kvm.enabled
        )
        # Correction 3: the listener follows the wanted state, not the KVM state read before.
        listener_enabled = wanted.sol or wanted.ider or wanted.kvm
        if redirection_changed:
            state = features.redirection_state(sol=wanted.sol, ider=wanted.ider)
            step = "AMT_RedirectionService.RequestStateChange"
            changed = await amt.call(features.request_redirection_state(state))
            if not changed.succeeded:
                raise ComponentFailed("Failed to set redirection state", f"ReturnValue {changed.return_value}")
            step = "CIM_KVMRedirectionSAP.RequestStateChange"
            changed = await amt.call(features.request_kvm_state(wanted.kvm))
            if not changed.succeeded:
                raise ComponentFailed("Failed to set KVM state", f"ReturnValue {changed.return_value}")
            step = "AMT_RedirectionService.Put"
            await amt.call(
                features.put_redirection_service(redirection, enabled_state=state, listener_enabled=listener_enabled)
            )
        if opt_in.opt_in_required != wanted.user_consent:
            step = "IPS_OptInService.Put"
            await amt.call(features.put_opt_in_service(opt_in, opt_in_required=wanted.user_consent))
    except CALL_ERRORS as error:
        raise ComponentFailed(f"Failed to configure AMT features at {step}", cause_of(error)) from None

    enabled = [name for name, on in (("KVM", wanted.kvm), ("SOL", wanted.sol), ("IDER", wanted.ider)) if on]
    consent = CONSENT_NAMES.get(wanted.user_consent, "All")
    text = f"AMT features completed: {', '.join(enabled) or 'none'} (User Consent: {consent})"
    await progress.report(text)
    return text
