"""Shared pieces of the audit tests (no tests here): a server with a declared file device,
the log read back as bytes and entries, and every encoding a leaked secret could take."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from conftest import RunningServer, initialise, running_server

DEVICE = "main/"


def file_device(log: Path, name: str = "main", **options: Any) -> dict[str, Any]:
    """The dict pyhcl gives for `audit "file" "<name>" { options { file_path = ... } }`."""
    return {"file": {name: {"options": {"file_path": str(log), **options}}}}


@contextmanager
def audited_server(tmp_path: Path, log: Path | None = None, audit: dict | None = None,
                   unseal: bool = True, **top: Any) -> Iterator[tuple[RunningServer, Path]]:
    """An initialised (and by default unsealed) server whose config declares a file device."""
    log = log or tmp_path / "audit.log"
    with running_server(tmp_path / "data", audit=audit or file_device(log), **top) as server:
        yield initialise(server, unseal=unseal), log


def entries(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_bytes().splitlines() if line.strip()]


def marker() -> str:
    """A value no log could hold by chance, with characters that JSON escapes."""
    return f"s3cret-{uuid.uuid4().hex}-\u00e4\u00df\"/"


def _base64_cores(raw: bytes, encode) -> list[bytes]:
    # A value inside a larger base64 blob is encoded at one of three alignments; the middle
    # of each alignment's encoding is the same whatever surrounds it.
    cores = [encode(raw).rstrip(b"=")]
    for shift in (1, 2):
        cores.append(encode(b"\0" * shift + raw)[4:-4])
    return cores


def encodings(secret: str) -> list[bytes]:
    """Every form in which secret could leak into a log line."""
    raw = secret.encode()
    found = [raw, raw.hex().encode(), raw.hex().upper().encode(),
             json.dumps(secret)[1:-1].encode(), json.dumps(secret, ensure_ascii=False)[1:-1].encode()]
    found += _base64_cores(raw, base64.b64encode) + _base64_cores(raw, base64.urlsafe_b64encode)
    return found


def assert_absent(log: Path, secret: str, also: tuple[str, ...] = ()) -> None:
    """Neither secret in any encoding nor any of the `also` strings is in the log file."""
    content = log.read_bytes()
    for form in encodings(secret):
        assert form not in content, f"the secret leaked into the audit log as {form[:12]!r}..."
    for value in also:
        assert value.encode() not in content


def device_hash(server: RunningServer, value: str, device: str = DEVICE) -> str:
    """The device's HMAC of value, computed inside the server without writing a log line."""
    return server.core.audit.hash(device, value)


class LineSink:
    """A TCP listener that reads and keeps everything sent to it (a working socket device)."""

    def __init__(self, port: int = 0) -> None:
        self.listener = socket.create_server(("127.0.0.1", port))
        self.port = self.listener.getsockname()[1]
        self._received: list[bytearray] = []  # per connection, in the order they were accepted
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def data(self) -> bytes:
        return b"".join(bytes(chunks) for chunks in self._received)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self._conns.append(conn)
            self._received.append(bytearray())
            threading.Thread(target=self._read, args=(conn, self._received[-1]), daemon=True).start()

    @staticmethod
    def _read(conn: socket.socket, into: bytearray) -> None:
        while True:
            try:
                chunk = conn.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            into += chunk

    def settled(self, timeout: float = 5.0) -> bytes:
        """Everything received, once it ends with a whole line and has stopped growing."""
        deadline, last = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            data = self.data
            if data == last and data.endswith(b"\n"):
                return data
            last = data
            time.sleep(0.05)
        return self.data

    def close(self) -> None:
        close_listener(self.listener)
        for conn in self._conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()


def close_listener(listener: socket.socket) -> None:
    """Stop listening now: on Linux a bare close() leaves a thread blocked in accept() serving."""
    try:
        listener.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    listener.close()
