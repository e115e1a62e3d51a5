"""Workers held out of routing because something showed them lost.

Discovery keeps listing a crashed worker until its lease expires (about 30 s with etcd); a
broken connection is the first sure sign. A quarantined worker gets no request check and no
job until it answers a probe again, or leaves discovery.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class Quarantine:
    def __init__(self) -> None:
        self._reasons: dict[int, str] = {}  # instance id -> what showed it lost

    def add(self, instance_id: int, reason: str) -> None:
        if instance_id not in self._reasons:
            log.warning("worker %x lost (%s): no work goes to it until it answers again", instance_id, reason)
            self._reasons[instance_id] = reason

    def release(self, instance_id: int) -> None:
        if self._reasons.pop(instance_id, None) is not None:
            log.info("worker %x answers again; it gets work again", instance_id)

    def keep_only(self, listed: set[int]) -> None:
        """Forget instances that left discovery: nothing will route to them anyway."""
        for instance_id in [held for held in self._reasons if held not in listed]:
            del self._reasons[instance_id]

    def __contains__(self, instance_id: int) -> bool:
        return instance_id in self._reasons

    def __iter__(self):
        return iter(list(self._reasons))

    def __len__(self) -> int:
        return len(self._reasons)
