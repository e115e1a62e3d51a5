"""The record writer against a scripted store (the store's own rules are tested on real SQLite
and etcd in tests/test_job_store.py): what each store answer does to the job."""

from __future__ import annotations

import time

from framecast.frontend.jobs.events import JobEvents
from framecast.frontend.jobs.record import JobRecord
from framecast.frontend.jobs.store import Written
from framecast.frontend.jobs.writer import RecordWriter, Saved


class ScriptedStore:
    """Answers each put with the next scripted outcome (an exception is raised)."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.written: list[JobRecord] = []

    async def put(self, record, *, expect_owner=None):
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if answer is Written.WRITTEN:
            self.written.append(record.model_copy())
        return answer


def record(**fields) -> JobRecord:
    base = {"id": "video_" + "b" * 32, "model": "m", "created_at": time.time(), "prompt": "p", "seconds": "1",
            "size": "64x64", "request": {"prompt": "p"}, "owner": "replica-1", "status": "in_progress"}  # fmt: skip
    return JobRecord(**(base | fields))


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def writer(store, stopped: list, clock=None) -> RecordWriter:
    return RecordWriter(store, "replica-1", JobEvents(), interval_s=0.25, on_stopped=stopped.append, clock=clock or Clock())


async def test_lost_compare_and_swap_races_keep_the_job_running_and_write_it_later():
    store, stopped = ScriptedStore(Written.CONTENTION, Written.WRITTEN), []
    records = writer(store, stopped)
    job = record(progress=40)
    assert await records.save(job, force=True) is Saved.PENDING
    assert stopped == [], "contention is not a reason to stop the job"
    assert records.pending(job.id) is job
    await records.flush()
    assert [written.progress for written in store.written] == [40]
    assert records.pending(job.id) is None


async def test_an_unreachable_store_keeps_the_job_running_and_writes_it_later():
    store, stopped = ScriptedStore(ConnectionError("etcd is down"), Written.WRITTEN), []
    records = writer(store, stopped)
    assert await records.save(record(), force=True) is Saved.PENDING
    await records.flush()
    assert stopped == [] and len(store.written) == 1


async def test_deleted_taken_over_or_finished_elsewhere_stops_the_job():
    for answer in (Written.DELETED, Written.NOT_OWNER, Written.FINISHED):
        store, stopped = ScriptedStore(answer), []
        job = record()
        assert await writer(store, stopped).save(job, force=True) is Saved.STOPPED
        assert stopped == [job.id], answer


async def test_progress_reaches_the_store_at_most_once_per_interval_and_followers_every_time():
    store, stopped, clock = ScriptedStore(Written.WRITTEN, Written.WRITTEN, Written.WRITTEN), [], Clock()
    events = JobEvents()
    records = RecordWriter(store, "replica-1", events, interval_s=0.25, on_stopped=stopped.append, clock=clock)
    job = record()
    seen = []

    async def current(job_id):
        return job

    follower = events.follow(job.id, current)
    await anext(follower)
    for progress, at in ((10, 100.0), (20, 100.1), (30, 100.2), (40, 100.3)):
        clock.now = at
        job.progress = progress
        seen.append((await records.save(job)).value)
        seen_by_follower = await anext(follower)
        assert seen_by_follower.progress == progress
    assert seen == ["written", "throttled", "throttled", "written"]
    assert [written.progress for written in store.written] == [10, 40]
    job.status = "completed"
    assert await records.save(job, force=True) is Saved.WRITTEN
    await follower.aclose()


async def test_a_final_write_that_did_not_land_outlives_the_end_of_the_job_until_flushed():
    """The store was down when the job ended: the ended record is what `pending` answers with,
    and what `flush` writes, even after the job is finished here."""
    store, stopped = ScriptedStore(ConnectionError("etcd is down"), Written.WRITTEN), []
    records = writer(store, stopped)
    job = record(status="completed", progress=100)
    assert await records.save(job, force=True) is Saved.PENDING
    records.finished(job.id)
    assert records.pending(job.id) is job
    await records.flush()
    assert [written.status for written in store.written] == ["completed"] and records.pending(job.id) is None


async def test_a_deleted_job_is_not_written_again():
    store, stopped = ScriptedStore(ConnectionError("etcd is down")), []
    records = writer(store, stopped)
    job = record()
    await records.save(job, force=True)
    records.discard(job.id)
    await records.flush()
    assert store.written == [] and records.pending(job.id) is None
