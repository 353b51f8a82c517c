"""What the server does on its own (scheduled key transitions and rotations) reaches the audit log."""

import json
import time

from conftest import initialise, running_server


def test_scheduled_transitions_and_rotations_are_audited(tmp_path):
    log_path = tmp_path / "audit.log"
    audit = {"file": {"sched": {"options": {"file_path": str(log_path)}}}}
    with running_server(tmp_path / "data", audit=audit) as server:
        initialise(server)
        server.root("POST", "/v1/sys/mounts/transit", {"type": "transit"})
        status, body, _ = server.root("POST", "/v1/transit/keys/orders", {"originator_usage_period": "1h"})
        assert status in (200, 204), body
        engine = server.core.engines["transit/"]
        engine.tick(time.time() + 2 * 3600)  # the originator period of version 1 has ended
        deadline = time.monotonic() + 10
        events = []
        while time.monotonic() < deadline:
            events = [json.loads(line) for line in log_path.read_text().splitlines()]
            events = [e for e in events if e["type"] == "event"]
            if {"scheduled:deactivated", "scheduled:rotate"} <= {e["request"]["operation"] for e in events}:
                break
            time.sleep(0.2)
        operations = {e["request"]["operation"]: e for e in events}
        assert "scheduled:deactivated" in operations and "scheduled:rotate" in operations
        assert operations["scheduled:deactivated"]["request"]["path"] == "transit/keys/orders"
        assert operations["scheduled:deactivated"]["request"]["data"] == {"version": 1}
        assert operations["scheduled:deactivated"]["auth"]["display_name"] == "strongroom-scheduler"
        status, key, _ = server.root("GET", "/v1/transit/keys/orders")
        assert key["data"]["latest_version"] == 2
