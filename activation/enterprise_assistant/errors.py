"""Why an EA request gave nothing usable. Each names the request (`step`, the subaction we sent)
and the cause; the flows catch them per step. Of what the EA sent, the texts carry field names and
at most a (shortened) subaction, never a value, so a password cannot reach a log or a status
message through them."""

from __future__ import annotations


class EnterpriseAssistantFailure(Exception):
    def __init__(self, step: str, cause: str) -> None:
        super().__init__(f"{step}: {cause}")
        self.step = step
        self.cause = cause


class EnterpriseAssistantUnavailable(EnterpriseAssistantFailure):
    """No live EA of the tenant took the request (none connected, or each went away first)."""


class EnterpriseAssistantTimeout(EnterpriseAssistantFailure):
    """The EA took the request and said nothing that answers it in time. The real EA answers
    only on success, so this is also how its own errors (AD, CA, an unsupported request) arrive."""


class EnterpriseAssistantDisconnected(EnterpriseAssistantFailure):
    """The EA's socket closed while the request was pending."""


class EnterpriseAssistantReplyMalformed(EnterpriseAssistantFailure):
    """The EA answered, but without what the step needs (a field missing, not base64, a
    certificate for another key, ...)."""


class EnterpriseAssistantProtocolUnsupported(EnterpriseAssistantFailure):
    """An 802.1X protocol the EA never answers (only EAP-TLS and PEAPv0/EAP-MSCHAPv2 work, §3):
    refused before anything is sent instead of waiting out the timeout (B5)."""
