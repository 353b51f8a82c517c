# strongroom: a production server config.
#
#   strongroom server -config /etc/strongroom/strongroom.hcl
#
# HCL, as in Vault and OpenBao (a .json file with the same structure works too).
# Any unknown key, missing required key or bad value stops start-up with an error
# that names the key, so check the config before a restart:
#   a typo such as `adress` is an error, never ignored.
#
# Relative paths are resolved against the server's current directory; this file
# uses absolute paths so that it does not matter where the service starts.

# The encrypted store. Everything in it is ciphertext under the barrier key, but it
# is the only copy of your secrets: back up this directory, and keep the unseal
# key shares apart from the backups.
storage "lmdb" {
  path = "/var/lib/strongroom"

  # Initial LMDB map and the ceiling it may grow to; writes fail (and are not
  # applied) once the ceiling is reached. KiB/MiB/GiB = 1024-based, KB/MB/GB = 1000-based.
  map_size     = "1GiB"
  max_map_size = "64GiB"
}

# The HTTPS listener clients connect to.
listener "tcp" {
  # Every IPv4 interface. Use "[::]:8200" for IPv6 as well, or a single address.
  address = "0.0.0.0:8200"

  # TLS is on unless tls_disable = true. Both files are PEM; the certificate file
  # may hold the full chain (server certificate first). They are checked at start-up:
  # a missing or unreadable file stops the server with the key named.
  # The key file should be readable by the strongroom user only (mode 0400).
  tls_cert_file   = "/etc/strongroom/tls/strongroom.crt"
  tls_key_file    = "/etc/strongroom/tls/strongroom.key"
  tls_min_version = "tls12"   # or "tls13"

  # Requests larger than this are refused (bytes or a size with a unit).
  max_request_size = "32MiB"
  # A request still running after this long is cancelled (Vault's duration syntax).
  max_request_duration = "90s"

  # The legacy unauthenticated sys/rekey/* and sys/generate-root/* endpoints stay
  # off (OpenBao's default). Leave these true unless a runbook needs them.
  disable_unauthed_rekey_endpoints         = true
  disable_unauthed_generate_root_endpoints = true
}

# The address clients should use to reach this server, as given in redirects.
api_addr = "https://vault.example.com:8200"

# Keep key material in locked memory, out of swap. Only set true if the system
# cannot lock memory and swap is encrypted or off.
disable_mlock = false

# Server processes on the listeners' ports, one per core: the first writes, the
# others answer reads and hand everything else to it (see README, Performance).
workers = 2

# trace, debug, info, warn or error.
log_level = "info"

# Vault's web UI switch; strongroom is driven through its HTTP API and CLIs.
ui = false

# Leases: the TTL given when a request names none, and the most any may have.
# Durations: seconds, or number+unit pairs with d, h, m, s ("768h", "1h30m", "7d").
default_lease_ttl = "768h"
max_lease_ttl     = "768h"

# Unseal key shares entered so far are forgotten if the threshold is not reached
# within this time, so a half-finished unseal cannot be completed much later.
unseal_progress_ttl = "10m"

# Audit devices are declared here (OpenBao style), not created over the API:
# requests fail if no audit device can record them. The second label is the
# device's path ("file/"); options are the device's own settings.
audit "file" "file" {
  description = "Every request and response, one JSON object a line."
  options {
    file_path = "/var/log/strongroom/audit.log"
    mode      = "0600"
    format    = "json"
  }
}

# Creating audit devices through sys/audit stays off: a token holder could
# otherwise point an audit device at any file the server can write.
unsafe_allow_api_audit_creation = false
