"""How an activation reaches an EA through the channel layer, in whichever worker its socket is.

Every EA connection joins its tenant's group. A request goes like this (the requester's side is
`exchange`, the EA's is `consumers`):

    requester                      EA connection(s) of the tenant
    OFFER  ── group_send ──────▶   each live one answers AVAILABLE (a closed one has left the group)
    REQUEST ── to the first ───▶   sends the frame to its EA, answers ACCEPTED
                              ◀──  REPLY (the fitting answer), DROPPED (a reply of the wrong kind),
                                   or LOST (its socket closed while the request was pending)
    CANCEL (after a timeout) ──▶   forgets the request, so a late answer is dropped

Only live connections answer an offer, so requests never go to a dead EA (upstream sends to the
last one that connected, open or not: §1.3); several EAs share the work, the quickest first.
"""

from __future__ import annotations

import hashlib

OFFER = "ea.offer"
AVAILABLE = "ea.available"
REQUEST = "ea.request"
ACCEPTED = "ea.accepted"
REPLY = "ea.reply"
DROPPED = "ea.dropped"
LOST = "ea.lost"
CANCEL = "ea.cancel"


def assistant_group(tenant_id: str) -> str:
    # Channels group names allow [A-Za-z0-9._-] only, under 100 characters; tenant ids are free text.
    return "enterprise-assistant." + hashlib.sha256(tenant_id.encode()).hexdigest()[:40]
