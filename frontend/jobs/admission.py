"""Admission: how many unfinished jobs a model may hold, and when to come back if it is full.

The bound grows with the live workers of the model, so a burst is refused with 429 instead of
piling up in memory; Retry-After comes from the measured time a job takes on a worker.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# Before any job of a model has finished, assume this many seconds per job.
_INITIAL_SERVICE_S = 10.0
_SMOOTHING = 0.3


class QueueFull(Exception):
    def __init__(self, model: str, capacity: int, retry_after_s: int):
        super().__init__(f"{model} has {capacity} unfinished jobs, as many as it admits")
        self.model = model
        self.capacity = capacity
        self.retry_after_s = retry_after_s


@dataclass
class Admission:
    # Jobs a model may hold waiting, per live worker, besides the one each worker runs.
    queue_per_worker: int = 8
    _service_s: dict[str, float] = field(default_factory=dict)

    def capacity(self, workers: int) -> int:
        return max(1, workers) * (1 + self.queue_per_worker)

    def check(self, model: str, unfinished: int, workers: int) -> None:
        """Raise QueueFull if one more job would exceed the model's bound."""
        capacity = self.capacity(workers)
        if unfinished >= capacity:
            raise QueueFull(model, capacity, self.retry_after(model, unfinished - capacity + 1, workers))

    def retry_after(self, model: str, jobs_ahead: int, workers: int) -> int:
        """Seconds until `jobs_ahead` jobs have left, at the measured service rate."""
        per_job = self._service_s.get(model, _INITIAL_SERVICE_S)
        return max(1, math.ceil(per_job * jobs_ahead / max(1, workers)))

    def record_service(self, model: str, seconds: float) -> None:
        previous = self._service_s.get(model)
        self._service_s[model] = seconds if previous is None else (1 - _SMOOTHING) * previous + _SMOOTHING * seconds

    def service_s(self, model: str) -> float | None:
        return self._service_s.get(model)
