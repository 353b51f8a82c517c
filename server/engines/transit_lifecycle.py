"""The lifecycle of one transit key version: its NIST SP 800-57 / KMIP state, the allowed
transitions between states, the history of every transition, and what each state permits.

This module knows nothing of HTTP, storage or key bytes: TransitKey holds one VersionLife per
version and asks it whether a protect operation (encrypt, sign, wrap, hmac) or a process
operation (decrypt, verify, unwrap, hmac verify) may use the version at a given time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from server.engines.transit_errors import IllegalTransitionError, KeyStateError

PRE_ACTIVE = "pre-active"
ACTIVE = "active"
SUSPENDED = "suspended"
DEACTIVATED = "deactivated"
COMPROMISED = "compromised"
DESTROYED = "destroyed"
STATES = (PRE_ACTIVE, ACTIVE, SUSPENDED, DEACTIVATED, COMPROMISED, DESTROYED)
NANOS = 1_000_000_000
SCHEDULER = "strongroom-scheduler"  # the "who" of transitions made by tick()

# NIST SP 800-57 Part 1 Rev. 5 §7 (Figure 5): pre-activation may become active, compromised
# or destroyed; active may be suspended, deactivated or compromised; a suspension ends in
# active, deactivated or compromised; deactivated and compromised keys may only be destroyed
# (deactivated ones may still be found compromised); destruction is final.
TRANSITIONS: dict[str, frozenset[str]] = {
    PRE_ACTIVE: frozenset({ACTIVE, COMPROMISED, DESTROYED}),
    ACTIVE: frozenset({SUSPENDED, DEACTIVATED, COMPROMISED}),
    SUSPENDED: frozenset({ACTIVE, DEACTIVATED, COMPROMISED}),
    DEACTIVATED: frozenset({COMPROMISED, DESTROYED}),
    COMPROMISED: frozenset({DESTROYED}),
    DESTROYED: frozenset(),
}
# SP 800-57 §7.3: the recipient usage period lets deactivated and compromised keys process
# (decrypt, verify, unwrap) data already protected; only active keys protect new data.
PROTECT_STATES = frozenset({ACTIVE})
PROCESS_STATES = frozenset({ACTIVE, DEACTIVATED, COMPROMISED})


@dataclass
class VersionLife:
    """State, history and usage of one version. `activated_ns` is when the version became
    (or, while pre-active, will become) active: cryptoperiods are counted from it."""

    state: str = ACTIVE
    activated_ns: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    destroy_at_ns: int = 0  # a scheduled destruction; 0 when none
    restore_state: str = ""  # the state to return to when a scheduled destruction is cancelled
    reserved: int = 0  # encryptions reserved in storage (never below the true count)
    used: int = 0  # encryptions counted in memory since the last load
    kcv: str = ""

    @classmethod
    def fresh(cls, created_ns: int, activation_ns: int = 0) -> "VersionLife":
        """A new version: active now, or pre-active until activation_ns."""
        if activation_ns > created_ns:
            return cls(state=PRE_ACTIVE, activated_ns=activation_ns)
        return cls(state=ACTIVE, activated_ns=created_ns)

    @classmethod
    def from_record(cls, record: Any, created_ns: int) -> "VersionLife":
        """A stored lifecycle; a version stored before lifecycles existed is active from its
        creation, as every Vault key version is."""
        if not isinstance(record, dict):
            return cls(state=ACTIVE, activated_ns=created_ns)
        state = str(record.get("state", ACTIVE))
        if state not in STATES:
            raise ValueError("unknown key version state")
        reserved = int(record.get("reserved") or 0)
        # After a restart the count resumes from the reservation: a crash may over-count,
        # never under-count (the whole point of reserving before use).
        return cls(state=state, activated_ns=int(record.get("activated") or created_ns),
                   history=[dict(entry) for entry in record.get("history") or []],
                   destroy_at_ns=int(record.get("destroy_at") or 0), restore_state=str(record.get("restore") or ""),
                   reserved=reserved, used=reserved, kcv=str(record.get("kcv") or ""))

    def to_record(self) -> dict[str, Any]:
        return {"state": self.state, "activated": self.activated_ns, "history": self.history,
                "destroy_at": self.destroy_at_ns, "restore": self.restore_state, "reserved": self.reserved,
                "kcv": self.kcv}

    # -- transitions -----------------------------------------------------------------------

    def move(self, target: str, now_ns: int, accessor: str, reason: str = "") -> None:
        """Change state along the allowed graph, recording when, by whom and why."""
        if target not in STATES:
            raise KeyStateError(f"unknown key state {target!r}; use one of {', '.join(STATES)}")
        if target not in TRANSITIONS[self.state]:
            raise IllegalTransitionError(f"a key version cannot go from {self.state} to {target}")
        self.history.append({"from": self.state, "to": target, "ns": now_ns, "by": accessor, "why": reason})
        if target == ACTIVE and self.state == PRE_ACTIVE and not 0 < self.activated_ns <= now_ns:
            self.activated_ns = now_ns  # activated early by hand; a reached activation date stays
        self.state = target

    def effective_state(self, now_ns: int) -> str:
        """The state an operation sees: a pre-active version whose activation date has passed
        is active even before tick() records the transition."""
        if self.state == PRE_ACTIVE and 0 < self.activated_ns <= now_ns:
            return ACTIVE
        return self.state

    # -- what the state permits ----------------------------------------------------------------

    def check_protect(self, number: int, now_ns: int, originator_period: int) -> None:
        """Refuse encrypt/sign/wrap/hmac unless active and inside the originator usage period."""
        state = self._usable_state(number, now_ns)
        if state not in PROTECT_STATES:
            raise KeyStateError(f"key version {number} is {state} and cannot be used to protect data")
        if originator_period and now_ns >= self.activated_ns + originator_period * NANOS:
            raise KeyStateError(f"key version {number} is past its originator usage period")

    def check_process(self, number: int, now_ns: int, recipient_period: int) -> None:
        """Refuse decrypt/verify/unwrap unless the state allows processing and the recipient
        usage period has not ended."""
        state = self._usable_state(number, now_ns)
        if state not in PROCESS_STATES:
            raise KeyStateError(f"key version {number} is {state} and cannot be used to process data")
        if recipient_period and now_ns >= self.activated_ns + recipient_period * NANOS:
            raise KeyStateError(f"key version {number} is past its recipient usage period")

    def _usable_state(self, number: int, now_ns: int) -> str:
        if self.destroy_at_ns:
            # As cloud KMSs do: a version awaiting destruction does nothing, so that whoever
            # still depends on it finds out while the destruction can still be cancelled.
            raise KeyStateError(f"key version {number} is scheduled for destruction")
        return self.effective_state(now_ns)


def next_event_ns(schedule: dict[str, Any]) -> int | None:
    """When tick() next has work on a key, from its schedule record (TransitKey.to_schedule()
    or the stored record; both carry each version's lifecycle record): a scheduled
    destruction, an activation date, or the end of an active version's originator period."""
    originator = int(schedule.get("originator_usage_period") or 0) * NANOS
    times: list[int] = []
    for version in schedule.get("versions") or []:
        life = version.get("life")
        if not isinstance(life, dict):
            continue
        state, activated = life.get("state"), int(life.get("activated") or 0)
        if life.get("destroy_at"):
            times.append(int(life["destroy_at"]))
        elif state == PRE_ACTIVE and activated:
            times.append(activated)
        elif state == ACTIVE and originator:
            times.append(activated + originator)
    return min(times) if times else None
