"""The one error the config package raises: a config that must stop start-up."""

from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(Exception):
    """The config file is missing, unparseable, or has a key that is unknown, missing or wrong.

    source is the file path (or a label such as "dev mode"); key is the dotted key the
    problem is at ("listener.tcp.max_request_size"), or None when it concerns the whole file.
    """

    def __init__(self, source: str, key: str | None, reason: str) -> None:
        self.source = source
        self.key = key
        self.reason = reason
        where = f"config {source}: {key}: " if key else f"config {source}: "
        super().__init__(where + reason)
