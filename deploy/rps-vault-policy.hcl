# Least-privilege Vault/OpenBao policy for rps-django.
# Assumes the default mount `secret` (KV v2) and an empty RPS_VAULT_PREFIX; with a prefix P,
# insert "P/" after "data/" and "metadata/" below. MPS needs read access to devices/* and MPSCerts.
# At start-up (outside debug) RPS asks Vault (sys/capabilities-self) whether its token holds every
# capability granted here on the paths it uses, and refuses a root token.
#
# A periodic token (renewed by RPS before each period ends):
#   bao policy write rps deploy/rps-vault-policy.hcl
#   bao token create -policy=rps -period=24h
# or AppRole (RPS_VAULT_ROLE_ID, RPS_VAULT_SECRET_ID_FILE), no long-lived token at all:
#   bao auth enable approle
#   bao write auth/approle/role/rps token_policies=rps token_ttl=1h token_max_ttl=24h
#   bao read -field=role_id auth/approle/role/rps/role-id
#   bao write -f -field=secret_id auth/approle/role/rps/secret-id

# Secrets RPS writes and reads: per-resource (all tenants) and per-device.
path "secret/data/*" {
  capabilities = ["create", "read", "update"]
}

# Permanent delete of a resource's or a device's secret (all versions); list and read (update
# times) for rps_vault_audit.
path "secret/metadata/*" {
  capabilities = ["read", "delete", "list"]
}

# The token's own look-up, renewal and capability check (also in Vault's `default` policy, which
# a token created with -no-default-policy lacks).
path "auth/token/lookup-self" {
  capabilities = ["read"]
}

path "auth/token/renew-self" {
  capabilities = ["update"]
}

path "sys/capabilities-self" {
  capabilities = ["update"]
}

# Health endpoint (also readable unauthenticated on most servers).
path "sys/health" {
  capabilities = ["read"]
}
