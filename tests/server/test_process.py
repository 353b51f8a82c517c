"""The real `strongroom server -config` process: signals, start-up refusals, TLS, one owner
of a data directory, and what it writes to its log."""

from __future__ import annotations

import datetime
import gzip
import ipaddress
import json
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import hvac
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import free_port, subprocess_server

STRONGROOM = str(Path(sys.executable).parent / "strongroom")


def plain_config(data: Path, port: int, extra: str = "") -> str:
    return f"""
storage "lmdb" {{
  path = "{data}"
}}
listener "tcp" {{
  address     = "127.0.0.1:{port}"
  tls_disable = true
}}
disable_mlock = true
{extra}
"""


def start_request(port: int, method: str, path: str, body: bytes, sent: int) -> socket.socket:
    """A request whose body is only partly sent: in flight until the rest follows.

    Expect: 100-continue makes the server say when it has routed the request, so the test
    knows the request is in the server's hands before it sends a signal.
    """
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn.sendall(f"{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n"
                 "Expect: 100-continue\r\n\r\n".encode())
    interim = b""
    while not interim.endswith(b"\r\n\r\n"):
        interim += conn.recv(1)
    assert interim.startswith(b"HTTP/1.1 100")
    conn.sendall(body[:sent])
    time.sleep(0.2)  # the handler is now reading the body
    return conn


def read_reply(conn: socket.socket) -> tuple[int, dict]:
    reply = b""
    while chunk := conn.recv(65536):
        reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def wait_ready(url: str, context: ssl.SSLContext | None = None) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(url + "/v1/sys/init", timeout=2, context=context).read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_sigterm_finishes_the_request_in_flight_then_exits_0(tmp_path):
    port = free_port()
    with subprocess_server(plain_config(tmp_path / "data", port), tmp_path, port) as proc:
        wait_ready(f"http://127.0.0.1:{port}")
        # A gzip bomb first: refused from its headers, never inflated.
        bomb = gzip.compress(b"{" * 50_000_000)
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/sys/unseal", data=bomb, method="PUT",
                                         headers={"Content-Encoding": "gzip"})
        with pytest.raises(urllib.error.HTTPError) as refused_bomb:
            urllib.request.urlopen(request, timeout=10)
        assert refused_bomb.value.code == 415
        assert json.load(refused_bomb.value) == {"errors": ["unsupported Content-Encoding 'gzip'"]}

        body = json.dumps({"secret_shares": 1, "secret_threshold": 1}).encode()
        conn = start_request(port, "PUT", "/v1/sys/init?secret=marker-in-query", body, sent=10)
        proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        while not refused(port):  # it stops listening first
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert proc.poll() is None  # ... but waits for the request in flight
        conn.sendall(body[10:])
        status, reply = read_reply(conn)
        assert status == 200 and len(reply["keys"]) == 1 and reply["root_token"].startswith("s.")
        assert proc.wait(10) == 0
        stderr = proc.stderr.read()
    assert "shutting down" in stderr
    assert '"PUT /v1/sys/unseal" 415' in stderr and '"PUT /v1/sys/init" 200' in stderr
    assert "marker-in-query" not in stderr and reply["root_token"] not in stderr
    assert "Traceback" not in stderr and "ERROR" not in stderr


def test_after_sigterm_the_store_reopens_and_has_one_owner_at_a_time(tmp_path):
    data, first_port = tmp_path / "data", free_port()
    with subprocess_server(plain_config(data, first_port), tmp_path, first_port) as proc:
        wait_ready(f"http://127.0.0.1:{first_port}")
        request = urllib.request.Request(f"http://127.0.0.1:{first_port}/v1/sys/init", method="PUT",
                                         data=b'{"secret_shares": 3, "secret_threshold": 2}')
        assert urllib.request.urlopen(request).status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0

    port = free_port()
    with subprocess_server(plain_config(data, port), tmp_path, port) as proc:
        wait_ready(f"http://127.0.0.1:{port}")
        status = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/sys/seal-status"))
        assert (status["initialized"], status["sealed"], status["n"]) == (True, True, 3)

        other = tmp_path / "other.hcl"
        other.write_text(plain_config(data, free_port()))
        second = subprocess.run([STRONGROOM, "server", "-config", str(other)], capture_output=True, text=True,
                                timeout=60)
        assert second.returncode == 1
        assert "cannot open storage at" in second.stderr and "is already open" in second.stderr
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/sys/init").status == 200

        # A client that never finishes its body holds the drain; a second signal cuts it short.
        conn = start_request(port, "PUT", "/v1/sys/unseal", b'{"reset": true}' + b" " * 100, sent=3)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
        assert time.monotonic() - started < 5  # not the 30 s grace
        assert "still in flight" in proc.stderr.read()
        conn.close()


def test_a_bad_config_stops_the_process_naming_the_key_and_the_file(tmp_path):
    path = tmp_path / "bad.hcl"
    path.write_text(plain_config(tmp_path / "data", free_port()).replace("tls_disable", "tls_disabel"))
    result = subprocess.run([STRONGROOM, "server", "-config", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith(f"strongroom: config {path}: listener.tcp.tls_disabel: unknown key")
    assert not (tmp_path / "data").exists()  # refused before touching storage


@pytest.mark.parametrize("change, named", [
    (("", 'log_level = "loud"'), "log_level: expected one of trace, debug, info, warn, warning, error, got 'loud'"),
    (("tls_disable = true", 'tls_disable = true\n  max_request_size = "lots"'), "listener.tcp.max_request_size: invalid size 'lots'"),
    (("tls_disable = true", 'tls_disable = "maybe"'), "listener.tcp.tls_disable: expected true or false, got 'maybe'"),
    (("tls_disable = true", f'tls_cert_file = "/nonexistent/s.crt"\n  tls_key_file = "/nonexistent/s.key"'),
     "listener.tcp.tls_cert_file: cannot read '/nonexistent/s.crt'"),
    (("disable_mlock = true", "disable_mlock = true\nstorage \"lmdb\" { path = \"/tmp/x\" }"), "storage: 2 storage blocks given; exactly one is allowed"),
])
def test_each_bad_setting_is_named(tmp_path, capsys, change, named):
    # The same main() the console script runs, in this process: start-up refusals are all
    # config errors, so no server is started.
    from server.cli import main

    old, new = change
    text = plain_config(tmp_path / "data", free_port())
    path = tmp_path / "bad.hcl"
    path.write_text(text.replace(old, new, 1) if old else text + new)
    assert main(["server", "-config", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"strongroom: config {path}: ") and named in err, err


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "strongroom test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def test_tls_listener_serves_hvac_and_refuses_plain_http_and_old_tls(tmp_path):
    cert, key = self_signed(tmp_path)
    port = free_port()
    config = plain_config(tmp_path / "data", port).replace(
        "tls_disable = true", f'tls_cert_file = "{cert}"\n  tls_key_file = "{key}"\n  tls_min_version = "tls13"')
    with subprocess_server(config, tmp_path, port) as proc:
        trusted = ssl.create_default_context(cafile=str(cert))
        wait_ready(f"https://127.0.0.1:{port}", trusted)

        client = hvac.Client(url=f"https://127.0.0.1:{port}", verify=str(cert), token="")
        keys = client.sys.initialize(secret_shares=3, secret_threshold=2)
        client.sys.submit_unseal_keys(keys["keys"][:2])
        client.token = keys["root_token"]
        assert client.sys.read_health_status(method="GET")["sealed"] is False
        assert client.sys.enable_secrets_engine("kv", path="tls-kv").status_code == 204

        # Not the certificate the client trusts: refused.
        with pytest.raises(urllib.error.URLError) as untrusted:
            urllib.request.urlopen(f"https://127.0.0.1:{port}/v1/sys/health",
                                   context=ssl.create_default_context())
        assert isinstance(untrusted.value.reason, ssl.SSLCertVerificationError)
        # TLS 1.2 when the listener asks for 1.3 at least.
        old = ssl.create_default_context(cafile=str(cert))
        old.maximum_version = ssl.TLSVersion.TLSv1_2
        with pytest.raises(urllib.error.URLError) as too_old:
            urllib.request.urlopen(f"https://127.0.0.1:{port}/v1/sys/health", context=old)
        assert isinstance(too_old.value.reason, ssl.SSLError)
        # Plain HTTP on the TLS port gets no HTTP answer.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(b"GET /v1/sys/health HTTP/1.1\r\nHost: t\r\n\r\n")
            assert not conn.recv(1024).startswith(b"HTTP/1.1 200")
        assert proc.poll() is None
