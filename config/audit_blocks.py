"""audit blocks -> AuditDeviceSettings: OpenBao's declarative audit devices.

OpenBao's form names the mount path in a second label and puts the device's options in
an `options` block:

    audit "file" "to-disk" { description = "..." local = false options { file_path = "..." } }

The shorter form `audit "file" { file_path = "..." }` is also accepted: the path is then
the device type, and every key but description and local is an option. Options are only
checked for type here (string, number or bool); the audit device checks their meaning.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from config.blocks import labelled_blocks
from config.errors import ConfigError
from config.fields import Section, describe
from config.reader import Repeated
from config.settings import AuditDeviceSettings

__all__ = ["AUDIT_DEVICE_TYPES", "audit_devices"]

AUDIT_DEVICE_TYPES = ("file", "socket")

_DEVICE_KEYS = ("description", "local")
_PATH_SEGMENT = re.compile(r"[A-Za-z0-9_.-]+", re.ASCII)


def audit_devices(top: Section) -> tuple[AuditDeviceSettings, ...]:
    """Every audit block of the config, in file order; none is fine."""
    if not top.has("audit"):
        return ()
    devices: list[AuditDeviceSettings] = []
    paths: dict[str, str] = {}
    for device_type, body, location in labelled_blocks(top, "audit", example="file"):
        if device_type not in AUDIT_DEVICE_TYPES:
            raise ConfigError(
                top.source, location, f"unsupported audit device type (supported: {', '.join(AUDIT_DEVICE_TYPES)})"
            )
        for path_label, device_body, device_location in _by_path(device_type, body, location):
            path = _mount_path(top.source, device_location, path_label)
            if path in paths:
                raise ConfigError(
                    top.source, device_location, f"audit path {path!r} is already used by {paths[path]}"
                )
            paths[path] = device_location
            devices.append(_device(top.source, device_type, path, device_body, device_location))
    return tuple(devices)


def _by_path(device_type: str, body: Mapping[object, object], location: str) -> list[tuple[str, object, str]]:
    # `audit "file" "p" { ... }` parses as {"file": {"p": {...}}}: a body whose values are
    # all blocks, none of them `options`, is a set of path labels; anything else is one device.
    labelled = bool(body) and "options" not in body and all(isinstance(v, Mapping) for v in body.values())
    if not labelled:
        return [(device_type, body, location)]
    return [(str(label), device_body, f"{location}.{label}") for label, device_body in body.items()]


def _mount_path(source: str, location: str, label: str) -> str:
    stripped = label.strip("/")
    segments = stripped.split("/")
    if not stripped or any(not _PATH_SEGMENT.fullmatch(s) or s in (".", "..") for s in segments):
        raise ConfigError(
            source, location, f"invalid audit path {label!r}: use letters, digits, '-', '_', '.' and '/'"
        )
    return stripped + "/"


def _device(
    source: str, device_type: str, path: str, body: object, location: str
) -> AuditDeviceSettings:
    if not isinstance(body, Mapping):
        raise ConfigError(source, location, f"expected a block {{ ... }}, got {describe(body)}")
    if "options" in body:
        section = Section(source, location, body, (*_DEVICE_KEYS, "options"))
        options_location, options_body = section.key("options"), body["options"]
        if not isinstance(options_body, Mapping):
            raise ConfigError(source, options_location, f"expected a block {{ ... }}, got {describe(options_body)}")
    else:
        # Short form: every key is accepted (non-string keys are not); the options are the rest.
        section = Section(source, location, body, [key for key in body if isinstance(key, str)])
        options_location = location
        options_body = {key: value for key, value in body.items() if key not in _DEVICE_KEYS}
    return AuditDeviceSettings(
        type=device_type,
        path=path,
        description=section.optional_string("description", "", allow_empty=True) or "",
        local=section.boolean("local", False),
        options=MappingProxyType(_options(source, options_location, options_body)),
    )


def _options(source: str, location: str, body: Mapping[object, object]) -> dict[str, str | int | bool]:
    options: dict[str, str | int | bool] = {}
    for key, value in body.items():
        key_location = f"{location}.{key}"
        if not isinstance(key, str) or not key:
            raise ConfigError(source, key_location, "invalid option name")
        if isinstance(value, Repeated):
            raise ConfigError(source, key_location, f"given {len(value)} times; give it once")
        if not isinstance(value, (str, int, bool)):
            raise ConfigError(source, key_location, f"expected a string, number or bool, got {describe(value)}")
        options[key] = value
    return options
