"""The hash chain through each device's log: `strongroom audit verify FILE` finds the first
edited, deleted or moved line; the chain survives a restart and a SIGHUP log rotation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import RunningServer, free_port, running_server, subprocess_server
from server.audit.chain import CHAIN_FIELD, GENESIS, chained_line, line_digest, verify_file
from test_audit_support import LineSink, audited_server, entries, file_device

STRONGROOM = Path(sys.executable).parent / "strongroom"  # the real console script


def _verify_cli(*paths: Path) -> list[subprocess.CompletedProcess]:
    """The real console script on each file, run side by side (each start imports the server)."""
    procs = [subprocess.Popen([str(STRONGROOM), "audit", "verify", str(p)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for p in paths]
    return [subprocess.CompletedProcess(p.args, p.wait(60), *p.communicate()) for p in procs]


def _synthetic_log(count: int) -> list[bytes]:
    lines, previous = [], GENESIS
    for n in range(count):
        line = chained_line({"type": "request", "request": {"path": f"kv/{n}", "data": None}}, previous)
        lines.append(line)
        previous = line_digest(line)
    return lines


def _verify_lines(lines: list[bytes]) -> tuple[int, int | None, str]:
    with tempfile.NamedTemporaryFile("wb", suffix=".log", delete=False) as file:
        file.write(b"".join(line + b"\n" for line in lines))
    try:
        return verify_file(file.name)
    finally:
        os.unlink(file.name)


@settings(max_examples=40, deadline=None)
@given(count=st.integers(3, 12), data=st.data())
def test_any_single_edit_delete_or_swap_is_found_at_its_line(count, data):
    lines = _synthetic_log(count)
    assert _verify_lines(lines) == (count, None, "ok")
    where = data.draw(st.integers(0, count - 1), label="edited line")
    edited = list(lines)
    edited[where] = edited[where].replace(f'"kv/{where}"'.encode(), f'"kv/{where}x"'.encode())
    assert _verify_lines(edited)[1] == where + 1
    # Deleting the first line looks like a rotated file, deleting the last one like a log
    # that ends earlier: only lines with a neighbour on each side are provably missing.
    gone = data.draw(st.integers(1, count - 2), label="deleted line")
    assert _verify_lines(lines[:gone] + lines[gone + 1:])[1] == gone + 1
    first = data.draw(st.integers(1, count - 2), label="swapped line")
    swapped = lines[:first] + [lines[first + 1], lines[first]] + lines[first + 2:]
    assert _verify_lines(swapped)[1] == first + 1


def test_edited_lines_are_caught_even_when_their_own_digest_is_recomputed():
    lines = _synthetic_log(4)
    body = json.loads(lines[1])
    body["request"]["path"] = "kv/forged"
    del body["sha256"]
    forged = chained_line({k: v for k, v in body.items() if k != CHAIN_FIELD}, body[CHAIN_FIELD])
    assert _verify_lines(lines[:1] + [forged] + lines[2:])[1] == 3  # the next link breaks
    assert _verify_lines(lines[:3] + [lines[3][:-5]])[1] == 4  # a torn last line
    assert _verify_lines([b"not json"] + lines)[1] == 1


def test_verify_cli_on_a_real_log(tmp_path):
    with audited_server(tmp_path) as (server, log):
        server.root("POST", "/v1/sys/mounts/kv", {"type": "kv"})
        for n in range(3):
            server.root("PUT", f"/v1/kv/{n}", {"v": str(n)})
    lines = log.read_bytes().splitlines(keepends=True)
    count = len(lines)
    edited, deleted, moved = tmp_path / "edited.log", tmp_path / "deleted.log", tmp_path / "moved.log"
    target = count // 2  # 0-based; a line in the middle of the file
    tampered = lines[target].replace(b'"time":"2', b'"time":"1', 1)
    edited.write_bytes(b"".join(lines[:target] + [tampered] + lines[target + 1:]))
    assert edited.read_bytes() != log.read_bytes()
    deleted.write_bytes(b"".join(lines[:target] + lines[target + 1:]))
    moved.write_bytes(b"".join(lines[:target] + [lines[target + 1], lines[target]] + lines[target + 2:]))

    intact, *broken = _verify_cli(log, edited, deleted, moved)
    assert intact.returncode == 0, intact.stderr
    assert f"{count} entries, chain intact" in intact.stdout
    for result in broken:
        assert result.returncode == 1
        assert f": line {target + 1}: " in result.stderr, result.stderr
    assert "edited" in broken[0].stderr


def test_the_chain_continues_across_a_restart(tmp_path):
    log = tmp_path / "audit.log"
    with audited_server(tmp_path, log=log) as (server, _):
        keys = server.keys
        server.root("PUT", "/v1/sys/policy/p", {"policy": 'path "kv/*" { capabilities = ["read"] }'})
    first_run = log.read_bytes().splitlines()
    with running_server(tmp_path / "data", audit=file_device(log)) as server:
        _unseal(server, keys)
    all_lines = log.read_bytes().splitlines()
    assert len(all_lines) > len(first_run)
    assert json.loads(all_lines[len(first_run)])[CHAIN_FIELD] == line_digest(first_run[-1])
    assert verify_file(str(log)) == (len(all_lines), None, "ok")  # the whole file, both runs


def _unseal(server: RunningServer, keys: list[str]) -> None:
    for key in keys[:3]:
        server.call("PUT", "/v1/sys/unseal", {"key": key})
    assert server.core.seal.sealed is False


def test_a_socket_devices_chain_continues_across_seal_and_restart(tmp_path):
    """Nothing can be read back from a socket: its chain head is kept in the barrier."""
    sink = LineSink()
    audit = {"socket": {"net": {"options": {"address": f"127.0.0.1:{sink.port}"}}}}
    try:
        with audited_server(tmp_path, audit=audit) as (server, _):
            keys, token = server.keys, server.root_token
            assert server.root("PUT", "/v1/sys/seal")[0] == 204
            _unseal(server, keys)
        with running_server(tmp_path / "data", audit=audit) as server:
            _unseal(server, keys)
            assert server.call("GET", "/v1/sys/mounts", token=token)[0] == 200
        received = sink.settled()
    finally:
        sink.close()
    collected = tmp_path / "collected.log"
    collected.write_bytes(received)
    assert len(sink._received) == 3  # one connection per unseal
    count = len(received.splitlines())
    assert verify_file(str(collected)) == (count, None, "ok")
    assert [e["request"]["path"] for e in entries(collected)][-2:] == ["sys/mounts"] * 2


def test_sighup_reopens_the_log_for_rotation(tmp_path):
    port, log, data = free_port(), tmp_path / "audit.log", tmp_path / "data"
    config = f"""
storage "lmdb" {{ path = "{data}" }}
listener "tcp" {{
  address = "127.0.0.1:{port}"
  tls_disable = true
}}
disable_mlock = true
audit "file" "main" {{
  options {{
    file_path = "{log}"
    mode = "0600"
  }}
}}
"""
    with subprocess_server(config, tmp_path, port) as proc:
        server = RunningServer(url=f"http://127.0.0.1:{port}")
        status, body, _ = server.call("PUT", "/v1/sys/init", {"secret_shares": 1, "secret_threshold": 1})
        assert status == 200, (body, proc.poll())
        token = body["root_token"]
        assert server.call("PUT", "/v1/sys/unseal", {"key": body["keys"][0]})[1]["sealed"] is False
        assert server.call("GET", "/v1/sys/mounts", token=token)[0] == 200
        rotated = tmp_path / "audit.log.1"
        log.rename(rotated)
        assert server.call("GET", "/v1/sys/policy", token=token)[0] == 200  # still the renamed file
        os.kill(proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while not log.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.call("GET", "/v1/sys/key-status", token=token)[0] == 200
        assert proc.poll() is None
    new_lines = entries(log)
    assert [e["request"]["path"] for e in new_lines][:2] == ["sys/key-status"] * 2
    assert [e["request"]["path"] for e in entries(rotated)][-1] == "sys/policy"
    assert new_lines[0][CHAIN_FIELD] == line_digest(rotated.read_bytes().splitlines()[-1])
    assert oct(log.stat().st_mode & 0o777) == "0o600"
    for part in (rotated, log):
        assert verify_file(str(part))[1:] == (None, "ok")
