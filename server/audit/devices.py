"""Where audit lines go: an append-only file (or stdout), or a TCP/unix socket.

A file device never follows a symlink and never gets an executable mode: an audit file
pointed at a plugin directory with mode 0755 was a code-execution hole in Vault and OpenBao
(CVE-2025-6000, CVE-2025-54997). A socket write that does not finish within write_timeout
fails that device instead of stalling the server.
"""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from typing import Any, Mapping

from config.units import InvalidDurationError, parse_duration
from server.eager import in_task

DEFAULT_FILE_MODE = 0o600
DEFAULT_WRITE_TIMEOUT = 2.0


class AuditDeviceError(ValueError):
    """A device that cannot be configured as asked (bad option, unsafe path or mode)."""


class AuditWriteError(Exception):
    """A device could not record a line."""


class AuditTimeoutError(AuditWriteError):
    """A device did not take a line within its write_timeout (a hung peer)."""


def _option(options: Mapping[str, Any], *names: str, default: Any = None) -> Any:
    for name in names:
        if name in options and options[name] not in (None, ""):
            return options[name]
    return default


def _write_timeout(value: Any) -> float:
    """Seconds; Vault's default is "2s", and Go durations such as "500ms" are common here."""
    text = str(value).strip()
    try:
        if text.endswith("ms") and text[:-2].isdigit():
            seconds = int(text[:-2]) / 1000
        else:
            seconds = float(parse_duration(text))
    except InvalidDurationError:
        raise AuditDeviceError("write_timeout is not a valid duration") from None
    return seconds or DEFAULT_WRITE_TIMEOUT


class FileDevice:
    """Appends lines to a file (created 0600 by default), or writes them to stdout."""

    kind = "file"
    timeout = DEFAULT_WRITE_TIMEOUT  # only bounds the wait for the device's turn: writes are local

    def __init__(self, options: Mapping[str, Any]) -> None:
        path = _option(options, "file_path", "path")
        if not isinstance(path, str) or not path:
            raise AuditDeviceError("file_path is required")
        if str(_option(options, "format", default="json")) != "json":
            raise AuditDeviceError("only the json format is supported")
        if str(_option(options, "log_raw", default="false")).lower() in ("true", "1"):
            raise AuditDeviceError("log_raw is refused: strongroom never writes secrets to the audit log")
        self.path = path
        self.mode = self._mode(_option(options, "mode", default=DEFAULT_FILE_MODE))
        self._fd: int | None = None
        if self.is_file:
            self._check_target()

    @property
    def is_file(self) -> bool:
        """False for Vault's special paths "stdout" and "discard"."""
        return self.path not in ("stdout", "discard")

    @staticmethod
    def _mode(value: Any) -> int:
        try:
            mode = int(value, 8) if isinstance(value, str) else int(value)
        except (TypeError, ValueError):
            raise AuditDeviceError(f"invalid mode {value!r}: give an octal string such as \"0600\"") from None
        if mode & ~0o777:
            raise AuditDeviceError("mode may only hold permission bits")
        if mode & 0o111:
            raise AuditDeviceError("an audit file may not be executable")
        return mode

    def _check_target(self) -> None:
        if os.path.islink(self.path):
            raise AuditDeviceError("file_path is a symbolic link; give the real path")
        if os.path.exists(self.path) and not os.path.isfile(self.path):
            raise AuditDeviceError("file_path exists and is not a regular file")
        parent = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(parent):
            raise AuditDeviceError("the directory of file_path does not exist")

    def open(self) -> None:
        if not self.is_file or self._fd is not None:
            return
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
        try:
            fd = os.open(self.path, flags, self.mode)
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                os.close(fd)
                raise AuditWriteError("audit file is not a regular file")
            if stat.S_IMODE(info.st_mode) != self.mode:
                os.fchmod(fd, self.mode)
        except OSError as exc:
            raise AuditWriteError(f"cannot open audit file: {exc.strerror}") from None
        self._fd = fd

    async def check(self) -> None:
        """Before a device is enabled through the API: can it be written at all?"""
        self.open()

    async def write(self, line: bytes, deadline: float | None = None) -> None:
        if self.path == "discard":
            return
        if self.path == "stdout":
            sys.stdout.buffer.write(line)
            sys.stdout.flush()
            return
        self.open()
        try:
            written = os.write(self._fd, line)
            if written != len(line):
                raise AuditWriteError("short write to the audit file")
        except OSError as exc:
            self.close()
            raise AuditWriteError(f"cannot write the audit file: {exc.strerror}") from None

    def reopen(self) -> None:
        """After log rotation (SIGHUP): close and open the path afresh."""
        self.close()
        self.open()

    def close(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            finally:
                self._fd = None


class SocketDevice:
    """Sends lines over TCP or a unix socket, reconnecting after a failure."""

    kind = "socket"

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.address = _option(options, "address")
        self.socket_type = str(_option(options, "socket_type", default="tcp"))
        if not isinstance(self.address, str) or not self.address:
            raise AuditDeviceError("address is required")
        if self.socket_type not in ("tcp", "unix"):
            raise AuditDeviceError("socket_type must be tcp or unix")
        if str(_option(options, "format", default="json")) != "json":
            raise AuditDeviceError("only the json format is supported")
        self.timeout = _write_timeout(_option(options, "write_timeout", default="2s"))
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        if self.socket_type == "unix":
            self._reader, self._writer = await asyncio.open_unix_connection(self.address)
        else:
            host, _, port = self.address.rpartition(":")
            self._reader, self._writer = await asyncio.open_connection(host.strip("[]"), int(port))

    def _stale(self) -> bool:
        # A peer that hung up is only noticed by a later write: the line written into the
        # dead connection would be lost while counted as recorded. Reconnect instead.
        return self._writer is None or self._writer.is_closing() or self._reader.at_eof()

    async def check(self) -> None:
        """Before a device is enabled through the API: connect (OpenBao's test message)."""
        await self.write(b"", asyncio.get_running_loop().time() + self.timeout)

    async def write(self, line: bytes, deadline: float | None = None) -> None:
        """Send line, all within the deadline (loop time; default: write_timeout from now)."""
        if deadline is None:
            deadline = asyncio.get_running_loop().time() + self.timeout
        await in_task()
        try:
            async with asyncio.timeout_at(deadline):
                if self._stale():
                    self._abort()
                    await self._connect()
                if line:
                    self._writer.write(line)
                    await self._writer.drain()
        except TimeoutError:
            self._abort()
            raise AuditTimeoutError(f"the audit socket took no line within {self.timeout:g}s") from None
        except (OSError, ValueError) as exc:
            self._abort()
            raise AuditWriteError(f"cannot write to the audit socket: {type(exc).__name__}") from None

    def open(self) -> None:
        """Connections are made on first write."""

    def reopen(self) -> None:
        self.close()

    def _abort(self) -> None:
        # After a failure the unsent rest of a line must not reach the peer later, and a
        # peer that never reads must not keep a closing transport (and its buffer) alive.
        if self._writer is not None:
            self._writer.transport.abort()
        self._reader = self._writer = None

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


DEVICE_TYPES = {"file": FileDevice, "socket": SocketDevice}


def make_device(device_type: str, options: Mapping[str, Any]) -> FileDevice | SocketDevice:
    cls = DEVICE_TYPES.get(device_type)
    if cls is None:
        raise AuditDeviceError(f"unknown audit device type {device_type!r}")
    return cls(options)
