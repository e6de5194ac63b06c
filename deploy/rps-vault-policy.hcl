# Least-privilege Vault/OpenBao policy for rps-django.
# Assumes the default mount `secret` (KV v2) and an empty RPS_VAULT_PREFIX; with a prefix P,
# insert "P/" after "data/" and "metadata/" below. MPS needs read access to devices/* and MPSCerts.
#
#   bao policy write rps deploy/rps-vault-policy.hcl
#   bao token create -policy=rps -period=24h

# Secrets RPS writes and reads: per-resource (all tenants) and per-device.
path "secret/data/*" {
  capabilities = ["create", "read", "update"]
}

# Permanent delete of a resource's or a device's secret (all versions).
path "secret/metadata/*" {
  capabilities = ["read", "delete", "list"]
}

# Health endpoint (also readable unauthenticated on most servers).
path "sys/health" {
  capabilities = ["read"]
}
