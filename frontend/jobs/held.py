"""The jobs one replica holds: waiting in its queues, or sent to a worker.

A replica may hold thousands of queued jobs, and a record object with its typed request takes
several KB, so a queued job is kept as its record's JSON without default values (a few hundred
bytes). The record object is built when the job starts, and a running job's runner then
updates that one object until the job ends.
"""

from __future__ import annotations

import collections

from framecast.frontend.jobs.record import JobRecord


class HeldJobs:
    def __init__(self) -> None:
        # job id -> (model, the record's JSON)
        self._queued: dict[str, tuple[str, str]] = {}
        self._queued_by_model: collections.Counter[str] = collections.Counter()
        self._running: dict[str, JobRecord] = {}

    def __contains__(self, job_id: str) -> bool:
        return job_id in self._queued or job_id in self._running

    def queue(self, record: JobRecord) -> None:
        """Hold the job as queued (new, taken over, or to run again)."""
        self._running.pop(record.id, None)
        self._unqueue(record.id)
        self._queued[record.id] = (record.model, record.model_dump_json(exclude_defaults=True))
        self._queued_by_model[record.model] += 1

    def start(self, job_id: str) -> JobRecord | None:
        """The queued job's record, now held as running; None if it is no longer held."""
        queued = self._unqueue(job_id)
        if queued is None:
            return None
        record = self._running[job_id] = JobRecord.from_json(queued[1])
        return record

    def get(self, job_id: str) -> JobRecord | None:
        """The record as this replica has it: a running job's own object, a queued job's copy."""
        if job_id in self._running:
            return self._running[job_id]
        queued = self._queued.get(job_id)
        return JobRecord.from_json(queued[1]) if queued else None

    def pop(self, job_id: str) -> JobRecord | None:
        """Stop holding the job; its record as get() gives it."""
        running = self._running.pop(job_id, None)
        queued = self._unqueue(job_id)
        return running or (JobRecord.from_json(queued[1]) if queued else None)

    def _unqueue(self, job_id: str) -> tuple[str, str] | None:
        queued = self._queued.pop(job_id, None)
        if queued is not None:
            self._queued_by_model[queued[0]] -= 1
        return queued

    def running(self, job_id: str) -> JobRecord | None:
        return self._running.get(job_id)

    def count(self, model: str) -> int:
        """Jobs of the model held, queued or running."""
        return self._queued_by_model[model] + sum(1 for record in self._running.values() if record.model == model)
