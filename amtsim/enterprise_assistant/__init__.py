"""A virtual Enterprise Assistant (the Windows service that gets 802.1X accounts and certificates
from AD and a Microsoft CA for RPS): `python -m amtsim ea --url wss://...` or, in tests,

    async with running_enterprise_assistant("wss://127.0.0.1:8443/ea", credentials=("ea", "pw"),
                                            ssl_context=context) as ea:
        ea.faults.add(EaFault.silent(KEY_PAIR_RESPONSE))
        ...
        assert ea.received[0]["subaction"] == PROFILE_REQUEST
"""

from amtsim.enterprise_assistant.assistant import (
    AccountGiven,
    CertificateIssued,
    ReplyStyle,
    VirtualEnterpriseAssistant,
    peap_password,
    running_enterprise_assistant,
)
from amtsim.enterprise_assistant.faults import (
    CSR_RESPONSE,
    KEY_PAIR_RESPONSE,
    PROFILE_REQUEST,
    EaFault,
    EaFaultKind,
)

__all__ = [
    "CSR_RESPONSE",
    "KEY_PAIR_RESPONSE",
    "PROFILE_REQUEST",
    "AccountGiven",
    "CertificateIssued",
    "EaFault",
    "EaFaultKind",
    "ReplyStyle",
    "VirtualEnterpriseAssistant",
    "peap_password",
    "running_enterprise_assistant",
]
