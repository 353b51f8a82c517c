"""The failed-login guard: per-address backoff (unit level, fake clock) and over HTTP."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.auth.approle_login_guard import LoginGuard


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _guard(clock: FakeClock, slept: list[float] | None = None, **kw) -> LoginGuard:
    async def sleep(seconds: float) -> None:
        if slept is not None:
            slept.append(seconds)

    return LoginGuard("auth/test/", clock=clock, sleep=sleep, **kw)


def test_backoff_starts_after_five_failures_and_doubles_up_to_the_cap():
    clock = FakeClock()
    guard = _guard(clock)
    delays = []
    for _ in range(12):
        delays.append(guard.delay_for("10.0.0.1"))
        guard.record_failure("10.0.0.1")
    assert delays == [0, 0, 0, 0, 0, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0]
    assert guard.delay_for("10.0.0.2") == 0  # another address is untouched
    assert guard.failed_logins == 12


def test_failures_age_out_of_the_window():
    clock = FakeClock()
    guard = _guard(clock)
    for _ in range(6):
        guard.record_failure("10.0.0.1")
        clock.now += 5
    assert guard.delay_for("10.0.0.1") == pytest.approx(0.2)
    clock.now += 40  # the first three failures are now 60 s old or more
    assert guard.recent_failures("10.0.0.1") == 3 and guard.delay_for("10.0.0.1") == 0
    clock.now += 60
    guard.prune()
    assert guard.recent_failures("10.0.0.1") == 0 and not guard._failures


def test_the_stalest_address_is_forgotten_first():
    clock = FakeClock()
    guard = _guard(clock, max_tracked=3)
    for address in ("a", "b", "c"):
        guard.record_failure(address)
    guard.record_failure("a")  # a is now the most recent
    guard.record_failure("d")
    assert set(guard._failures) == {"a", "c", "d"}


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=200), max_size=30))
def test_delay_never_falls_while_failures_accumulate_and_never_passes_the_cap(gaps):
    clock = FakeClock()
    guard = _guard(clock, window=10_000.0)
    previous = 0.0
    for gap in gaps:
        clock.now += gap / 10
        guard.record_failure("x")
        delay = guard.delay_for("x")
        assert previous <= delay <= guard.cap
        previous = delay


def test_failures_are_logged_with_the_address_and_never_credentials(caplog):
    guard = _guard(FakeClock())
    with caplog.at_level(logging.WARNING, logger="strongroom.auth"):
        guard.record_failure("192.0.2.7")
    assert "auth/test/" in caplog.text and "192.0.2.7" in caplog.text and "1 on this mount" in caplog.text


async def test_a_backing_off_address_waits_and_goes_one_at_a_time_while_others_pass():
    clock = FakeClock()
    slept: list[float] = []
    guard = _guard(clock, slept)
    for _ in range(6):
        guard.record_failure("bad")
    inside: list[str] = []
    release = asyncio.Event()

    async def attempt(address: str, tag: str) -> None:
        async with guard.attempt(address):
            inside.append(tag)
            if tag == "bad-1":
                await release.wait()

    first = asyncio.create_task(attempt("bad", "bad-1"))
    second = asyncio.create_task(attempt("bad", "bad-2"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    await attempt("good", "good")  # not held up by the queue of the other address
    assert inside == ["bad-1", "good"]  # bad-2 waits for bad-1
    release.set()
    await asyncio.gather(first, second)
    assert inside == ["bad-1", "good", "bad-2"]
    assert slept == [0.2, 0.2]  # both paid the delay; the good address paid nothing
    assert guard._queues == {}


LOGIN = "/v1/auth/approle/login"


def test_repeated_failures_over_http_slow_the_next_one_without_blocking_the_server(server):
    server.root("POST", "/v1/sys/auth/approle", {"type": "approle"})
    bad = {"role_id": "nope", "secret_id": "nope"}
    started = time.monotonic()
    assert server.call("POST", LOGIN, bad)[0] == 400
    first = time.monotonic() - started
    for _ in range(7):
        assert server.call("POST", LOGIN, bad)[0] == 400
    # 8 failures within the minute: the 9th attempt waits 0.1 * 2**3 = 0.8 s before it is checked
    result: dict[str, float] = {}

    def slow_login() -> None:
        began = time.monotonic()
        result["status"] = server.call("POST", LOGIN, bad)[0]
        result["took"] = time.monotonic() - began

    thread = threading.Thread(target=slow_login)
    thread.start()
    time.sleep(0.1)
    began = time.monotonic()
    assert server.call("GET", "/v1/sys/health")[0] == 200  # the event loop keeps serving
    health = time.monotonic() - began
    thread.join()
    assert result["status"] == 400
    assert result["took"] >= 0.75 and first < 0.5 and health < 0.5
    assert server.core.auth_engines["approle/"].guard.failed_logins == 9
