"""The Enterprise Assistant (EA): the Windows service that gets 802.1X accounts and certificates
from Active Directory and a Microsoft CA for AMT (spec/enterprise-assistant.md).

The EA connects to us (`consumers`); an activation asks it through an `EnterpriseAssistantExchange`
(`exchange`), which finds a live EA of the device's tenant over the channel layer, so the EA and
the activation may live in different worker processes. `messages` is the wire format.
"""

from activation.enterprise_assistant.errors import (
    EnterpriseAssistantDisconnected,
    EnterpriseAssistantFailure,
    EnterpriseAssistantProtocolUnsupported,
    EnterpriseAssistantReplyMalformed,
    EnterpriseAssistantTimeout,
    EnterpriseAssistantUnavailable,
)
from activation.enterprise_assistant.exchange import EnterpriseAssistantExchange
from activation.enterprise_assistant.messages import (
    EAP_TLS,
    PEAP_MSCHAPV2,
    SERVED_PROTOCOLS,
    CertificateRequestTemplate,
    IssuedCertificate,
    PeapAccount,
    ProfileReply,
)

__all__ = [
    "EAP_TLS",
    "PEAP_MSCHAPV2",
    "SERVED_PROTOCOLS",
    "CertificateRequestTemplate",
    "EnterpriseAssistantDisconnected",
    "EnterpriseAssistantExchange",
    "EnterpriseAssistantFailure",
    "EnterpriseAssistantProtocolUnsupported",
    "EnterpriseAssistantReplyMalformed",
    "EnterpriseAssistantTimeout",
    "EnterpriseAssistantUnavailable",
    "IssuedCertificate",
    "PeapAccount",
    "ProfileReply",
]
