"""The scheduler's choices, in-process: which worker gets the next job, when a worker is free,
what a quarantined worker gets, and what happens to queued jobs nobody can run. The live
workers are a plain list here (discovery is the boundary); the scheduler is the real one."""

from __future__ import annotations

import asyncio

import pytest

from framecast.frontend.discovery import ServedModel, WorkerInstance
from framecast.frontend.jobs.scheduler import Dispatch, NoWorker, Scheduler
from framecast.frontend.quarantine import Quarantine
from framecast.protocol import WorkerCard
from framecast.protocol.adapters import AdapterCard

MODEL = "m"


class ListedWorkers:
    """What discovery lists: instance ids per model, changed by the test; each worker offering
    `offered` adapters, and holding those in `loaded`."""

    def __init__(self, *instance_ids: int, offered: dict[int, list[str]] | None = None):
        self.listed = {MODEL: list(instance_ids)}
        self.offered = offered or {}
        self.loaded: dict[int, frozenset[str]] = {}

    def models(self) -> dict[str, ServedModel]:
        def card(instance_id: int) -> WorkerCard:
            return WorkerCard(adapters=[AdapterCard(name=name) for name in self.offered.get(instance_id, [])])

        return {
            model: ServedModel(model, [WorkerInstance(instance_id, model, card(instance_id)) for instance_id in ids])
            for model, ids in self.listed.items()
            if ids
        }

    def adapters_loaded(self, instance_id: int) -> frozenset[str]:
        return self.loaded.get(instance_id, frozenset())


def scheduler(workers: ListedWorkers, quarantine: Quarantine | None = None, **options) -> Scheduler:
    options = {"no_worker_timeout_s": 30.0, "recheck_s": 0.02} | options
    return Scheduler(workers, Quarantine() if quarantine is None else quarantine, **options)


async def next_within(scheduler: Scheduler, seconds: float = 2.0) -> Dispatch | NoWorker:
    return await asyncio.wait_for(scheduler.next(MODEL), timeout=seconds)


async def still_waiting(scheduler: Scheduler) -> asyncio.Task:
    """A `next` that must not return yet: started, and checked to be waiting."""
    task = asyncio.ensure_future(scheduler.next(MODEL))
    await asyncio.sleep(0.1)
    assert not task.done(), task.result()
    return task


async def test_jobs_go_round_robin_over_idle_workers():
    chooser = scheduler(ListedWorkers(1, 2, 3))
    for job in range(6):
        chooser.enqueue(MODEL, f"job-{job}")
    chosen = []
    for _ in range(6):
        dispatch = await next_within(chooser)
        chosen.append((dispatch.job_id, dispatch.slot.instance.instance_id))
        dispatch.slot.release()
    assert chosen == [("job-0", 1), ("job-1", 2), ("job-2", 3), ("job-3", 1), ("job-4", 2), ("job-5", 3)]


async def test_a_busy_worker_is_skipped_and_a_job_waits_for_a_free_one():
    chooser = scheduler(ListedWorkers(1, 2))
    for job in range(3):
        chooser.enqueue(MODEL, f"job-{job}")
    first, second = await next_within(chooser), await next_within(chooser)
    assert {first.slot.instance.instance_id, second.slot.instance.instance_id} == {1, 2}
    waiting = await still_waiting(chooser)
    second.slot.release()
    third = await asyncio.wait_for(waiting, 2)
    assert (third.job_id, third.slot.instance.instance_id) == ("job-2", second.slot.instance.instance_id)


async def test_a_worker_holds_at_most_three_jobs_while_earlier_ones_finish():
    """The next job is sent as a generation ends; the worker then holds it besides the ones
    being encoded and stored, up to three in all."""
    chooser = scheduler(ListedWorkers(1))
    for job in range(4):
        chooser.enqueue(MODEL, f"job-{job}")
    held = [await next_within(chooser)]
    for _ in range(2):
        held[-1].slot.free_generator()
        held.append(await next_within(chooser))
    held[-1].slot.free_generator()
    waiting = await still_waiting(chooser)  # three held, though none generates
    held[0].slot.release()
    fourth = await asyncio.wait_for(waiting, 2)
    assert fourth.job_id == "job-3" and fourth.slot.instance.instance_id == 1


async def test_a_worker_still_generating_gets_nothing_more():
    chooser = scheduler(ListedWorkers(1))
    chooser.enqueue(MODEL, "job-0")
    chooser.enqueue(MODEL, "job-1")
    first = await next_within(chooser)
    waiting = await still_waiting(chooser)
    first.slot.free_generator()
    assert (await asyncio.wait_for(waiting, 2)).job_id == "job-1"


async def test_a_quarantined_worker_gets_no_job_until_released():
    quarantine = Quarantine()
    chooser = scheduler(ListedWorkers(1, 2), quarantine)
    quarantine.add(1, "its connection failed")
    for job in range(3):
        chooser.enqueue(MODEL, f"job-{job}")
    sent_to = []
    for _ in range(2):
        dispatch = await next_within(chooser)
        sent_to.append(dispatch.slot.instance.instance_id)
        dispatch.slot.release()
    assert sent_to == [2, 2]
    assert [instance.instance_id for instance in chooser.live(MODEL)] == [2]
    quarantine.release(1)
    assert (await next_within(chooser)).slot.instance.instance_id == 1


async def test_a_job_deleted_while_waiting_for_a_worker_is_not_sent_and_the_queue_goes_on():
    """Every worker busy, the only queued job deleted, then a worker frees up: nothing is sent,
    nothing raises, and the next job queued is sent as usual."""
    chooser = scheduler(ListedWorkers(1))
    chooser.enqueue(MODEL, "running")
    running = await next_within(chooser)
    chooser.enqueue(MODEL, "deleted")
    waiting = await still_waiting(chooser)
    assert chooser.remove("deleted") and chooser.depth(MODEL) == 0
    running.slot.release()
    await asyncio.sleep(0.1)
    assert not waiting.done(), waiting.result()
    chooser.enqueue(MODEL, "next")
    dispatch = await asyncio.wait_for(waiting, 2)
    assert dispatch.job_id == "next"


async def test_a_queue_with_no_live_worker_for_too_long_gives_up_its_jobs():
    workers = ListedWorkers()
    chooser = scheduler(workers, no_worker_timeout_s=0.3)
    chooser.enqueue(MODEL, "job-0")
    chooser.enqueue(MODEL, "job-1")
    ended = await next_within(chooser)
    assert ended == NoWorker(MODEL, ["job-0", "job-1"])
    assert chooser.depth(MODEL) == 0


async def test_a_worker_that_appears_in_time_takes_the_waiting_job():
    workers = ListedWorkers()
    chooser = scheduler(workers, no_worker_timeout_s=5.0)
    chooser.enqueue(MODEL, "job-0")
    waiting = await still_waiting(chooser)
    workers.listed[MODEL] = [7]
    dispatch = await asyncio.wait_for(waiting, 2)
    assert (dispatch.job_id, dispatch.slot.instance.instance_id) == ("job-0", 7)


async def test_a_quarantined_only_worker_counts_as_none():
    quarantine = Quarantine()
    chooser = scheduler(ListedWorkers(1), quarantine, no_worker_timeout_s=0.3)
    quarantine.add(1, "it said nothing for 60s")
    chooser.enqueue(MODEL, "job-0")
    assert await next_within(chooser) == NoWorker(MODEL, ["job-0"])


async def test_time_without_jobs_does_not_count_against_a_model_without_workers():
    chooser = scheduler(ListedWorkers(), no_worker_timeout_s=0.3)
    waiting = asyncio.ensure_future(chooser.next(MODEL))
    await asyncio.sleep(0.5)  # longer than the timeout, with nothing queued
    assert not waiting.done()
    chooser.enqueue(MODEL, "job-0")
    await asyncio.sleep(0.1)
    assert not waiting.done(), "the job was given up before it waited the timeout"
    assert await asyncio.wait_for(waiting, 2) == NoWorker(MODEL, ["job-0"])


async def test_a_job_run_again_goes_ahead_of_the_queue():
    chooser = scheduler(ListedWorkers(1))
    chooser.enqueue(MODEL, "job-0")
    chooser.enqueue(MODEL, "retried", first=True)
    assert (await next_within(chooser)).job_id == "retried"


def test_a_slot_released_twice_frees_its_worker_once():
    async def scenario():
        chooser = scheduler(ListedWorkers(1))
        for job in range(3):
            chooser.enqueue(MODEL, f"job-{job}")
        first = await next_within(chooser)
        first.slot.release()
        first.slot.release()
        first.slot.free_generator()
        second = await next_within(chooser)
        with pytest.raises(asyncio.TimeoutError):
            await next_within(chooser, 0.2)  # worker 1 still generates job-1
        second.slot.release()

    asyncio.run(scenario())


async def test_a_job_naming_an_adapter_goes_to_an_idle_worker_holding_it():
    workers = ListedWorkers(1, 2, 3, offered={1: ["a", "b"], 2: ["a", "b"], 3: ["a", "b"]})
    workers.loaded = {3: frozenset({"a"})}
    chooser = scheduler(workers)
    for job in range(3):
        chooser.enqueue(MODEL, f"job-{job}", adapters=("a",))
    # Round-robin would start at 1; the worker holding "a" is taken while it is free.
    first = await next_within(chooser)
    assert (first.slot.instance.instance_id, first.adapters_warm) == (3, True)
    # It is busy now: the next job goes to a worker that loads it.
    second = await next_within(chooser)
    assert second.slot.instance.instance_id in (1, 2) and second.adapters_warm is False


async def test_a_job_goes_only_to_workers_offering_its_adapter_and_waits_for_one():
    workers = ListedWorkers(1, 2, offered={2: ["b"]})
    chooser = scheduler(workers)
    chooser.enqueue(MODEL, "with-b", adapters=("b",))
    chooser.enqueue(MODEL, "plain")
    first = await next_within(chooser)
    assert (first.job_id, first.slot.instance.instance_id) == ("with-b", 2)
    second = await next_within(chooser)
    assert (second.job_id, second.slot.instance.instance_id, second.adapters_warm) == ("plain", 1, None)
    chooser.enqueue(MODEL, "with-b-again", adapters=("b",))
    waiting = await still_waiting(chooser)  # worker 1 is free but does not offer b
    first.slot.release()
    third = await asyncio.wait_for(waiting, 2)
    assert (third.job_id, third.slot.instance.instance_id) == ("with-b-again", 2)


async def test_without_affinity_adapter_jobs_go_round_robin():
    workers = ListedWorkers(1, 2, offered={1: ["a"], 2: ["a"]})
    workers.loaded = {2: frozenset({"a"})}
    chooser = scheduler(workers, adapter_affinity=False)
    chooser.enqueue(MODEL, "job", adapters=("a",))
    dispatch = await next_within(chooser)
    assert (dispatch.slot.instance.instance_id, dispatch.adapters_warm) == (1, False)


async def test_a_later_job_whose_adapter_a_free_worker_holds_goes_first_a_few_times_at_most():
    workers = ListedWorkers(1, offered={1: ["a", "b"]})
    workers.loaded = {1: frozenset({"b"})}
    chooser = scheduler(workers)
    chooser.enqueue(MODEL, "needs-a", adapters=("a",))
    for job in range(6):
        chooser.enqueue(MODEL, f"b-{job}", adapters=("b",))
    order = []
    for _ in range(7):
        dispatch = await next_within(chooser)
        order.append((dispatch.job_id, dispatch.adapters_warm))
        dispatch.slot.release()
    # Passed over four times (MAX_PASSED_OVER), then it goes, cold.
    assert order[:5] == [("b-0", True), ("b-1", True), ("b-2", True), ("b-3", True), ("needs-a", False)]
