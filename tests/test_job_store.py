"""The job stores' write rules, against a real SQLite file and a real etcd: a finished job stays
finished (a progress write that lands after a cancel or a failure must not reopen it), and a
write for another owner, or for a deleted job, does nothing, and each write says which of these
happened."""

from __future__ import annotations

import time

import pytest

from framecast.frontend.jobs.etcd_store import EtcdJobStore
from framecast.frontend.jobs.record import JobRecord
from framecast.frontend.jobs.sqlite_store import SqliteJobStore
from framecast.frontend.jobs.store import JobQuery, Written
from framecast.protocol import VideoJobError, WebhookTarget
from framecast.testing.stack import EtcdServer


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
            "size": "64x64", "request": {"prompt": "p"}, "owner": "replica-1"}  # fmt: skip
    return JobRecord(**(base | fields))


async def test_a_finished_job_is_never_reopened_by_a_late_progress_write(store):
    await store.create(record(status="in_progress", progress=10))
    cancelled = record(status="failed", error=VideoJobError(code="cancelled", message="the client disconnected"))
    assert await store.put(cancelled, expect_owner="replica-1") is Written.WRITTEN
    late = record(status="in_progress", progress=40, stage="denoising")
    assert await store.put(late, expect_owner="replica-1") is Written.FINISHED
    assert await store.put(late) is Written.FINISHED
    stored = await store.get(late.id)
    assert (stored.status, stored.error.code) == ("failed", "cancelled")
    # Finished to finished (expiry, for one) is still a write.
    assert await store.put(cancelled.model_copy(update={"expired": True})) is Written.WRITTEN
    assert (await store.get(late.id)).expired


async def test_writes_for_another_owner_or_a_deleted_job_do_nothing(store):
    await store.create(record(status="queued"))
    assert await store.put(record(status="in_progress", owner="replica-2"), expect_owner="replica-2") is Written.NOT_OWNER
    assert (await store.get(record().id)).owner == "replica-1"
    assert await store.delete(record().id)
    assert await store.put(record(status="in_progress"), expect_owner="replica-1") is Written.DELETED
    assert await store.get(record().id) is None


async def test_a_query_returns_exactly_the_records_that_meet_every_condition(store):
    now = time.time()
    jobs = {
        "queued_elsewhere": record(id="video_" + "1" * 32, owner="replica-2", tenant="acme"),
        "queued_here": record(id="video_" + "2" * 32, tenant="acme", model="other"),
        "done_elsewhere": record(id="video_" + "3" * 32, owner="replica-2", status="completed", expires_at=now - 5),
        "done_later": record(id="video_" + "4" * 32, status="completed", expires_at=now + 3600, tenant="acme"),
    }
    for job in jobs.values():
        await store.create(job)

    async def found(**query) -> set[str]:
        ids = {record.id for record in await store.find(JobQuery(**query))}
        return {name for name, job in jobs.items() if job.id in ids}

    assert await found() == set(jobs)
    assert await found(unfinished=True, owner_not_in=frozenset({"replica-1"})) == {"queued_elsewhere"}
    assert await found(expires_by=now) == {"done_elsewhere"}
    assert await found(unfinished=True, tenant="acme", model="m") == {"queued_elsewhere"}
    assert await found(tenant="acme") == {"queued_elsewhere", "queued_here", "done_later"}


async def test_a_change_of_status_writes_the_webhook_delivery_with_it(store):
    hook = WebhookTarget(url="https://hooks.example/x", events=["completed", "cancelled"])
    await store.create(record(status="queued", webhook=hook))
    # Started is not asked for: no delivery; progress is no change of status: none either.
    assert await store.put(record(status="in_progress", webhook=hook), expect_owner="replica-1") is Written.WRITTEN
    assert await store.put(record(status="in_progress", progress=50, webhook=hook)) is Written.WRITTEN
    assert await store.deliveries() == []
    # A write refused (another owner) writes no delivery either.
    done = record(status="completed", progress=100, webhook=hook)
    assert await store.put(done, expect_owner="replica-2") is Written.NOT_OWNER
    assert await store.deliveries() == []
    assert await store.put(done, expect_owner="replica-1") is Written.WRITTEN
    (delivery,) = await store.deliveries()
    assert (delivery.event, delivery.owner, delivery.url, delivery.attempts) == ("completed", "replica-1", hook.url, 0)
    assert '"status":"completed"' in delivery.body
    # Another replica takes it only from its owner; the owner's later writes then do nothing.
    taken = delivery.model_copy(update={"owner": "replica-2"})
    assert await store.put_delivery(taken, expect_owner="replica-1")
    assert not await store.put_delivery(delivery.model_copy(update={"attempts": 1}), expect_owner="replica-1")
    assert (await store.deliveries())[0].owner == "replica-2"
    await store.delete_delivery(delivery.id)
    assert await store.deliveries() == []


async def test_etcd_says_contention_when_another_writer_wins_every_race(tmp_path):
    """Another replica's write lands between each read and compare-and-swap: the write gives up
    and says so, instead of passing for "deleted or taken over"."""
    etcd = EtcdServer(tmp_path / "etcd-data", tmp_path)
    store, rival = EtcdJobStore(etcd.url, "/framecast-test"), EtcdJobStore(etcd.url, "/framecast-test")
    await store.start()
    await rival.start()
    try:
        await store.create(record(status="in_progress", progress=10))
        read = store._client.get

        async def read_then_rival_writes(key):
            current = await read(key)
            await rival._client.put(key, current.value)
            return current

        store._client.get = read_then_rival_writes
        assert await store.put(record(status="in_progress", progress=20), expect_owner="replica-1") is Written.CONTENTION
        store._client.get = read
        assert await store.put(record(status="in_progress", progress=30), expect_owner="replica-1") is Written.WRITTEN
        assert (await rival.get(record().id)).progress == 30
    finally:
        await store.close()
        await rival.close()
        etcd.stop()
