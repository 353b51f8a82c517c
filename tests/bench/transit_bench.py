"""Transit throughput over HTTP: encrypt, decrypt and batch encrypt against a real server.

Run it (from the repository root; not part of the pytest suite):

    .venv/bin/python tests/bench/transit_bench.py [--connections 32] [--duration 10] [--rounds 1]

The transit rows of the shared harness tests/bench/perf.py, run on their own: it starts
`strongroom server -config` as a subprocess (LMDB in a temporary directory, one share,
unsealed, transit mounted at transit/ with the aes256-gcm96 key "bench"), then drives each
workload for a fixed duration from wrk in its own process, N connections:

  transit encrypt 32B    POST transit/encrypt/bench, 32-byte plaintext
  transit encrypt 4KiB   POST transit/encrypt/bench, 4096-byte plaintext
  transit decrypt        POST transit/decrypt/bench of a 32-byte plaintext's ciphertext
  transit batch 100      POST transit/encrypt/bench with 100 items (the rate is items/s)

and last the load generator's own ceiling against a bare aiohttp "hello" server. It prints
the rate, p50, p99 and errors (non-2xx and socket errors) of each, the median over --rounds.
The load generation and server plumbing are perf.py's; this file only picks and repeats.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import perf  # noqa: E402  (tests/bench is not a package; the shared harness is imported so)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=32, help="concurrent keep-alive connections")
    parser.add_argument("--duration", type=int, default=10, help="seconds per workload per round")
    parser.add_argument("--rounds", type=int, default=1, help="runs per workload; the median is shown")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("the benchmark drives load with wrk (as tests/bench/perf.py does): apt-get install wrk")
    workdir = Path(tempfile.mkdtemp(prefix="transit-bench-"))
    server = perf.start_strongroom(workdir)
    try:
        perf.prepare(server)
        rows = []
        for index, (name, method, path, body, distinct, items) in enumerate(perf.workloads(server)):
            if not name.startswith("transit"):
                continue
            script = perf.lua_script(workdir, f"transit{index}", server, method, path, body, distinct)
            runs = [perf.run_wrk(server.url + path, script, args.connections, args.duration)
                    for _ in range(args.rounds)]
            rows.append((name, items, runs))
        ceiling = perf.measure_ceiling(workdir, args.connections, args.duration)
        rss = server.rss_mb()
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\ntransit over HTTP: wrk -c{args.connections} -d{args.duration}s, median of {args.rounds} round(s), "
          f"server resident memory {rss:.0f} MB")
    print(f"{'workload':<24}{'req/s':>9}{'items/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for name, items, runs in rows:
        rate = statistics.median(r["rps"] for r in runs)
        print(f"{name:<24}{rate:>9.0f}{rate * items:>10.0f}{statistics.median(r['p50'] for r in runs):>9.2f}"
              f"{statistics.median(r['p99'] for r in runs):>9.2f}{sum(r['errors'] for r in runs):>8}")
    print(f"{'ceiling (aiohttp hello)':<24}{ceiling['rps']:>9.0f}{'':>10}{ceiling['p50']:>9.2f}{ceiling['p99']:>9.2f}"
          f"{ceiling['errors']:>8}")


if __name__ == "__main__":
    main()
