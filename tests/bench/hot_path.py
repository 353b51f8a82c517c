"""The per-request CPU cost of strongroom's own code, with no socket and no load generator.

    .venv/bin/python tests/bench/hot_path.py            # microseconds a request, per workload
    .venv/bin/python tests/bench/hot_path.py --profile "encrypt 32"   # cProfile of one workload

Each workload's raw HTTP request is fed to the fast path's protocol (server/fast_path.py) over a
transport that only keeps what is written, in one process with one core, so the figure is what
the pipeline costs: parsing, token and policy checks, the handler and the reply bytes. wrk and
the kernel's socket work are what tests/bench/perf.py adds on top. Quote these figures as
before/after on the same machine; they move with its speed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from config import settings_from_dict  # noqa: E402
from server.app import Service  # noqa: E402
from server.pipeline import answer, logical_request  # noqa: E402
from tests.bench.perf import BENCH_POLICY  # noqa: E402


class Transport:
    """Enough of an asyncio transport for FastPathProtocol: it keeps the last reply."""

    def __init__(self) -> None:
        self.last = b""

    def get_extra_info(self, name: str, default=None):
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8200)}.get(name, default)

    def write(self, data: bytes) -> None:
        self.last = data

    def close(self) -> None:
        raise AssertionError("the connection was closed: " + self.last[:200].decode("latin-1"))

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def call(core, method: str, path: str, body: dict | None = None, token: str | None = None) -> dict:
    headers = {"X-Vault-Token": token} if token else {}
    raw = json.dumps(body).encode() if body is not None else None
    reply = await answer(core, logical_request(method, path, {}, headers, raw, "127.0.0.1"))
    assert reply.status < 300, reply.body
    return reply.body or {}


def raw_request(method: str, path: str, token: str, body: str | None) -> bytes:
    payload = (body or "").encode()
    head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:8200\r\nX-Vault-Token: {token}\r\n"
            f"Content-Type: application/json\r\nUser-Agent: wrk\r\n")
    if body is not None:
        head += f"Content-Length: {len(payload)}\r\n"
    return head.encode() + b"\r\n" + payload


async def prepare(core, root: bool) -> tuple[str, list[tuple[str, bytes]]]:
    init = await call(core, "PUT", "/v1/sys/init", {"secret_shares": 1, "secret_threshold": 1})
    await call(core, "PUT", "/v1/sys/unseal", {"key": init["keys"][0]})
    token = init["root_token"]
    await call(core, "POST", "/v1/sys/mounts/kv", {"type": "kv", "options": {"version": "2"}}, token)
    await call(core, "POST", "/v1/sys/mounts/transit", {"type": "transit"}, token)
    await call(core, "POST", "/v1/transit/keys/bench", {}, token)
    await call(core, "POST", "/v1/kv/data/read-me", {"data": {"password": "x" * 32}}, token)
    if not root:  # as perf.py: a token with one policy, so each request pays for its ACL check
        await call(core, "PUT", "/v1/sys/policies/acl/bench", {"policy": BENCH_POLICY}, token)
        token = (await call(core, "POST", "/v1/auth/token/create", {"policies": ["bench"]}, token))["auth"]["client_token"]
    small = base64.b64encode(os.urandom(32)).decode()
    large = base64.b64encode(os.urandom(4096)).decode()
    sealed = await call(core, "POST", "/v1/transit/encrypt/bench", {"plaintext": small}, token)
    batch = json.dumps({"batch_input": [{"plaintext": small}] * 100})
    loads = [
        ("transit encrypt 32B", "POST", "/v1/transit/encrypt/bench", json.dumps({"plaintext": small})),
        ("transit encrypt 4KiB", "POST", "/v1/transit/encrypt/bench", json.dumps({"plaintext": large})),
        ("transit decrypt", "POST", "/v1/transit/decrypt/bench",
         json.dumps({"ciphertext": sealed["data"]["ciphertext"]})),
        ("transit batch 100", "POST", "/v1/transit/encrypt/bench", batch),
        ("kv v2 read", "GET", "/v1/kv/data/read-me", None),
        ("sys/health", "GET", "/v1/sys/health", None),
    ]
    return token, [(name, raw_request(method, path, token, body)) for name, method, path, body in loads]


async def run_one(service: Service, data: bytes, count: int) -> float:
    """CPU seconds a request (process time: other work on the machine counts less than in
    wall time), `count` requests on one connection, each answered before the next."""
    from server.fast_path import FastPathProtocol

    transport = Transport()
    protocol = FastPathProtocol(service, lambda: None)
    protocol.connection_made(transport)
    try:
        started = time.process_time()
        for _ in range(count):
            protocol.data_received(data)
            task = protocol._task
            if task is not None and not task.done():
                await task
        elapsed = time.process_time() - started
    finally:
        protocol.connection_lost(None)
    status = transport.last[9:12]
    if status != b"200":
        raise SystemExit(f"workload answered {status!r}: {transport.last[:300]!r}")
    return elapsed / count


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_from_dict({"storage": {"lmdb": {"path": tmp}},
                                       "listener": {"tcp": {"address": "127.0.0.1:8200", "tls_disable": True}}},
                                      "hot path bench", check_files=False)
        service = Service(settings)
        core = await service.open()
        try:
            _, loads = await prepare(core, args.root)
            for name, data in loads:
                if args.only and args.only not in name:
                    continue
                count = args.count // 20 if "batch" in name else args.count
                await run_one(service, data, max(count // 10, 1))  # warm caches
                if args.profile:
                    profiler = cProfile.Profile()
                    profiler.enable()
                    await run_one(service, data, count)
                    profiler.disable()
                    pstats.Stats(profiler).sort_stats("tottime").print_stats(args.lines)
                    continue
                best = min([await run_one(service, data, count) for _ in range(args.repeat)])
                print(f"{name:24s} {best * 1e6:8.1f} us/request")
        finally:
            await service.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="run only workloads whose name contains this")
    parser.add_argument("--count", type=int, default=20000, help="requests a repeat (batch: a twentieth)")
    parser.add_argument("--repeat", type=int, default=5, help="repeats; the best is printed")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of each workload instead")
    parser.add_argument("--lines", type=int, default=35)
    parser.add_argument("--root", action="store_true", help="the root token (no ACL check), not a policy's")
    args = parser.parse_args()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main_async(args))


if __name__ == "__main__":
    main()
