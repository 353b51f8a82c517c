"""strongroom's configuration: an HCL (or JSON) server config file -> validated, typed Settings.

Imports no other strongroom package. The example configs live in config/examples/.
"""

from config.address import InvalidAddressError, split_host_port
from config.errors import ConfigError
from config.loader import DEFAULT_ADDRESS, DEV_SOURCE, dev_settings, load_settings, settings_from_dict
from config.settings import (
    AuditDeviceSettings,
    ListenerSettings,
    LogLevel,
    Settings,
    StorageSettings,
    TlsVersion,
)
from config.units import (
    InvalidDurationError,
    InvalidSizeError,
    format_duration,
    format_size,
    parse_duration,
    parse_size,
)

__all__ = [
    "DEFAULT_ADDRESS",
    "DEV_SOURCE",
    "AuditDeviceSettings",
    "ConfigError",
    "InvalidAddressError",
    "InvalidDurationError",
    "InvalidSizeError",
    "ListenerSettings",
    "LogLevel",
    "Settings",
    "StorageSettings",
    "TlsVersion",
    "dev_settings",
    "format_duration",
    "format_size",
    "load_settings",
    "parse_duration",
    "parse_size",
    "settings_from_dict",
    "split_host_port",
]
