"""Across processes: a restart needs the threshold of shares; a SIGKILL loses no acked write."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from itertools import combinations
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

OPEN = """
import json, sys
from seal.state import Seal
from storage.lmdb_store import LMDBBackend
backend = LMDBBackend(sys.argv[1])
seal = Seal(backend, lock_memory=False)
"""


def run(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", OPEN + textwrap.dedent(script), *args],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )


@pytest.fixture
def store(tmp_path):
    init = run("""
        shares = seal.initialize(5, 3).shares
        for s in shares[:3]:
            seal.submit_unseal_share(s)
        seal.barrier.put("secret/app", {"db_password": "correct horse"})
        backend.close()
        print(json.dumps([s.hex() for s in shares]))
    """, str(tmp_path / "data"))
    assert init.returncode == 0, init.stderr
    return tmp_path / "data", json.loads(init.stdout)


READ = """
results = []
for subset in json.loads(sys.argv[2]):
    fresh = Seal(backend, lock_memory=False)
    for s in subset:
        fresh.submit_unseal_share(bytes.fromhex(s))
    results.append({"sealed": fresh.sealed, "value": None if fresh.sealed else fresh.barrier.get("secret/app")})
    fresh.seal()
print(json.dumps(results))
"""


def read_with(path, subsets):
    out = run(READ, str(path), json.dumps([list(s) for s in subsets]))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_restart_opens_with_any_three_of_five(store):
    path, shares = store
    subsets = list(combinations(shares, 3)) + [[shares[4], shares[0], shares[2]]]
    opened = {"sealed": False, "value": {"db_password": "correct horse"}}
    assert read_with(path, subsets) == [opened] * len(subsets)


def test_restart_stays_sealed_with_two(store):
    path, shares = store
    subsets = list(combinations(shares, 2))
    assert read_with(path, subsets) == [{"sealed": True, "value": None}] * len(subsets)


def test_plaintext_never_on_disk(store):
    path, _ = store
    raw = b"".join(p.read_bytes() for p in path.iterdir() if p.is_file())
    assert b"correct horse" not in raw


def test_sigkill_loses_no_acknowledged_write(store):
    path, shares = store
    writer = subprocess.Popen(
        [sys.executable, "-u", "-c", OPEN + textwrap.dedent("""
            for s in sys.argv[2:]:
                seal.submit_unseal_share(bytes.fromhex(s))
            i = 0
            while True:
                seal.barrier.put(f"crash/{i}", {"n": i})
                print(i, flush=True)
                i += 1
        """), str(path), *shares[:3]],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )
    acked = []
    deadline = time.monotonic() + 30
    while len(acked) < 60 and time.monotonic() < deadline:
        line = writer.stdout.readline()
        if not line:
            break
        acked.append(int(line))
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    assert len(acked) >= 20, "the writer did not get going"
    check = subprocess.run(
        [sys.executable, "-c", OPEN + textwrap.dedent("""
            for s in sys.argv[2:]:
                seal.submit_unseal_share(bytes.fromhex(s))
            acked = int(__import__("os").environ["ACKED"])
            print(json.dumps([i for i in range(acked) if seal.barrier.get(f"crash/{i}") != {"n": i}]))
        """), str(path), *shares[1:4]],
        cwd=REPO, capture_output=True, text=True, timeout=60, env={**os.environ, "ACKED": str(len(acked))},
    )
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout) == []
