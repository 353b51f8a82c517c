"""The LMDB backend's gate: readers share it, a resize or close excludes them all."""

import threading
import time

from storage.shared_lock import SharedExclusiveLock


def test_exclusive_waits_for_every_shared_holder_and_new_readers_wait_for_it():
    lock = SharedExclusiveLock()
    events: list[str] = []
    lock.acquire_shared()
    with lock.shared():  # a second reader at the same time
        def writer():
            with lock.exclusive():
                events.append("exclusive")
                time.sleep(0.05)
            events.append("exclusive done")

        def late_reader():
            with lock.shared():
                events.append("late reader")

        thread = threading.Thread(target=writer)
        thread.start()
        time.sleep(0.05)
        reader = threading.Thread(target=late_reader)
        reader.start()  # queued behind the waiting exclusive holder
        time.sleep(0.05)
        assert events == []
    assert events == []  # one shared holder is left
    lock.release_shared()
    thread.join(5)
    reader.join(5)
    assert events[0] == "exclusive" and sorted(events[1:]) == ["exclusive done", "late reader"]
