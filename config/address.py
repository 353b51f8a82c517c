"""Listener addresses: "host:port" with an IPv4 address, a hostname, or a bracketed IPv6 address.

Pure functions; the config loader calls them for listener.tcp.address and dev mode's address.
"""

from __future__ import annotations

import ipaddress
import re

__all__ = ["InvalidAddressError", "split_host_port"]

# RFC 1123 §2.1: labels of letters, digits and hyphens, not starting or ending with a hyphen.
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)", re.ASCII)
_IPV4_LIKE = re.compile(r"[0-9.]+", re.ASCII)
_PORT = re.compile(r"[0-9]{1,5}", re.ASCII)


class InvalidAddressError(ValueError):
    """An address that is not host:port with a valid host and a port in 0..65535."""


def split_host_port(address: str) -> tuple[str, int]:
    """(host, port) of "127.0.0.1:8200", "vault.example.com:8200" or "[::1]:8200".

    The IPv6 host comes back without brackets. Port 0 asks the OS for a free port. An
    empty host (":8200") is refused: listening on every interface must be written out
    as 0.0.0.0 or [::].
    """
    if not isinstance(address, str):
        raise InvalidAddressError(f"expected a string like \"127.0.0.1:8200\", got {type(address).__name__}")
    if address.startswith("["):
        host, separator, port_text = address[1:].partition("]:")
        if not separator:
            raise InvalidAddressError(f"invalid address {address!r}: expected \"[IPv6]:port\"")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise InvalidAddressError(f"invalid address {address!r}: {host!r} is not an IPv6 address") from None
    else:
        if address.count(":") > 1:
            raise InvalidAddressError(
                f"invalid address {address!r}: an IPv6 host needs brackets, e.g. \"[::1]:8200\""
            )
        host, separator, port_text = address.partition(":")
        if not separator:
            raise InvalidAddressError(f"invalid address {address!r}: expected \"host:port\"")
        _check_host(address, host)
    if not _PORT.fullmatch(port_text) or int(port_text) > 65535:
        raise InvalidAddressError(f"invalid address {address!r}: port must be a number from 0 to 65535")
    return host, int(port_text)


def _check_host(address: str, host: str) -> None:
    if not host:
        raise InvalidAddressError(
            f"invalid address {address!r}: no host; write 0.0.0.0 (every IPv4 interface) "
            "or [::] (every interface) to listen everywhere"
        )
    if _IPV4_LIKE.fullmatch(host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise InvalidAddressError(f"invalid address {address!r}: {host!r} is not an IPv4 address") from None
        return
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    if len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise InvalidAddressError(f"invalid address {address!r}: {host!r} is not a valid host name")
