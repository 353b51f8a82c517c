# strongroom: a config for trying it out on your own machine.
#
#   strongroom server -config config/examples/local.hcl
#
# The syntax is HCL, the same as Vault's and OpenBao's server config: `key = value`,
# and blocks written as `kind "type" { ... }`. A .json file with the same structure
# works too. Any key strongroom does not know stops start-up with an error naming it,
# so a typo cannot be silently ignored.
#
# NOT for production: traffic is plain HTTP. See production.hcl for TLS and auditing.

# Where the encrypted data lives. strongroom stores everything in one LMDB
# database; what is written there is already encrypted by the barrier, but it is
# still your only copy of the secrets: back it up.
storage "lmdb" {
  # A relative path is resolved against the current directory of the process that
  # starts strongroom (not against this file), as in Vault. Here: ./data
  path = "./data"

  # How much address space LMDB reserves up front, and the most it may grow to.
  # Sizes take units: KiB, MiB, GiB (powers of 1024) or KB, MB, GB (powers of 1000).
  map_size     = "256MiB"
  max_map_size = "4GiB"
}

# Where clients connect. Only "tcp" listeners exist; you may declare several.
listener "tcp" {
  # Loopback only: nothing outside this machine can reach it.
  address = "127.0.0.1:8200"

  # Plain HTTP, because the traffic never leaves the machine. Tokens and secrets
  # cross this connection, so never turn TLS off on an address others can reach.
  tls_disable = true
}

# trace, debug, info, warn or error.
log_level = "info"

# Clients then use, as with Vault:
#   export VAULT_ADDR=http://127.0.0.1:8200      (or BAO_ADDR for the bao CLI)
