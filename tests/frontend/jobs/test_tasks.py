"""Background tasks are kept while they run, and a failure is logged with the task's name."""

from __future__ import annotations

import asyncio
import gc
import logging

from framecast.frontend.jobs.tasks import BackgroundTasks


async def test_a_failing_task_is_logged_and_forgotten(caplog):
    tasks = BackgroundTasks()

    async def fails():
        raise RuntimeError("the dispatcher broke")

    with caplog.at_level(logging.ERROR, logger="framecast.frontend.jobs.tasks"):
        task = tasks.spawn(fails(), "dispatch m")
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.sleep(0)
    assert len(tasks) == 0
    (logged,) = [entry for entry in caplog.records if "dispatch m" in entry.getMessage()]
    assert logged.exc_info[1].args == ("the dispatcher broke",)


async def test_a_running_task_is_kept_until_it_ends():
    tasks = BackgroundTasks()
    release = asyncio.Event()
    finished = []

    async def waits():
        await release.wait()
        finished.append(True)

    tasks.spawn(waits(), "job video_1")
    gc.collect()  # a task nobody references could be collected here
    assert len(tasks) == 1
    release.set()
    for _ in range(10):
        await asyncio.sleep(0)
    assert finished == [True] and len(tasks) == 0


async def test_cancel_all_ends_every_task():
    tasks = BackgroundTasks()
    spawned = [tasks.spawn(asyncio.sleep(3600), f"sleeper {n}") for n in range(3)]
    await tasks.cancel_all()
    assert all(task.cancelled() for task in spawned) and len(tasks) == 0
