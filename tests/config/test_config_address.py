"""config.address: host:port for listeners, IPv4, host names and bracketed IPv6."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.address import InvalidAddressError, split_host_port

ports = st.integers(min_value=0, max_value=65535)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:8200", ("127.0.0.1", 8200)),
        ("0.0.0.0:0", ("0.0.0.0", 0)),
        ("[::1]:8200", ("::1", 8200)),
        ("[::]:65535", ("::", 65535)),
        ("[fe80::1%eth0]:8200", ("fe80::1%eth0", 8200)),
        ("localhost:8200", ("localhost", 8200)),
        ("vault.example.com.:443", ("vault.example.com.", 443)),
        ("xn--bcher-kva.example:1", ("xn--bcher-kva.example", 1)),
    ],
)
def test_accepted(address: str, expected: tuple[str, int]) -> None:
    assert split_host_port(address) == expected


@pytest.mark.parametrize(
    "address",
    ["", "8200", "localhost", ":8200", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:+80", "127.0.0.1: 80",
     "127.0.0.1:８０", "256.0.0.1:80", "1.2.3:80", "::1:8200", "[::1]", "[::1]8200", "[127.0.0.1]:80",
     "[::1]:", "under_score:80", "-lead.example:80", "trail-.example:80", "a..b:80", "ünï.example:80",
     f"{'a' * 64}.example:80", 8200],
)
def test_refused(address: object) -> None:
    with pytest.raises(InvalidAddressError):
        split_host_port(address)  # type: ignore[arg-type]


@given(st.ip_addresses(v=4), ports)
def test_any_ipv4_and_port(ip: ipaddress.IPv4Address, port: int) -> None:
    assert split_host_port(f"{ip}:{port}") == (str(ip), port)


@given(st.ip_addresses(v=6), ports)
def test_any_bracketed_ipv6_and_port(ip: ipaddress.IPv6Address, port: int) -> None:
    assert split_host_port(f"[{ip}]:{port}") == (str(ip), port)


@given(st.ip_addresses(v=6), ports)
def test_unbracketed_ipv6_is_refused(ip: ipaddress.IPv6Address, port: int) -> None:
    with pytest.raises(InvalidAddressError):
        split_host_port(f"{ip}:{port}")


@given(st.integers(min_value=65536, max_value=10**6))
def test_ports_past_65535_are_refused(port: int) -> None:
    with pytest.raises(InvalidAddressError, match="port must be"):
        split_host_port(f"127.0.0.1:{port}")
