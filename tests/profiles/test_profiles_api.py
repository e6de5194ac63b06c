"""AMT profiles: the shared API suite plus the profile rules of rest-api.md §2.3."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography import x509
from rest_framework.test import APIClient

from profiles.models import (
    CiraConfig,
    Ieee8021xConfig,
    Profile,
    ProxyConfig,
    WirelessConfig,
)
from profiles.tls_certificates import ISSUED_KEY, ROOT_KEY, ProfileTlsCertificates
from rps_site.api.versions import next_version
from rps_site.sensitive import Secret
from rps_site.vault import SecretStore, profile_passwords_path, profile_tls_path
from tests.profiles.api_suite import ApiResourceSuite, client_for, response_text, unique_name

URL = "/api/v1/admin/profiles"
STRONG = "Intel123!"
OTHER = "P@ssw0rd"
RECORD_KEYS = [
    "profileName",
    "activation",
    "ciraConfigName",
    "generateRandomPassword",
    "generateRandomMEBxPassword",
    "tags",
    "dhcpEnabled",
    "tlsMode",
    "userConsent",
    "iderEnabled",
    "kvmEnabled",
    "solEnabled",
    "tenantId",
    "tlsSigningAuthority",
    "version",
    "ieee8021xProfileName",
    "wifiConfigs",
    "ipSyncEnabled",
    "localWifiSyncEnabled",
    "uefiWifiSyncEnabled",
    "proxyConfigs",
]


def acm_body(name: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "profileName": name,
        "activation": "acmactivate",
        "amtPassword": STRONG,
        "mebxPassword": OTHER,
        "dhcpEnabled": True,
        "tags": ["t1"],
    }
    body.update(overrides)
    return body


def ccm_random_body(name: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "profileName": name,
        "activation": "ccmactivate",
        "generateRandomPassword": True,
        "generateRandomMEBxPassword": True,
        "dhcpEnabled": False,
    }
    body.update(overrides)
    return body


class TestProfileApi(ApiResourceSuite):
    url = URL
    model = Profile
    name_field = "profileName"
    secret_fields = {"amtPassword": "AMT_PASSWORD", "mebxPassword": "MEBX_PASSWORD"}
    not_found = "AMT profile {name} Not Found"
    duplicate = ("Unique key violation", "AMT profile {name} already exists")
    changed_field = ("tags", ["changed"])
    if_match_sets_version = True

    def create_body(self, name: str) -> dict[str, Any]:
        return acm_body(name)

    def update_body(self, name: str, version: str | None) -> dict[str, Any]:
        return {"profileName": name, "activation": "acmactivate", "tags": ["changed"], "version": version}

    def vault_path(self, tenant_id: str, name: str) -> str:
        return profile_passwords_path(tenant_id, name)


@pytest.fixture
def api(vault: SecretStore, db: None) -> APIClient:
    return client_for("")


def post(api: APIClient, body: dict[str, Any]) -> Any:
    return api.post(URL, body, format="json")


def patch(api: APIClient, body: dict[str, Any], **headers: Any) -> Any:
    return api.patch(URL, body, format="json", **headers)


def errors_of(response: Any) -> list[tuple[str, str]]:
    assert response.status_code == 400, response_text(response)
    return [(error["path"], error["msg"]) for error in response.json()["errors"]]


def make_cira(name: str, tenant_id: str = "") -> CiraConfig:
    return CiraConfig.objects.create(
        tenant_id=tenant_id,
        version=next_version(),
        name=name,
        mps_server_address="192.168.8.50",
        mps_port=4433,
        username="admin",
        common_name="192.168.8.50",
        server_address_format=3,
        auth_method=2,
        mps_root_certificate="rootcert",
    )


def make_wireless(name: str, tenant_id: str = "") -> WirelessConfig:
    return WirelessConfig.objects.create(
        tenant_id=tenant_id, version=next_version(), name=name, authentication_method=4, encryption_method=4, ssid=name
    )


def make_proxy(name: str, tenant_id: str = "") -> ProxyConfig:
    return ProxyConfig.objects.create(
        tenant_id=tenant_id,
        version=next_version(),
        name=name,
        address=f"{name}.example.com",
        info_format=201,
        port=3128,
        network_dns_suffix="example.com",
    )


def make_8021x(name: str, *, wired: bool, tenant_id: str = "", protocol: int = 0) -> Ieee8021xConfig:
    return Ieee8021xConfig.objects.create(
        tenant_id=tenant_id,
        version=next_version(),
        name=name,
        authentication_protocol=protocol,
        pxe_timeout=120 if wired else None,
        wired_interface=wired,
    )


# --- create validation (Postman: Profiles folder) --------------------------------------------------


def test_create_without_activation(api: APIClient) -> None:
    body = {"profileName": "p6", "amtPassword": STRONG, "mebxPassword": STRONG, "generateRandomPassword": False}
    assert errors_of(post(api, body))[:2] == [
        ("activation", "Activation is required"),
        (
            "activation",
            "Activation accepts either acmactivate (admin control activation) or ccmactivate "
            "(client control mode activation)",
        ),
    ]


def test_create_without_amt_password(api: APIClient) -> None:
    body = {"profileName": "p6", "activation": "ccmactivate", "dhcpEnabled": False, "generateRandomPassword": False}
    assert errors_of(post(api, body)) == [
        ("activation", "Either generateRandomPassword should be enabled or provide amtPassword"),
        ("generateRandomPassword", "If generate random AMT password is disabled, amtPassword is mandatory"),
    ]


def test_create_with_both_random_and_static_amt_password(api: APIClient) -> None:
    body = {
        "profileName": "p6",
        "amtPassword": STRONG,
        "activation": "ccmactivate",
        "dhcpEnabled": False,
        "generateRandomPassword": True,
    }
    response = post(api, body)
    error = response.json()["errors"][0]
    assert error == {
        "type": "field",
        "value": True,
        "msg": "Either generate Random AMT Password should be enabled or should provide AMT Password but not both",
        "path": "generateRandomPassword",
        "location": "body",
    }


def test_weak_passwords_are_rejected_without_echo(api: APIClient) -> None:
    body = acm_body("p6", amtPassword="Intel123", mebxPassword="Intel123")
    response = post(api, body)
    errors = response.json()["errors"]
    assert [error["path"] for error in errors] == ["amtPassword", "mebxPassword"]
    assert all("value" not in error for error in errors)
    assert "Intel123" not in response_text(response)


def test_weak_amt_password_is_rejected_even_when_the_flag_is_omitted(api: APIClient) -> None:
    body = {"profileName": "p6", "activation": "ccmactivate", "amtPassword": "abc", "dhcpEnabled": True}
    assert errors_of(post(api, body))[0][0] == "amtPassword"


def test_acm_needs_a_mebx_password(api: APIClient) -> None:
    body = acm_body("p6")
    del body["mebxPassword"]
    assert errors_of(post(api, body)) == [
        ("activation", "MEBx Password is required for acmactivate"),
        ("generateRandomMEBxPassword", "If generate random MEBx password is disabled, mebxPassword is mandatory"),
    ]


def test_invalid_kvm_options_in_upstream_order(api: APIClient) -> None:
    body = ccm_random_body(
        "kvm", userConsent="BadValue", iderEnabled="foo", kvmEnabled="foo", solEnabled="foo", tags=["tag1"]
    )
    assert errors_of(post(api, body)) == [
        ("userConsent", "User consent must be one of None,All,KVM"),
        ("userConsent", "User consent is required for all the actions in client control mode"),
        ("iderEnabled", "IDER enabled must be a boolean"),
        ("kvmEnabled", "KVM enabled must be a boolean"),
        ("solEnabled", "Serial Over Lan (sol) enabled must be a boolean"),
    ]


def test_tls_mode_and_authority_rules(api: APIClient) -> None:
    response = post(api, ccm_random_body("tls", tlsMode=5))
    assert response.json()["errors"][0]["value"] == 5
    response = post(api, acm_body("tls", tlsSigningAuthority="BogusCA"))
    assert response.json()["errors"][0] == {
        "type": "field",
        "value": "BogusCA",
        "msg": "TLS Signing Authority must be one of SelfSigned,MicrosoftCA",
        "path": "tlsSigningAuthority",
        "location": "body",
    }
    make_cira("cira3")
    response = post(api, ccm_random_body("tls", ciraConfigName="cira3", tlsMode=4))
    assert response.json()["errors"][0]["msg"] == "CIRA cannot be configured if TLS is enabled"
    assert response.json()["errors"][0]["value"] == "cira3"


def test_wifi_without_dhcp_flag(api: APIClient) -> None:
    body = acm_body("w", wifiConfigs=[{"priority": 1, "profileName": "home2"}])
    del body["dhcpEnabled"]
    assert errors_of(post(api, body)) == [
        ("dhcpEnabled", "Invalid value"),
        ("dhcpEnabled", "DHCP enabled must be a boolean"),
        ("wifiConfigs", "Wifi supports only DHCP in AMT"),
    ]


@pytest.mark.parametrize(
    ("links", "message"),
    [
        ([{"priority": 355, "profileName": "a"}], "wifi config priority should be an integer and between 1 and 255"),
        ([{"priority": -1, "profileName": "a"}], "wifi config priority should be an integer and between 1 and 255"),
        ([{"priority": 1, "profileName": "home2"}, {"priority": 2, "profileName": "test"}],
         "wifi configs home2,test does not exists in db"),
        ([{"priority": n, "profileName": f"w{n}"} for n in range(1, 10)],
         "A maximum of 8 wifi profiles can be stored at a time."),
    ],
)  # fmt: skip
def test_wifi_link_rules(api: APIClient, links: list[dict[str, Any]], message: str) -> None:
    assert errors_of(post(api, acm_body("w", wifiConfigs=links))) == [("wifiConfigs", message)]


def test_non_integer_priority_is_refused_without_a_partial_write(api: APIClient) -> None:
    make_wireless("home")
    response = post(api, acm_body("q17", wifiConfigs=[{"priority": "1", "profileName": "home"}]))
    assert response.status_code == 400
    assert response.json() == {"error": "Error", "message": "Operation failed: q17"}
    assert not Profile.objects.filter(name="q17").exists()


def test_8021x_must_exist_and_be_wired_on_create(api: APIClient) -> None:
    make_8021x("wireless1x", wired=False)
    response = post(api, ccm_random_body("x", ieee8021xProfileName="wireless1x"))
    assert response.json()["errors"][0] == {
        "type": "field",
        "value": "wireless1x",
        "msg": "Ieee8021x profile wireless1x is for wireless interfaces",
        "path": "ieee8021xProfileName",
        "location": "body",
    }
    response = post(api, ccm_random_body("x", ieee8021xProfileName="notInDb"))
    assert response.json()["errors"][0]["msg"] == "Ieee8021x profile notInDb does not exist in db"


@pytest.mark.parametrize(("protocol", "label"), [(3, "PEAPv1/EAP-GTC"), (5, "EAP-FAST/GTC"), (10, "EAP-FAST/TLS")])
def test_8021x_protocols_the_enterprise_assistant_cannot_serve_are_refused(
    api: APIClient, protocol: int, label: str
) -> None:
    """Upstream accepts them and the activation waits out the EA's silence (B5): refused here,
    on create and on update, naming the cause."""
    make_8021x("gtc1x", wired=True, protocol=protocol)
    make_8021x("tls1x", wired=True)
    refusal = (
        f"Ieee8021x profile gtc1x uses {protocol}:{label}, which the Enterprise Assistant does not serve; "
        "AMT profiles support 0:EAP-TLS and 2:PEAPv0/EAP-MSCHAPv2"
    )
    name = unique_name()
    assert errors_of(post(api, ccm_random_body(name, ieee8021xProfileName="gtc1x"))) == [
        ("ieee8021xProfileName", refusal)
    ]
    created = post(api, ccm_random_body(name, ieee8021xProfileName="tls1x")).json()
    base = {"profileName": name, "activation": "ccmactivate", "version": created["version"]}
    assert errors_of(patch(api, {**base, "ieee8021xProfileName": "gtc1x"})) == [("ieee8021xProfileName", refusal)]
    assert Profile.objects.get(name=name).ieee8021x_config.name == "tls1x"


def test_unknown_cira_config_is_a_foreign_key_error(api: APIClient) -> None:
    response = post(api, acm_body("c", ciraConfigName="nociraconfig"))
    assert response.status_code == 400
    assert "Foreign key constraint violation" in response.json()["error"]
    assert response.json()["message"] == "Referenced constraint nociraconfig doesn't exist"


def test_list_types_that_slip_through_element_checks_are_a_clear_400(api: APIClient) -> None:
    for field, value in (("profileName", ["x"]), ("activation", ["ccmactivate"]), ("tlsMode", [2])):
        response = post(api, ccm_random_body("lists", **{field: value}))
        assert response.status_code == 400, field
        assert response.json()["errors"][0]["path"] == field


# --- create behaviour ---------------------------------------------------------------------------------


def test_ccm_defaults_and_record_shape(api: APIClient, vault: SecretStore) -> None:
    name = unique_name()
    response = post(api, ccm_random_body(name, tags=["tag1"], localWifiSyncEnabled=True, uefiWifiSyncEnabled=True))
    assert response.status_code == 201, response_text(response)
    record = response.json()
    assert list(record) == RECORD_KEYS
    assert record["userConsent"] == "All"
    assert (record["iderEnabled"], record["kvmEnabled"], record["solEnabled"]) == (False, True, False)
    assert record["ciraConfigName"] is None and record["tlsMode"] is None and record["tlsSigningAuthority"] is None
    assert record["ipSyncEnabled"] is None and record["wifiConfigs"] == [] and record["proxyConfigs"] == []
    # Both passwords generated per device: nothing to keep in Vault.
    assert vault.read(profile_passwords_path("", name)) is None


def test_acm_defaults_user_consent_to_kvm(api: APIClient) -> None:
    assert post(api, acm_body(unique_name())).json()["userConsent"] == "KVM"


def test_ccm_stores_no_mebx_password_anywhere(api: APIClient, vault: SecretStore) -> None:
    name = unique_name()
    canary = "Mebx-Canary-9!" + name[:6]
    response = post(api, {**acm_body(name, activation="ccmactivate"), "mebxPassword": canary})
    assert response.status_code == 201, response_text(response)
    stored = vault.read(profile_passwords_path("", name))
    assert stored is not None
    assert stored.values["AMT_PASSWORD"].reveal() == STRONG
    assert stored.values["MEBX_PASSWORD"].reveal() == ""


def test_tls_self_signed_certificate_is_stored_compactly(api: APIClient, vault: SecretStore) -> None:
    name = unique_name()
    response = post(api, ccm_random_body(name, tlsMode=4))
    assert response.status_code == 201, response_text(response)
    assert response.json()["tlsSigningAuthority"] == "SelfSigned"
    stored = vault.read(profile_tls_path("", name))
    assert stored is not None and set(stored.values) == {ROOT_KEY, ISSUED_KEY}
    certificates = ProfileTlsCertificates.from_secret_values(stored.values)
    root, issued = certificates.root, certificates.issued
    root_cert = x509.load_der_x509_certificate(base64.b64decode(root.certbin))
    issued_cert = x509.load_der_x509_certificate(base64.b64decode(issued.certbin))
    common_name = x509.oid.NameOID.COMMON_NAME
    assert root_cert.subject.get_attributes_for_oid(common_name)[0].value == f"oact-{name}"
    assert issued_cert.subject.get_attributes_for_oid(common_name)[0].value == f"oact-issued-{name}"
    assert issued_cert.issuer == root_cert.subject
    issued_cert.verify_directly_issued_by(root_cert)
    assert root.private_key_bin.startswith("-----BEGIN RSA PRIVATE KEY-----\r\n")
    assert "\n" not in root.pem
    assert vault.read(profile_passwords_path("", name)) is None


def test_microsoft_ca_writes_no_certificate(api: APIClient, vault: SecretStore) -> None:
    name = unique_name()
    assert post(api, ccm_random_body(name, tlsMode=1, tlsSigningAuthority="MicrosoftCA")).status_code == 201
    assert vault.read(profile_tls_path("", name)) is None


def test_authority_without_tls_is_cleared(api: APIClient) -> None:
    record = post(api, ccm_random_body(unique_name(), tlsSigningAuthority="MicrosoftCA")).json()
    assert record["tlsSigningAuthority"] is None


def test_wifi_links_by_priority_and_proxy_links_by_name(api: APIClient) -> None:
    for name in ("home", "office", "business"):
        make_wireless(name)
    for name in ("zproxy", "aproxy"):
        make_proxy(name)
    body = acm_body(
        unique_name(),
        wifiConfigs=[
            {"priority": 3, "profileName": "business"},
            {"priority": 1, "profileName": "HOME"},
            {"priority": 2, "profileName": "office"},
        ],
        proxyConfigs=[{"priority": 1, "name": "zproxy"}, {"priority": 2, "name": "aproxy"}],
    )
    record = post(api, body).json()
    assert record["wifiConfigs"] == [
        {"priority": 1, "profileName": "home"},
        {"priority": 2, "profileName": "office"},
        {"priority": 3, "profileName": "business"},
    ]
    assert record["proxyConfigs"] == [{"name": "aproxy", "priority": 2}, {"name": "zproxy", "priority": 1}]
    listed = api.get(URL).json()
    assert [item for item in listed if item["profileName"] == body["profileName"]] == [record]


# --- update ---------------------------------------------------------------------------------------------


def test_update_requires_activation_and_version(api: APIClient) -> None:
    assert errors_of(patch(api, {"profileName": "p", "activation": "activate", "version": "1"}))[0] == (
        "activation",
        "Activation accepts either acmactivate (admin control activation) or ccmactivate "
        "(client control mode activation)",
    )
    assert errors_of(patch(api, {"profileName": "p", "activation": "ccmactivate"})) == [
        ("version", "Version is required to patch/update a record.")
    ]


def test_update_keeps_stored_passwords_with_check_and_set(api: APIClient, vault: SecretStore) -> None:
    name = unique_name()
    record = post(api, acm_body(name)).json()
    path = profile_passwords_path("", name)
    before = vault.read(path)
    response = patch(api, {"profileName": name, "activation": "acmactivate", "version": record["version"]})
    assert response.status_code == 200, response_text(response)
    after = vault.read(path)
    assert after is not None and before is not None and after.version == before.version + 1
    assert after.values["AMT_PASSWORD"].reveal() == STRONG and after.values["MEBX_PASSWORD"].reveal() == OTHER


def test_update_with_new_password_replaces_the_secret(api: APIClient, vault: SecretStore) -> None:
    name = unique_name()
    record = post(api, acm_body(name)).json()
    new = "N3w-Passw0rd!"
    response = patch(
        api, {"profileName": name, "activation": "acmactivate", "amtPassword": new, "version": record["version"]}
    )
    assert response.status_code == 200 and new not in response_text(response)
    stored = vault.read(profile_passwords_path("", name))
    assert stored is not None and stored.values["AMT_PASSWORD"].reveal() == new
    assert stored.values["MEBX_PASSWORD"].reveal() == OTHER


def test_ccm_to_acm_needs_a_mebx_password(api: APIClient, vault: SecretStore) -> None:
    name = unique_name()
    record = post(api, ccm_random_body(name, generateRandomMEBxPassword=False)).json()
    body = {
        "profileName": name,
        "activation": "acmactivate",
        "generateRandomPassword": False,
        "generateRandomMEBxPassword": False,
        "version": record["version"],
    }
    response = patch(api, body)
    assert response.status_code == 400
    assert response.json() == {"error": "Error", "message": "MEBx password is required for acmactivate"}
    response = patch(api, {**body, "generateRandomPassword": True, "mebxPassword": OTHER})
    assert response.status_code == 200, response_text(response)
    stored = vault.read(profile_passwords_path("", name))
    assert stored is not None and stored.values["MEBX_PASSWORD"].reveal() == OTHER
    assert stored.values["AMT_PASSWORD"].reveal() == ""


@pytest.mark.django_db(transaction=True)  # secrets are destroyed on the commit
def test_switching_to_random_passwords_destroys_the_secret(api: APIClient, vault: SecretStore) -> None:
    name = unique_name()
    record = post(api, acm_body(name)).json()
    body = {
        "profileName": name,
        "activation": "acmactivate",
        "generateRandomPassword": True,
        "generateRandomMEBxPassword": True,
        "version": record["version"],
    }
    assert patch(api, body).status_code == 200
    assert vault.read(profile_passwords_path("", name)) is None


def test_missing_stored_secret_refuses_to_write_a_placeholder(api: APIClient, vault: SecretStore) -> None:
    name = unique_name()
    record = post(api, acm_body(name)).json()
    vault.destroy(profile_passwords_path("", name))
    response = patch(api, {"profileName": name, "activation": "acmactivate", "version": record["version"]})
    assert response.status_code == 400
    assert response.json()["message"] == (
        f"Operation failed: reading stored credentials for profile {name}; "
        "refusing to overwrite secret with placeholder"
    )


@pytest.mark.django_db(transaction=True)  # secrets are destroyed on the commit
def test_cira_to_tls_writes_the_certificate_and_back_keeps_it(api: APIClient, vault: SecretStore) -> None:
    make_cira("cira3")
    name = unique_name()
    record = post(api, ccm_random_body(name, ciraConfigName="cira3", tlsMode=None)).json()
    assert record["ciraConfigName"] == "cira3"
    assert vault.read(profile_tls_path("", name)) is None
    common = {"profileName": name, "activation": "ccmactivate", "generateRandomPassword": True, "dhcpEnabled": True}
    response = patch(api, {**common, "ciraConfigName": None, "tlsMode": 2, "version": record["version"]})
    assert response.status_code == 200, response_text(response)
    assert response.json()["tlsMode"] == 2 and response.json()["ciraConfigName"] is None
    first = vault.read(profile_tls_path("", name))
    assert first is not None
    response = patch(api, {**common, "tlsMode": 4, "version": response.json()["version"]})
    assert vault.read(profile_tls_path("", name)) == first
    response = patch(api, {**common, "ciraConfigName": "cira3", "tlsMode": None, "version": response.json()["version"]})
    assert response.json()["tlsMode"] is None and response.json()["ciraConfigName"] == "cira3"
    assert vault.read(profile_tls_path("", name)) is not None
    assert api.delete(f"{URL}/{name}").status_code == 204
    assert vault.read(profile_tls_path("", name)) is None


def test_omitted_links_are_cleared_on_update(api: APIClient) -> None:
    make_cira("cira3")
    make_wireless("home")
    make_proxy("aproxy")
    name = unique_name()
    created = post(
        api,
        acm_body(
            name,
            ciraConfigName="cira3",
            wifiConfigs=[{"priority": 1, "profileName": "home"}],
            proxyConfigs=[{"priority": 1, "name": "aproxy"}],
        ),
    ).json()
    response = patch(api, {"profileName": name, "activation": "acmactivate", "version": created["version"]})
    record = response.json()
    assert record["ciraConfigName"] is None and record["proxyConfigs"] == [] and record["wifiConfigs"] == []
    assert record["dhcpEnabled"] is True and record["tags"] == ["t1"]


def test_update_wifi_rules(api: APIClient) -> None:
    make_wireless("home")
    name = unique_name()
    created = post(api, acm_body(name, wifiConfigs=[{"priority": 1, "profileName": "home"}])).json()
    base = {"profileName": name, "activation": "acmactivate", "version": created["version"]}
    links = [{"priority": 1, "profileName": "home"}]
    assert errors_of(patch(api, {**base, "wifiConfigs": links})) == [("wifiConfigs", "DHCP enabled should be true")]
    assert errors_of(patch(api, {**base, "dhcpEnabled": False, "wifiConfigs": links})) == [
        ("wifiConfigs", "Wifi supports only DHCP in AMT")
    ]
    response = patch(api, {**base, "dhcpEnabled": False})
    assert response.json()["wifiConfigs"] == [] and response.json()["dhcpEnabled"] is False
    version = response.json()["version"]
    response = patch(api, {**base, "version": version, "dhcpEnabled": True, "wifiConfigs": links})
    assert response.json()["wifiConfigs"] == [{"priority": 1, "profileName": "home"}]


def test_update_8021x_only_needs_to_exist(api: APIClient) -> None:
    make_8021x("wired1", wired=True)
    make_8021x("wireless1", wired=False)
    name = unique_name()
    created = post(api, ccm_random_body(name, ieee8021xProfileName="wired1")).json()
    base = {"profileName": name, "activation": "ccmactivate", "version": created["version"]}
    assert errors_of(patch(api, {**base, "ieee8021xProfileName": "nope"})) == [
        ("ieee8021xProfileName", "IEEEProfile config nope does not exists in db")
    ]
    assert patch(api, {**base, "ieee8021xProfileName": "wireless1"}).json()["ieee8021xProfileName"] == "wireless1"


def test_update_with_unknown_cira_is_operation_failed(api: APIClient) -> None:
    name = unique_name()
    created = post(api, ccm_random_body(name)).json()
    response = patch(
        api, {"profileName": name, "activation": "ccmactivate", "ciraConfigName": "x", "version": created["version"]}
    )
    assert response.json() == {"error": "Error", "message": f"Operation failed: {name}"}


# --- secrets and names ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # secrets are destroyed on the commit
def test_hostile_name_touches_no_other_vault_path(api: APIClient, vault: SecretStore) -> None:
    target = unique_name("victim")
    vault.create(f"profiles/{target}", {"AMT_PASSWORD": Secret("Untouched1!")})
    hostile = f"../profiles/{target}"
    response = post(api, acm_body(hostile))
    assert response.status_code == 201, response_text(response)
    victim = vault.read(f"profiles/{target}")
    assert victim is not None and victim.version == 1
    assert victim.values["AMT_PASSWORD"].reveal() == "Untouched1!"
    stored = vault.read(profile_passwords_path("", hostile))
    assert stored is not None and stored.values["AMT_PASSWORD"].reveal() == STRONG
    encoded = hostile.replace("/", "%2F")
    assert api.get(f"{URL}/{encoded}").json()["profileName"] == hostile
    assert api.delete(f"{URL}/{encoded}").status_code == 204
    assert vault.read(profile_passwords_path("", hostile)) is None
    assert vault.read(f"profiles/{target}") is not None


def test_no_secret_reaches_the_database(api: APIClient) -> None:
    from django.db import connection

    name = unique_name()
    canary = "Canary-" + name[-8:] + "!1a"
    assert post(api, acm_body(name, amtPassword=canary, mebxPassword=canary)).status_code == 201
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(p)::text FROM profiles_profile p")
        rows = [row[0] for row in cursor.fetchall()]
    assert rows and all(canary not in row for row in rows)


def test_conflict_body_has_no_secret_keys(api: APIClient) -> None:
    name = unique_name()
    post(api, acm_body(name))
    response = patch(api, {**acm_body(name), "version": "123"})
    assert response.status_code == 409
    body = response.json()
    assert list(body) == RECORD_KEYS
    assert STRONG not in json.dumps(body) and OTHER not in json.dumps(body)


def test_vault_outage_on_update_and_delete_is_503_and_changes_nothing(
    api: APIClient, vault: SecretStore, settings: Any
) -> None:
    from rps_site.openbao_dev import start_dev_vault
    from rps_site.vault import secret_store

    name = unique_name()
    created = post(api, acm_body(name)).json()
    own = start_dev_vault()
    try:
        settings.VAULT_ADDR, settings.VAULT_TOKEN = own.addr, own.root_token
        secret_store.cache_clear()
        own.stop()
        random_body = {
            "profileName": name,
            "activation": "acmactivate",
            "generateRandomPassword": True,
            "generateRandomMEBxPassword": True,
            "tags": ["changed"],
            "version": created["version"],
        }
        for response in (patch(api, random_body), api.delete(f"{URL}/{name}")):
            assert response.status_code == 503, response_text(response)
            assert set(response.json()) == {"error", "message"}
    finally:
        own.stop()
        secret_store.cache_clear()
    assert api.get(f"{URL}/{name}").json() == created
    assert vault.read(profile_passwords_path("", name)) is not None


@pytest.mark.django_db(transaction=True)
def test_concurrent_updates_with_one_version_one_wins(vault: SecretStore) -> None:
    import threading

    from django.db import connection

    from profiles.services.profiles import profile_update
    from rps_site.errors import VersionConflict

    name = unique_name()
    created = client_for("").post(URL, acm_body(name), format="json").json()
    path = profile_passwords_path("", name)
    before = vault.read(path)
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def update(password: str) -> None:
        data = {"name": name, "activation": "acmactivate", "amt_password": Secret(password)}
        start.wait()
        try:
            profile_update(tenant_id="", data=data, expected_version=int(created["version"]))
            outcomes.append("ok")
        except VersionConflict:
            outcomes.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=update, args=(f"Racer-{n}-Pw1!",)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "ok"]
    after = vault.read(path)
    assert before is not None and after is not None and after.version == before.version + 1
    assert after.values["AMT_PASSWORD"].reveal() in {"Racer-1-Pw1!", "Racer-2-Pw1!"}
