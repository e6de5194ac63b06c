"""The EA wire format (enterprise-assistant.md §2): upstream's exact requests, and replies read into
typed results or refused with a named cause, never anything else."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st

from activation.enterprise_assistant import messages
from activation.enterprise_assistant.errors import EnterpriseAssistantReplyMalformed
from tests.activation.enterprise_assistant_helpers import KEY_INSTANCE_ID, AmtKey, EaAnswers, b64

NODE = "9b7c0f1e-3c2d-4a53-a1f0-2d5b8e6c4f10"


def test_profile_request_is_upstreams_byte_for_byte() -> None:
    # §2.2's example, verbatim.
    expected = (
        '{"action":"satellite","subaction":"802.1x-ProFile-Request","satelliteFlags":2,'
        f'"nodeid":"{NODE}","domain":"","reqid":"","authProtocol":2,'
        '"osname":"win11","devname":"desktop-01","icon":1,"cert":null,"certid":null,"ver":""}'
    )
    request = messages.profile_request(node_id=NODE, auth_protocol=2, device_name="desktop-01")
    assert messages.encode(request) == expected


def test_key_pair_and_csr_messages_carry_protocol_zero_in_upstreams_order() -> None:
    key_pair = messages.key_pair_response(node_id=NODE, device_name="desktop-01", der_key="MIIB", key_instance_id="k")
    assert messages.encode(key_pair) == (
        '{"action":"satellite","subaction":"802.1x-KeyPair-Response","satelliteFlags":2,'
        f'"nodeid":"{NODE}","domain":"","reqid":"","devname":"desktop-01","authProtocol":0,'
        '"osname":"win11","icon":1,"DERKey":"MIIB","keyInstanceId":"k","ver":""}'
    )
    csr = messages.csr_response(node_id=NODE, device_name="desktop-01", signed_csr="MIID")
    assert messages.encode(csr) == (
        '{"action":"satellite","subaction":"802.1x-CSR-Response","satelliteFlags":2,'
        f'"nodeid":"{NODE}","domain":"","reqid":"","authProtocol":0,"osname":"win11",'
        '"devname":"desktop-01","icon":1,"signedcsr":"MIID","ver":""}'
    )


def test_a_device_without_hostname_sends_no_devname() -> None:
    # JSON.stringify drops undefined: upstream sends no devname key, not null.
    assert "devname" not in messages.profile_request(node_id=NODE, auth_protocol=0, device_name=None)


@pytest.mark.parametrize(
    ("request_subaction", "reply_subaction", "fits"),
    [
        (messages.PROFILE_REQUEST, "802.1x-ProFile-Request", True),  # the current EA echoes it (§2.6)
        (messages.PROFILE_REQUEST, "802.1x-KeyPair-Request", True),
        (messages.PROFILE_REQUEST, "Profile-Completed", True),
        (messages.PROFILE_REQUEST, "802.1x-Profile-Completed", True),
        (messages.KEY_PAIR_RESPONSE, "CSR-Request", True),
        (messages.KEY_PAIR_RESPONSE, "802.1x-CSR-Request", True),
        (messages.KEY_PAIR_RESPONSE, "Profile-Completed", False),
        (messages.KEY_PAIR_RESPONSE, "802.1x-ProFile-Request", False),
        (messages.CSR_RESPONSE, "Profile-Completed", True),
        (messages.CSR_RESPONSE, "CSR-Request", False),
        (messages.CSR_RESPONSE, None, False),
    ],
)
def test_which_replies_answer_which_request(request_subaction: str, reply_subaction: object, fits: bool) -> None:
    assert messages.reply_fits(request_subaction, {"subaction": reply_subaction}) is fits


def peap_request() -> dict[str, Any]:
    return messages.profile_request(node_id=NODE, auth_protocol=2, device_name="desktop-01")


def test_a_peap_reply_becomes_an_account_with_a_masked_password() -> None:
    answers = EaAnswers()
    reply = messages.parse_profile_reply(answers.peap(peap_request(), password="Canary+Pass/word1"), auth_protocol=2)
    assert reply.account is not None
    assert reply.account.username == "iME$desktop-01$" and reply.account.domain == "corp.example.com"
    assert reply.account.password.reveal() == "Canary+Pass/word1"
    assert reply.account.root_certificate == answers.ca.root
    assert "Canary" not in repr(reply) and "Canary" not in str(reply.account)


def test_an_eap_tls_profile_reply_needs_nothing() -> None:
    echoed = messages.profile_request(node_id=NODE, auth_protocol=0, device_name="desktop-01")
    assert messages.parse_profile_reply(echoed, auth_protocol=0).account is None


@pytest.mark.parametrize(
    ("mutate", "cause"),
    [
        (lambda reply: reply.pop("response"), "the reply has no response object"),
        (lambda reply: reply["response"].pop("password"), "response.password is missing"),
        (lambda reply: reply["response"].update(username=7), "response.username is missing"),
        (lambda reply: reply["response"].update(rootcert="not base64!"), "response.rootcert is not base64"),
        (lambda reply: reply["response"].update(rootcert=b64(b"junk")), "response.rootcert is not a DER certificate"),
        (lambda reply: reply.update(subaction="CSR-Request"), "not Profile-Completed"),
    ],
)
def test_a_broken_peap_reply_names_what_is_wrong_without_its_values(mutate: Any, cause: str) -> None:
    reply = EaAnswers().peap(peap_request(), password="Canary+Pass/word1")
    mutate(reply)
    with pytest.raises(EnterpriseAssistantReplyMalformed) as refused:
        messages.parse_profile_reply(reply, auth_protocol=2)
    assert cause in str(refused.value) and refused.value.step == messages.PROFILE_REQUEST
    assert "Canary" not in str(refused.value)


def key_pair_request(amt: AmtKey) -> dict[str, Any]:
    return messages.key_pair_response(
        node_id=NODE, device_name="desktop-01", der_key=amt.der_key, key_instance_id=KEY_INSTANCE_ID
    )


def test_the_csr_template_must_be_for_amts_key_and_key_pair() -> None:
    amt, answers = AmtKey(), EaAnswers()
    public_key = amt.key.public_key()
    template = messages.parse_csr_request(
        answers.csr_request(key_pair_request(amt)), public_key=public_key, key_instance_id=KEY_INSTANCE_ID
    )
    assert template.key_instance_id == KEY_INSTANCE_ID
    assert template.subject.rfc4514_string() == "CN=desktop-01"
    other = answers.csr_request(key_pair_request(AmtKey()))
    with pytest.raises(EnterpriseAssistantReplyMalformed, match="another public key"):
        messages.parse_csr_request(other, public_key=public_key, key_instance_id=KEY_INSTANCE_ID)
    renamed = answers.csr_request(key_pair_request(amt))
    renamed["response"]["keyInstanceId"] = "Intel(r) AMT Key: Handle: 9"  # S11
    with pytest.raises(EnterpriseAssistantReplyMalformed, match="another key pair"):
        messages.parse_csr_request(renamed, public_key=public_key, key_instance_id=KEY_INSTANCE_ID)
    garbled = answers.csr_request(key_pair_request(amt))
    garbled["response"]["csr"] = b64(b"\x30\x03\x02\x01\x00")
    with pytest.raises(EnterpriseAssistantReplyMalformed, match="not a DER PKCS#10"):
        messages.parse_csr_request(garbled, public_key=public_key, key_instance_id=KEY_INSTANCE_ID)


def test_the_issued_certificate_must_be_for_amts_key() -> None:
    amt, answers = AmtKey(), EaAnswers()
    template = answers.csr_request(key_pair_request(amt))
    signed_csr = amt.sign(template["response"]["csr"])
    signed = messages.csr_response(node_id=NODE, device_name="desktop-01", signed_csr=signed_csr)
    issued = messages.parse_issued_certificate(answers.issued(signed), public_key=amt.key.public_key())
    assert issued.certificate.public_key() == amt.key.public_key()
    assert issued.root_certificate == answers.ca.root and issued.username == "iME$desktop-01$"
    assert base64.b64decode(messages.certificate_blob(issued.certificate)) == issued.certificate.public_bytes(
        serialization.Encoding.DER
    )
    with pytest.raises(EnterpriseAssistantReplyMalformed, match="another public key"):
        messages.parse_issued_certificate(answers.issued(signed), public_key=AmtKey().key.public_key())
    without_root = answers.issued(signed)
    del without_root["response"]["rootcert"]  # S13
    with pytest.raises(EnterpriseAssistantReplyMalformed, match=r"response\.rootcert is missing"):
        messages.parse_issued_certificate(without_root, public_key=amt.key.public_key())
    without_user = answers.issued(signed)
    del without_user["response"]["username"]  # S14: the identity is optional, as upstream
    assert messages.parse_issued_certificate(without_user, public_key=amt.key.public_key()).username is None


def test_der_key_must_be_a_pkcs1_rsa_key() -> None:
    assert messages.rsa_public_key_from_der_key(AmtKey().der_key).key_size == 2048
    for bad in ("not base64!", b64(b"junk")):
        with pytest.raises(ValueError):
            messages.rsa_public_key_from_der_key(bad)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)
reply_shapes = st.fixed_dictionaries(
    {"subaction": st.sampled_from(["Profile-Completed", "CSR-Request", "x"]) | json_values},
    optional={
        "response": st.fixed_dictionaries(
            {},
            optional={
                name: json_values | st.just(b64(b"junk"))
                for name in ("username", "password", "rootcert", "csr", "keyInstanceId", "certificate", "domain")
            },
        )
        | json_values
    },
)


@settings(max_examples=300, deadline=None)
@given(reply=reply_shapes)
def test_any_reply_is_either_read_or_refused_by_name(reply: dict[str, Any]) -> None:
    public_key = AMT.key.public_key()
    for step in messages.REPLIES:
        assert messages.reply_fits(step, reply) in (True, False)
    for parse in (
        lambda: messages.parse_profile_reply(reply, auth_protocol=2),
        lambda: messages.parse_csr_request(reply, public_key=public_key, key_instance_id=KEY_INSTANCE_ID),
        lambda: messages.parse_issued_certificate(reply, public_key=public_key),
    ):
        try:
            parse()
        except EnterpriseAssistantReplyMalformed as refused:
            assert refused.step in messages.REPLIES and json.dumps(refused.cause)


AMT = AmtKey()
