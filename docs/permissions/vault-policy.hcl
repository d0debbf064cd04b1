# Least-privilege Vault / OpenBao policy for the nhi.lifecycle automation token.
#
# Adapt before use (see README.md in this directory):
#   * "secret" is the KV v2 mount of the catalog's store.mount;
#   * "nhi/" is the store prefix (store.path_prefix, default nhi/<...>): keep one
#     block per prefix your catalogs use, and nothing wider;
#   * "approle" is the AppRole auth mount (vault.mount of kind vault_approle).
# Give the token the "default" policy as well: token lookup-self (the connection
# check) and revoke-self (after an AppRole login proof) come from it.
# No sys/ path is needed: the collection never reads or writes mounts, policies
# or audit devices.

# --- the store: minted credentials (KV v2, check-and-set) --------------------
# read: the stored credential (rotation, proofs); create/update: store a new
# version with cas; delete: soft-delete the latest version.
path "secret/data/nhi/*" {
  capabilities = ["create", "read", "update", "delete"]
}
# read: versions and custom metadata (rotation, reconcile reads only this);
# create/update: custom metadata (identity, key id, minted_at, run_id);
# delete: remove every version at offboard; list: reconcile's store listing.
path "secret/metadata/nhi/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}
path "secret/metadata/nhi" {
  capabilities = ["list"]
}
# Destroy the rotated-out versions for good.
path "secret/destroy/nhi/*" {
  capabilities = ["update"]
}
# Soft-delete of given versions (vault_kv_secret state=absent).
path "secret/delete/nhi/*" {
  capabilities = ["update"]
}

# --- lease locks: one run at a time per identity ------------------------------
path "secret/data/nhi-locks/*" {
  capabilities = ["create", "read", "update", "delete"]
}
# A release deletes the lock with its metadata, so that taking it next time is
# one write (cas=0). Without this grant a release soft-deletes it instead.
path "secret/metadata/nhi-locks/*" {
  capabilities = ["delete"]
}

# --- AppRoles (kind vault_approle) ---------------------------------------------
# The role itself (create/update/read/delete), and under it: role-id (read),
# secret-id (update = mint, list = accessors), secret-id/lookup,
# secret-id-accessor/lookup and secret-id-accessor/destroy (update).
path "auth/approle/role/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}
# Reconcile lists the roles to find ones that are not in the catalog.
path "auth/approle/role" {
  capabilities = ["list"]
}
# The proof logs in with the new secret id (login needs no token; listed so that
# a deny-by-default namespace setup does not break it).
path "auth/approle/login" {
  capabilities = ["create", "update"]
}

# --- Vault tokens (module nhi.lifecycle.vault_token only) ----------------------
# Not used by the lifecycle playbooks; drop this block when you do not use the
# module. Tokens it creates can only carry policies this token holds.
path "auth/token/create-orphan" {
  capabilities = ["update"]
}
path "auth/token/lookup-accessor" {
  capabilities = ["update"]
}
path "auth/token/revoke-accessor" {
  capabilities = ["update"]
}
