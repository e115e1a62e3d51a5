"""The job stores' write rules, against a real SQLite file and a real etcd: a finished job stays
finished (a progress write that lands after a cancel or a failure must not reopen it), and a
write for another owner, or for a deleted job, does nothing."""

from __future__ import annotations

import time

import pytest

from framecast.frontend.jobs.etcd_store import EtcdJobStore
from framecast.frontend.jobs.record import JobRecord
from framecast.frontend.jobs.sqlite_store import SqliteJobStore
from framecast.protocol import VideoJobError
from helpers import EtcdServer


@pytest.fixture(params=["sqlite", "etcd"])
async def store(request, tmp_path):
    etcd = None
    if request.param == "sqlite":
        store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    else:
        etcd = EtcdServer(tmp_path / "etcd-data", tmp_path)
        store = EtcdJobStore(etcd.url, "/framecast-test")
    await store.start()
    try:
        yield store
    finally:
        await store.close()
        if etcd:
            etcd.stop()


def record(**fields) -> JobRecord:
    base = {"id": "video_" + "a" * 32, "model": "m", "created_at": time.time(), "prompt": "p", "seconds": "1",
            "size": "64x64", "request": {}, "owner": "replica-1"}  # fmt: skip
    return JobRecord(**(base | fields))


async def test_a_finished_job_is_never_reopened_by_a_late_progress_write(store):
    await store.create(record(status="in_progress", progress=10))
    cancelled = record(status="failed", error=VideoJobError(code="cancelled", message="the client disconnected"))
    assert await store.put(cancelled, expect_owner="replica-1")
    late = record(status="in_progress", progress=40, stage="denoising")
    assert not await store.put(late, expect_owner="replica-1")
    assert not await store.put(late)
    stored = await store.get(late.id)
    assert (stored.status, stored.error.code) == ("failed", "cancelled")
    # Finished to finished (expiry, for one) is still a write.
    assert await store.put(cancelled.model_copy(update={"expired": True}))
    assert (await store.get(late.id)).expired


async def test_writes_for_another_owner_or_a_deleted_job_do_nothing(store):
    await store.create(record(status="queued"))
    assert not await store.put(record(status="in_progress", owner="replica-2"), expect_owner="replica-2")
    assert (await store.get(record().id)).owner == "replica-1"
    assert await store.delete(record().id)
    assert not await store.put(record(status="in_progress"), expect_owner="replica-1")
    assert await store.get(record().id) is None
