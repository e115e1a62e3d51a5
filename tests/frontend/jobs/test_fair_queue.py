"""A model's queue shared by tenants: turns across the tenants with jobs waiting (by their
weights), each tenant's jobs in their own order; or plain arrival order. In-process, with the
real scheduler over a plain list of workers for the dispatch order."""

from __future__ import annotations

import asyncio

import pytest

from framecast.frontend.discovery import ServedModel, WorkerInstance
from framecast.frontend.jobs.fair_queue import FairQueue
from framecast.frontend.jobs.scheduler import Scheduler
from framecast.frontend.quarantine import Quarantine
from framecast.protocol import WorkerCard

MODEL = "m"


class OneWorker:
    def models(self) -> dict[str, ServedModel]:
        return {MODEL: ServedModel(MODEL, [WorkerInstance(1, MODEL, WorkerCard())])}

    def adapters_loaded(self, instance_id: int) -> frozenset[str]:
        return frozenset()


def dispatched(queue: FairQueue, count: int | None = None) -> list[str]:
    order = []
    while queue and (count is None or len(order) < count):
        (job_id,) = queue.order(1)
        queue.take(job_id)
        order.append(job_id)
    return order


def test_a_flooding_tenant_does_not_hold_back_a_light_one():
    queue = FairQueue("fair")
    for index in range(100):
        queue.push(f"a{index}", "acme")
    queue.push("b0", "globex")
    assert dispatched(queue, 3) == ["a0", "b0", "a1"]
    # And with arrival order, the light tenant waits behind all of them.
    fifo = FairQueue("fifo")
    for index in range(100):
        fifo.push(f"a{index}", "acme")
    fifo.push("b0", "globex")
    assert dispatched(fifo).index("b0") == 100


def test_turns_follow_the_weights_and_each_tenant_keeps_its_order():
    weights = {"acme": 2.0, "globex": 1.0}
    queue = FairQueue("fair", weight_of=lambda tenant: weights[tenant])
    for index in range(6):
        queue.push(f"a{index}", "acme")
        queue.push(f"g{index}", "globex")
    order = dispatched(queue, 9)
    assert [job for job in order if job[0] == "a"] == ["a0", "a1", "a2", "a3", "a4", "a5"]
    assert [job for job in order if job[0] == "g"] == ["g0", "g1", "g2"]


def test_time_spent_idle_earns_no_burst():
    queue = FairQueue("fair")
    queue.push("g0", "globex")
    for index in range(20):
        queue.push(f"a{index}", "acme")
    assert dispatched(queue, 12)[:2] == ["g0", "a0"]
    for index in range(1, 4):
        queue.push(f"g{index}", "globex")
    # globex comes back after acme had ten turns alone: it alternates, it does not take three.
    assert dispatched(queue, 4) == ["g1", "a11", "g2", "a12"]


def test_a_job_run_again_goes_first_and_removed_jobs_leave_no_trace():
    queue = FairQueue("fair")
    for job_id, tenant in (("a0", "acme"), ("a1", "acme"), ("g0", "globex")):
        queue.push(job_id, tenant)
    queue.push("again", "globex", first=True)
    assert queue.remove("a0") and not queue.remove("a0") and len(queue) == 3
    assert queue.order(10) == ["again", "a1", "g0"]
    assert sorted(queue.take_all()) == ["a1", "again", "g0"] and not queue
    with pytest.raises(ValueError, match="fair or fifo"):
        FairQueue("lottery")


async def test_the_scheduler_dispatches_by_turns_across_tenants_with_one_worker():
    chooser = Scheduler(OneWorker(), Quarantine(), no_worker_timeout_s=30.0, recheck_s=0.02)
    for index in range(5):
        chooser.enqueue(MODEL, f"a{index}", tenant="acme")
    chooser.enqueue(MODEL, "g0", tenant="globex")
    order = []
    for _ in range(6):
        dispatch = await asyncio.wait_for(chooser.next(MODEL), 2)
        order.append(dispatch.job_id)
        dispatch.slot.release()
    assert order == ["a0", "g0", "a1", "a2", "a3", "a4"] and chooser.depth(MODEL) == 0


def test_the_key_file_gives_a_tenant_its_weight(tmp_path):
    from framecast.frontend.security import load_api_keys, tenant_weights

    keys = tmp_path / "keys.txt"
    keys.write_text("acme: k-acme-1 weight=3\nacme: k-acme-2\nglobex: k-globex\nk-lone weight=0.5\n")
    callers = load_api_keys(str(keys))
    assert callers["k-acme-1"].tenant == callers["k-acme-2"].tenant == "acme"
    weights = tenant_weights(callers)
    assert weights["acme"] == 3.0 and weights["globex"] == 1.0 and weights[callers["k-lone"].tenant] == 0.5
    for bad in ("acme: k weight=0", "acme: k weight=lots", "acme: k colour=red"):
        keys.write_text(bad + "\n")
        with pytest.raises(ValueError, match="weight|unknown setting"):
            load_api_keys(str(keys))
