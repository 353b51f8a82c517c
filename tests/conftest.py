"""Shared fixtures: a real strongroom server on 127.0.0.1 and a free port, for real clients.

The server runs in a background thread with its own event loop (fast to start, and the test
can still look inside `core`); `subprocess_server` runs the real `strongroom` command for the
tests that need a whole process (signals, start-up checks).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest
from aiohttp import web

from config import settings_from_dict
from server.app import Service
from server.serve import make_runner
from server.core import Core

REPO = Path(__file__).resolve().parents[1]
BAO = shutil.which("bao", path=str(Path(sys.executable).parent)) or shutil.which("bao")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_settings(data_dir: Path, port: int, listener: dict[str, Any] | None = None, **top: Any):
    tcp = {"address": f"127.0.0.1:{port}", "tls_disable": True, **(listener or {})}
    data = {"storage": {"lmdb": {"path": str(data_dir)}}, "listener": {"tcp": tcp}, **top}
    return settings_from_dict(data, "test config", check_files=False)


def http_responses(conn: socket.socket, count: int,
                   pending: bytearray | None = None) -> list[tuple[int, dict[str, str], bytes]]:
    """Up to `count` whole responses read from a raw socket (fewer if it closes first); bytes
    of a later response that came with them are kept in `pending` for the next call."""
    got, buf = [], bytes(pending or b"")
    while len(got) < count:
        while b"\r\n\r\n" not in buf:
            chunk = conn.recv(65536)
            if not chunk:
                return got
            buf += chunk
        head, _, buf = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:])
        length = int(headers.get("Content-Length", "0"))
        while len(buf) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            buf += chunk
        got.append((int(lines[0].split()[1]), headers, buf[:length]))
        buf = buf[length:]
    if pending is not None:
        pending[:] = buf
    return got


@dataclass
class RunningServer:
    """A server under test: its address, and once initialised its root token and keys."""

    url: str
    core: Core | None = None
    root_token: str = ""
    keys: list[str] = field(default_factory=list)
    data_dir: Path | None = None

    def call(self, method: str, path: str, body: Any = None, token: str | None = None,
             headers: dict[str, str] | None = None, raw: bytes | None = None) -> tuple[int, Any, dict]:
        """One HTTP call; returns (status, parsed JSON body or None, headers)."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if token is not None:
            req.add_header("X-Vault-Token", token)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, payload, hdrs = resp.status, resp.read(), dict(resp.headers)
        except urllib.error.HTTPError as err:
            status, payload, hdrs = err.code, err.read(), dict(err.headers)
        return status, (json.loads(payload) if payload else None), hdrs

    def root(self, method: str, path: str, body: Any = None) -> tuple[int, Any, dict]:
        return self.call(method, path, body, token=self.root_token)

    def bao(self, *args: str, token: str | None = None, input: str | None = None) -> subprocess.CompletedProcess:
        """Run the OpenBao CLI against this server."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        env.update(BAO_ADDR=self.url, HOME=str(self.data_dir.parent if self.data_dir else "/tmp"))
        if token is not None:
            env["BAO_TOKEN"] = token
        return subprocess.run([BAO, *args], env=env, capture_output=True, text=True, timeout=60, input=input)


class ThreadedServer:
    """The production Service and runner on a private event loop in a daemon thread."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.core: Core | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._start())
        except BaseException as exc:  # surfaced to the test thread
            self.error = exc
            self.ready.set()
            return
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self._stop())
        self.loop.close()

    async def _start(self) -> None:
        self.service = Service(self.settings)
        self.core = await self.service.open()
        self.runner = make_runner(self.service)
        await self.runner.setup()
        listener = self.settings.listeners[0]
        await web.TCPSite(self.runner, listener.host, listener.port).start()

    async def _stop(self) -> None:
        await self.runner.cleanup()
        await self.service.close()

    def start(self) -> None:
        self._thread.start()
        self.ready.wait(30)
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)


@contextmanager
def running_server(data_dir: Path, listener: dict[str, Any] | None = None, **top: Any) -> Iterator[RunningServer]:
    port = free_port()
    server = ThreadedServer(make_settings(data_dir, port, listener, **top))
    server.start()
    try:
        yield RunningServer(url=f"http://127.0.0.1:{port}", core=server.core, data_dir=data_dir)
    finally:
        server.stop()


def initialise(server: RunningServer, shares: int = 5, threshold: int = 3, unseal: bool = True) -> RunningServer:
    status, body, _ = server.call("PUT", "/v1/sys/init", {"secret_shares": shares, "secret_threshold": threshold})
    assert status == 200, body
    server.root_token, server.keys = body["root_token"], body["keys"]
    if unseal:
        for key in server.keys[:threshold]:
            server.call("PUT", "/v1/sys/unseal", {"key": key})
        assert server.core.seal.sealed is False
    return server


@pytest.fixture
def fresh_server(tmp_path) -> Iterator[RunningServer]:
    """A server on an empty store: not initialised."""
    with running_server(tmp_path / "data") as server:
        yield server


@pytest.fixture
def server(tmp_path) -> Iterator[RunningServer]:
    """A server initialised with 5 shares / threshold 3 and unsealed; root_token and keys set."""
    with running_server(tmp_path / "data") as srv:
        yield initialise(srv)


@contextmanager
def subprocess_server(config_text: str, tmp_path: Path, port: int) -> Iterator[subprocess.Popen]:
    """The real `strongroom server -config` command; stopped with SIGTERM afterwards."""
    config = tmp_path / "server.hcl"
    config.write_text(config_text)
    exe = Path(sys.executable).parent / "strongroom"
    proc = subprocess.Popen([str(exe), "server", "-config", str(config)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
