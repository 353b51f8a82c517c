"""KV v2 against a model: random writes, deletes, undeletes, destroys and max_versions changes,
after each of which every read, the metadata and the entries in storage must match the model.

Runs the engine's handlers directly on a barrier over the in-memory backend (no HTTP), so
hypothesis can try many sequences quickly.
"""

import asyncio

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from seal.barrier import Barrier
from seal.lockedmem import LockedBuffer
from server.engines.kv_store import VERSIONS_PREFIX, version_key
from server.engines.kv_v2 import KVv2Engine
from server.mounts import MountEntry
from server.request import Request
from storage.memory import MemoryBackend

KEYS = ("a", "a/b", "c")


class KVv2Machine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        backend = MemoryBackend()
        barrier = Barrier(backend, lock_memory=False)
        backend.transaction(barrier.initialize(LockedBuffer.from_bytes(bytes(32), lock=False)))
        mount = MountEntry(path="secret/", type="kv", uuid="u", options={"version": "2"})
        self.engine = KVv2Engine(barrier.view(mount.storage_prefix), mount)
        self.loop = asyncio.new_event_loop()
        self.tick = 10**18
        self.engine.clock = lambda: self.tick
        # key -> {"values": {n: data}, "deleted": set, "destroyed": set, "current": n, "max": m}
        self.model: dict[str, dict] = {}

    def teardown(self) -> None:
        self.loop.close()

    def call(self, operation: str, path: str, data: dict | None = None, query: dict | None = None):
        self.tick += 1000
        request = Request(operation, "secret/" + path, data or {}, query or {}, relative_path=path)
        return self.loop.run_until_complete(self.engine.handle(request))

    def entry(self, key: str) -> dict:
        return self.model.setdefault(key, {"values": {}, "deleted": set(), "destroyed": set(), "current": 0, "max": 0})

    @rule(key=st.sampled_from(KEYS), value=st.integers())
    def write(self, key, value):
        reply = self.call("update", f"data/{key}", {"data": {"v": value}})
        entry = self.entry(key)
        entry["current"] += 1
        assert reply.status == 200 and reply.body["data"]["version"] == entry["current"]
        entry["values"][entry["current"]] = {"v": value}
        limit = entry["max"] or 10
        for number in [n for n in entry["values"] if n <= entry["current"] - limit]:
            del entry["values"][number]

    @rule(key=st.sampled_from(KEYS))
    def delete_latest(self, key):
        assert self.call("delete", f"data/{key}").status == 204
        if key in self.model and self.model[key]["current"] in self.model[key]["values"]:
            self.model[key]["deleted"].add(self.model[key]["current"])

    @rule(key=st.sampled_from(KEYS), number=st.integers(1, 12), undo=st.booleans())
    def delete_or_undelete(self, key, number, undo):
        assert self.call("update", f"{'undelete' if undo else 'delete'}/{key}", {"versions": [number]}).status == 204
        if key in self.model and number in self.model[key]["values"]:
            (self.model[key]["deleted"].discard if undo else self.model[key]["deleted"].add)(number)

    @rule(key=st.sampled_from(KEYS), number=st.integers(1, 12))
    def destroy(self, key, number):
        assert self.call("update", f"destroy/{key}", {"versions": [number]}).status == 204
        if key in self.model and number in self.model[key]["values"]:
            self.model[key]["destroyed"].add(number)

    @rule(key=st.sampled_from(KEYS), limit=st.integers(0, 4))
    def set_max_versions(self, key, limit):
        assert self.call("update", f"metadata/{key}", {"max_versions": limit}).status == 204
        self.entry(key)["max"] = limit  # takes effect on the next write, as in Vault

    @invariant()
    def reads_metadata_and_storage_match_the_model(self):
        stored = set()
        for key, entry in self.model.items():
            meta = self.call("read", f"metadata/{key}").body["data"]
            assert sorted(int(n) for n in meta["versions"]) == sorted(entry["values"])
            assert meta["current_version"] == entry["current"]
            for number, value in entry["values"].items():
                reply = self.call("read", f"data/{key}", query={"version": str(number)})
                gone = number in entry["destroyed"] or number in entry["deleted"]
                assert reply.status == (404 if gone else 200)
                assert reply.body["data"]["data"] == (None if gone else value)
                assert reply.body["data"]["metadata"]["destroyed"] == (number in entry["destroyed"])
                if number not in entry["destroyed"]:
                    stored.add(version_key(key, number))
        view = self.engine.view
        on_disk = {f"{VERSIONS_PREFIX}{h}{n}" for h in view.list(VERSIONS_PREFIX) for n in view.list(VERSIONS_PREFIX + h)}
        assert on_disk == stored  # pruned and destroyed data is gone from storage, live data is there


TestKVv2Model = KVv2Machine.TestCase
TestKVv2Model.settings = settings(max_examples=25, stateful_step_count=25, deadline=None)
