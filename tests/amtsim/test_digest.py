"""Digest auth: RFC 2617's vector, the spec's AMT vector, and the device-side verifier."""

from __future__ import annotations

from amtsim.digest import (
    AuthFailure,
    DigestChallenge,
    DigestClient,
    NonceRegistry,
    admin_digest_password,
    admin_password_hash,
    digest_ha1,
    digest_response,
    parse_digest_params,
    verify_authorization,
)


def test_rfc2617_section_3_5_vector() -> None:
    ha1 = digest_ha1(username="Mufasa", realm="testrealm@host.com", password="Circle Of Life")
    response = digest_response(
        ha1=ha1,
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        nc="00000001",
        cnonce="0a4f113b",
        method="GET",
        uri="/dir/index.html",
    )
    assert response == "6629fae49393a05397450978507c4ef1"


def test_protocol_worked_example() -> None:
    realm = "Digest:A4070000000000000000000000000000"
    ha1 = digest_ha1(username="$$OsAdmin", realm=realm, password="P@ssw0rd")
    assert ha1 == "503a9b6e75e11b989e4ad1a72a080f8d"
    response = digest_response(ha1=ha1, nonce="wlbEK1EtAAAAAAAAWW5aUHFp+mQQ1j63", nc="00000001", cnonce="k2j4h5")
    assert response == "3cc690a850cf0f54988fafb9d31f238c"


def test_amt_password_encodings() -> None:
    realm = "Digest:A4070000000000000000000000000000"
    assert admin_password_hash(realm=realm, password="P@ssw0rd") == "6ab9192fba58a04d5e0c4df89b9a4350"
    assert admin_digest_password(realm=realm, password="P@ssw0rd") == "arkZL7pYoE1eDE34m5pDUA=="


def test_challenge_header_matches_amt_bytes() -> None:
    challenge = DigestChallenge(
        realm="Digest:A4070000000000000000000000000000", nonce="wlbEK1EtAAAAAAAAWW5aUHFp+mQQ1j63"
    )
    recorded = (
        'Digest realm="Digest:A4070000000000000000000000000000", '
        'nonce="wlbEK1EtAAAAAAAAWW5aUHFp+mQQ1j63",stale="false",qop="auth"'
    )
    assert challenge.header_value() == recorded
    assert DigestChallenge.parse(recorded) == challenge


def test_parse_handles_quoted_and_bare_values() -> None:
    params = parse_digest_params('Digest username="a,b",nc=00000002, qop="auth"')
    assert params == {"username": "a,b", "nc": "00000002", "qop": "auth"}


def _verify(header: str | None, registry: NonceRegistry, *, password: str = "pw", uri: str = "/wsman"):
    realm = "Digest:00000000000000000000000000000001"
    return verify_authorization(
        header_value=header,
        method="POST",
        request_target=uri,
        realm=realm,
        accounts={"admin": digest_ha1(username="admin", realm=realm, password=password)},
        nonces=registry,
    )


def _client(registry: NonceRegistry, password: str = "pw") -> DigestClient:
    client = DigestClient("admin", password)
    client.challenge = DigestChallenge(realm="Digest:00000000000000000000000000000001", nonce=registry.issue())
    return client


def test_verifier_accepts_good_answer_and_increasing_nc() -> None:
    registry = NonceRegistry()
    client = _client(registry)
    assert _verify(client.authorization(), registry).ok
    assert _verify(client.authorization(), registry).ok


def test_verifier_rejects_replay_of_same_nc() -> None:
    registry = NonceRegistry()
    header = _client(registry).authorization()
    assert _verify(header, registry).ok
    assert _verify(header, registry).failure is AuthFailure.REPLAYED_NC


def test_verifier_rejects_wrong_password_unknown_nonce_uri_and_missing() -> None:
    registry = NonceRegistry()
    assert _verify(_client(registry, password="wrong").authorization(), registry).failure is AuthFailure.BAD_RESPONSE
    assert _verify(None, registry).failure is AuthFailure.MISSING
    foreign = DigestClient("admin", "pw")
    foreign.challenge = DigestChallenge(realm="Digest:00000000000000000000000000000001", nonce="never-issued")
    assert _verify(foreign.authorization(), registry).failure is AuthFailure.STALE_NONCE
    client = _client(registry)
    assert _verify(client.authorization(uri="/other"), registry).failure is AuthFailure.WRONG_URI
    other_user = DigestClient("$$OsAdmin", "pw", challenge=client.challenge)
    assert _verify(other_user.authorization(), registry).failure is AuthFailure.UNKNOWN_USER


def test_expired_nonces_are_stale() -> None:
    registry = NonceRegistry()
    client = _client(registry)
    registry.expire_all()
    assert _verify(client.authorization(), registry).failure is AuthFailure.STALE_NONCE
