"""listener "tcp" { ... } blocks -> ListenerSettings, as Vault's tcp listener with a subset of its keys.

Defaults follow Vault (address 127.0.0.1:8200, 32 MiB request body, 90 s per request,
TLS on) and OpenBao (the unauthenticated legacy rekey and generate-root endpoints off).
With TLS on, the certificate and key files must exist and be readable at load time, so
that a typo stops start-up here rather than at the first TLS handshake.
"""

from __future__ import annotations

import os
import stat

from config.address import InvalidAddressError, split_host_port
from config.blocks import labelled_blocks
from config.errors import ConfigError
from config.fields import Section
from config.settings import ListenerSettings

__all__ = ["DEFAULT_ADDRESS", "listeners"]

DEFAULT_ADDRESS = "127.0.0.1:8200"
DEFAULT_MAX_REQUEST_SIZE = 32 * 2**20
DEFAULT_MAX_REQUEST_DURATION = 90
LISTENER_TYPES = ("tcp",)

_TLS_VERSIONS = {"tls12": "tls12", "tls13": "tls13"}
_LISTENER_KEYS = frozenset(
    {
        "address",
        "tls_disable",
        "tls_cert_file",
        "tls_key_file",
        "tls_min_version",
        "max_request_size",
        "max_request_duration",
        "disable_unauthed_rekey_endpoints",
        "disable_unauthed_generate_root_endpoints",
    }
)
# Keys of Vault's tcp listener that strongroom does not implement: refused with a reason.
_VAULT_ONLY_LISTENER = frozenset(
    {
        "cluster_address",
        "tls_max_version",
        "tls_cipher_suites",
        "tls_prefer_server_cipher_suites",
        "tls_client_ca_file",
        "tls_require_and_verify_client_cert",
        "tls_disable_client_certs",
        "http_idle_timeout",
        "http_read_header_timeout",
        "http_read_timeout",
        "http_write_timeout",
        "proxy_protocol_behavior",
        "proxy_protocol_authorized_addrs",
        "x_forwarded_for_authorized_addrs",
        "x_forwarded_for_hop_skips",
        "x_forwarded_for_reject_not_authorized",
        "x_forwarded_for_reject_not_present",
        "telemetry",
        "profiling",
        "custom_response_headers",
        "unauthenticated_metrics_access",
    }
)


def listeners(top: Section, *, check_files: bool) -> tuple[ListenerSettings, ...]:
    """Every listener block of the config; at least one is required."""
    if not top.has("listener"):
        raise top.error(
            "listener", 'missing required block, e.g. listener "tcp" { address = "127.0.0.1:8200" }'
        )
    result: list[ListenerSettings] = []
    seen: dict[tuple[str, int], str] = {}
    for label, body, location in labelled_blocks(top, "listener", example="tcp"):
        listener = _listener(top.source, label, body, location, check_files=check_files)
        # Port 0 asks the OS for a free port each time, so those never collide.
        if listener.port and (listener.host, listener.port) in seen:
            raise ConfigError(
                top.source,
                f"{location}.address",
                f"{listener.address} is already the address of {seen[listener.host, listener.port]}",
            )
        seen[listener.host, listener.port] = location
        result.append(listener)
    return tuple(result)


def _listener(source: str, label: str, body: object, location: str, *, check_files: bool) -> ListenerSettings:
    if label not in LISTENER_TYPES:
        raise ConfigError(source, location, f"unsupported listener type (supported: {', '.join(LISTENER_TYPES)})")
    section = Section(source, location, body, _LISTENER_KEYS, unsupported=_VAULT_ONLY_LISTENER)
    address = section.optional_string("address", DEFAULT_ADDRESS) or DEFAULT_ADDRESS
    try:
        host, port = split_host_port(address)
    except InvalidAddressError as error:
        raise section.error("address", str(error)) from None
    tls_disable = section.boolean("tls_disable", False)
    tls_min_version = section.choice("tls_min_version", "tls12", _TLS_VERSIONS)
    tls_cert_file = section.optional_string("tls_cert_file")
    tls_key_file = section.optional_string("tls_key_file")
    if tls_disable:
        # Unset rather than unused: a set tls_cert_file always means TLS is on.
        tls_cert_file = tls_key_file = None
    else:
        tls_cert_file = _tls_file(section, "tls_cert_file", tls_cert_file, check_files=check_files)
        tls_key_file = _tls_file(section, "tls_key_file", tls_key_file, check_files=check_files)
    return ListenerSettings(
        type="tcp",
        address=address,
        host=host,
        port=port,
        tls_disable=tls_disable,
        tls_cert_file=tls_cert_file,
        tls_key_file=tls_key_file,
        tls_min_version=tls_min_version,  # type: ignore[arg-type]
        max_request_size=section.size("max_request_size", DEFAULT_MAX_REQUEST_SIZE),
        max_request_duration=section.duration("max_request_duration", DEFAULT_MAX_REQUEST_DURATION),
        disable_unauthed_rekey_endpoints=section.boolean("disable_unauthed_rekey_endpoints", True),
        disable_unauthed_generate_root_endpoints=section.boolean(
            "disable_unauthed_generate_root_endpoints", True
        ),
    )


def _tls_file(section: Section, name: str, value: str | None, *, check_files: bool) -> str:
    if value is None:
        raise section.error(name, "missing required key: TLS is on, so give a PEM file (or set tls_disable = true)")
    path = os.path.abspath(value)
    if check_files:
        try:
            # O_NONBLOCK: a FIFO at this path must not hang start-up.
            descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as error:
            raise section.error(name, f"cannot read {path!r}: {error.strerror or error}") from None
        try:
            regular = stat.S_ISREG(os.fstat(descriptor).st_mode)
        finally:
            os.close(descriptor)
        if not regular:
            raise section.error(name, f"{path!r} is not a regular file")
    return path
