"""KV v2 throughput over HTTP: writes to distinct keys, then reads, against a real server.

Run it (from the repository root; not part of the pytest suite):

    .venv/bin/python tests/bench/kv_bench.py [--connections 32] [--duration 10]

What it does: starts `strongroom server -config` as a subprocess on a temporary LMDB
directory, initialises it (1 share), unseals it and mounts kv v2 at bench/. A separate
load-generator process (asyncio + aiohttp, N keep-alive connections, one request in flight
per connection) then drives, for a fixed duration each:

  1. ceiling: GET / on a trivial aiohttp "hello" server in its own process — the most this
     load generator can push on this machine, so the strongroom figures can be judged;
  2. write:   POST bench/data/w<conn>-<i> (a new key every request, 64-byte value);
  3. read:    GET bench/data/<one of the keys written in 2>.

It prints requests/s, p50 and p99 latency and the error count of each phase. A request is
an error when the status is not the expected one (200) or the connection fails. A warm-up
second before each phase is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

WARMUP_SECONDS = 1.0
TOKEN_ENV = "KV_BENCH_TOKEN"


# -- the load generator (a separate process) ----------------------------------------------

async def _generate(url: str, mode: str, connections: int, duration: float, keys: list[int]) -> dict:
    import aiohttp

    token = os.environ.get(TOKEN_ENV, "")
    headers = {"X-Vault-Token": token} if token else {}
    latencies: list[float] = []
    errors = 0
    written = [0] * connections  # keys w<conn>-0 .. w<conn>-(n-1), for the read phase
    owners = [c for c, n in enumerate(keys) if n]
    if mode == "read" and not owners:
        raise SystemExit("the read phase needs the keys the write phase wrote")
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        start = time.perf_counter()
        measure_from = start + WARMUP_SECONDS
        deadline = measure_from + duration

        async def worker(index: int) -> None:
            nonlocal errors
            rng = random.Random(index)
            while (now := time.perf_counter()) < deadline:
                if mode == "write":
                    method, target = "POST", f"{url}/v1/bench/data/w{index}-{written[index]}"
                    body = {"data": {"value": secrets.token_hex(32)}}
                    written[index] += 1
                elif mode == "read":
                    owner = rng.choice(owners)
                    method, target, body = "GET", f"{url}/v1/bench/data/w{owner}-{rng.randrange(keys[owner])}", None
                else:
                    method, target, body = "GET", f"{url}/", None
                try:
                    async with session.request(method, target, json=body) as response:
                        await response.read()
                        ok = response.status == 200
                except aiohttp.ClientError:
                    ok = False
                if now >= measure_from:
                    latencies.append(time.perf_counter() - now)
                    errors += not ok

        await asyncio.gather(*(worker(i) for i in range(connections)))
    latencies.sort()

    def quantile(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")

    return {"requests": len(latencies), "errors": errors, "rps": len(latencies) / duration,
            "p50_ms": quantile(0.50), "p99_ms": quantile(0.99), "written": written}


def _loadgen_main(args: argparse.Namespace) -> None:
    keys = json.loads(args.keys) if args.keys else []
    result = asyncio.run(_generate(args.url, args.mode, args.connections, args.duration, keys))
    print(json.dumps(result))


# -- the trivial ceiling server (a separate process) --------------------------------------

def _hello_main(args: argparse.Namespace) -> None:
    from aiohttp import web

    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"hello": "world"})

    app = web.Application()
    app.router.add_get("/", hello)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


# -- the orchestrator -----------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited early with status {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on port {port} after {timeout}s")


def _call(url: str, method: str, path: str, body: dict | None = None, token: str | None = None) -> dict | None:
    request = urllib.request.Request(url + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
    if token:
        request.add_header("X-Vault-Token", token)
    with urllib.request.urlopen(request, timeout=30) as response:
        payload = response.read()
    return json.loads(payload) if payload else None


def _run_loadgen(url: str, mode: str, connections: int, duration: float, token: str = "",
                 keys: list[int] | None = None) -> dict:
    command = [sys.executable, __file__, "--loadgen", "--url", url, "--mode", mode,
               "--connections", str(connections), "--duration", str(duration)]
    if keys is not None:
        command += ["--keys", json.dumps(keys)]
    env = {**os.environ, TOKEN_ENV: token}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True,
                          timeout=duration + WARMUP_SECONDS + 120)
    return json.loads(done.stdout)


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM (the server seals and closes LMDB), SIGKILL after 30 s; both skip a dead process."""
    process.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(30)
    process.kill()
    process.wait()


def _row(name: str, result: dict) -> str:
    return (f"{name:<28} {result['rps']:>10.0f} {result['p50_ms']:>9.2f} {result['p99_ms']:>9.2f} "
            f"{result['errors']:>7} {result['requests']:>9}")


def _main(args: argparse.Namespace) -> None:
    strongroom = Path(sys.executable).parent / "strongroom"
    workdir = Path(tempfile.mkdtemp(prefix="kv-bench-"))
    processes: list[subprocess.Popen] = []
    try:
        hello_port = _free_port()
        hello = subprocess.Popen([sys.executable, __file__, "--hello", "--port", str(hello_port)])
        processes.append(hello)
        _wait_for_port(hello_port, hello)
        ceiling = _run_loadgen(f"http://127.0.0.1:{hello_port}", "hello", args.connections, args.duration)
        _stop(hello)

        port = _free_port()
        config = workdir / "server.hcl"
        config.write_text(
            f'storage "lmdb" {{\n  path = "{workdir / "data"}"\n}}\n'
            f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n}}\n'
            f'log_level = "{args.log_level}"\n'
        )
        with open(workdir / "server.log", "w") as log:
            server = subprocess.Popen([str(strongroom), "server", "-config", str(config)], cwd=workdir,
                                      stdout=log, stderr=subprocess.STDOUT)
        processes.append(server)
        _wait_for_port(port, server)
        url = f"http://127.0.0.1:{port}"
        init = _call(url, "PUT", "/v1/sys/init", {"secret_shares": 1, "secret_threshold": 1})
        _call(url, "PUT", "/v1/sys/unseal", {"key": init["keys"][0]})
        token = init["root_token"]
        _call(url, "POST", "/v1/sys/mounts/bench", {"type": "kv", "options": {"version": "2"}}, token)

        write = _run_loadgen(url, "write", args.connections, args.duration, token)
        read = _run_loadgen(url, "read", args.connections, args.duration, token, keys=write["written"])

        print(f"\nKV v2 over HTTP, {args.connections} connections, {args.duration:g}s per phase "
              f"(+{WARMUP_SECONDS:g}s warm-up), server log_level={args.log_level}, LMDB in {workdir}")
        print(f"{'phase':<28} {'req/s':>10} {'p50 ms':>9} {'p99 ms':>9} {'errors':>7} {'requests':>9}")
        print(_row("ceiling (aiohttp hello)", ceiling))
        print(_row("kv v2 write (new keys)", write))
        print(_row("kv v2 read", read))
    finally:
        for process in processes:
            _stop(process)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--log-level", default="info", help="the server's log_level (its access log is info)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--loadgen", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--hello", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--keys", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loadgen:
        _loadgen_main(args)
    elif args.hello:
        _hello_main(args)
    else:
        _main(args)


if __name__ == "__main__":
    main()
