"""Request fields of the auth methods, decoded the way Vault's framework decodes them.

Vault's auth methods are weakly typed: the bao CLI sends every `key=value` as a string
(`secret_id_num_uses=3`, `bind_secret_id=false`, `token_policies=a,b`) while hvac sends JSON
types, so each reader takes both and answers anything else with Vault's 400 text. An
absent or null field reads as None, so that an update changes only the fields it names.
Shared by the AppRole and userpass methods; also holds their CIDR checks.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any, NoReturn

from config.units import InvalidDurationError, parse_duration
from server.errors import BadRequestError

# strconv.ParseBool's spellings, which Vault's framework accepts for a TypeBool field.
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
MAX_METADATA_ENTRIES = 64
_INTEGER = re.compile(r"-?[0-9]{1,18}")


def _refuse(name: str, reason: str) -> NoReturn:
    raise BadRequestError(f'error converting input for field "{name}": {reason}')


def given(data: dict[str, Any], name: str) -> bool:
    return data.get(name) is not None


def boolean(data: dict[str, Any], name: str) -> bool | None:
    value = data.get(name)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value in _TRUE | _FALSE:
        return value in _TRUE
    _refuse(name, "cannot parse value as 'bool'")


def integer(data: dict[str, Any], name: str) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        if _INTEGER.fullmatch(value.strip()):
            return int(value)
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63:
        return value
    _refuse(name, "cannot parse value as 'int'")


def duration(data: dict[str, Any], name: str) -> int | None:
    """Whole seconds: an integer, digits, or Go-style text such as "1h30m"."""
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        _refuse(name, "could not parse duration from input")
    if (isinstance(value, int) and value < 0) or (isinstance(value, str) and value.strip().startswith("-")):
        _refuse(name, f"cannot provide negative value {str(value).strip()!r}")
    if value == "":
        return 0
    try:
        seconds = parse_duration(value.strip() if isinstance(value, str) else value)
    except InvalidDurationError:
        _refuse(name, f'time: invalid duration "{value}"')
    return seconds


def string(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    _refuse(name, "expected type 'string'")


def comma_list(data: dict[str, Any], name: str) -> list[str] | None:
    """A JSON list of strings or one comma-separated string; blanks dropped, order kept."""
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = value
    else:
        _refuse(name, "expected a list of strings or a comma-separated string")
    return [item.strip() for item in items if item.strip()]


def metadata(data: dict[str, Any], name: str = "metadata") -> dict[str, str]:
    """Vault's key-value metadata: a JSON object of strings (in a string, as hvac sends it,
    or as an object) or `k1=v1,k2=v2`. Empty or absent is {}."""
    value = data.get(name)
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        parsed = _key_values(value)
    elif isinstance(value, dict):
        parsed = value
    else:
        _refuse(name, "expected type 'string'")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in parsed.items()):
        raise BadRequestError("failed to parse metadata: failed to parse the input: invalid <key,value> format")
    if len(parsed) > MAX_METADATA_ENTRIES:
        raise BadRequestError(f"failed to parse metadata: at most {MAX_METADATA_ENTRIES} entries")
    return dict(parsed)


def _key_values(text: str) -> dict[str, Any]:
    if text.lstrip().startswith("{"):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    pairs: dict[str, Any] = {}
    for item in text.split(","):
        key, sep, val = item.partition("=")
        if not sep or not key.strip():
            raise BadRequestError("failed to parse metadata: failed to parse the input: invalid <key,value> format")
        pairs[key.strip()] = val.strip()
    return pairs


# -- CIDR blocks ----------------------------------------------------------------------------


def cidr_blocks(values: list[str], error: str, bare_hosts: bool = True) -> list[str]:
    """Each value an IP address or CIDR block; `error` formats the message for a bad one.
    With bare_hosts a single host is kept as its address, as Vault shows token CIDRs."""
    blocks = []
    for value in values:
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise BadRequestError(error.format(value)) from None
        single = bare_hosts and network.prefixlen == network.max_prefixlen
        blocks.append(str(network.network_address) if single else value)
    return blocks


def address_in(address: str, blocks: list[str]) -> bool:
    """Whether a client address lies in any of the blocks (an unparseable address never does)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(block, strict=False) for block in blocks)


def blocks_within(inner: list[str], outer: list[str]) -> bool:
    """Whether every inner block lies inside some outer block (no outer blocks: no limit)."""
    if not outer:
        return True
    outer_nets = [ipaddress.ip_network(b, strict=False) for b in outer]
    for block in inner:
        net = ipaddress.ip_network(block, strict=False)
        if not any(net.version == o.version and net.subnet_of(o) for o in outer_nets):
            return False
    return True
