"""A replica's held jobs: a queued job comes back as the record it was queued with, a running
one is one object its runner updates, and counts follow both."""

from __future__ import annotations

import time

from framecast.frontend.jobs.held import HeldJobs
from framecast.frontend.jobs.record import JobRecord
from framecast.protocol import WebhookTarget


def record(job_id: str, model: str = "m", **fields) -> JobRecord:
    base = {"id": job_id, "model": model, "created_at": time.time(), "prompt": "p", "seconds": "1", "size": "64x64",
            "request": {"prompt": "p", "num_frames": 9, "lora": [{"name": "style", "scale": 0.5}]}, "owner": "replica-1"}  # fmt: skip
    return JobRecord(**(base | fields))


def test_a_queued_job_comes_back_as_it_was_queued():
    held = HeldJobs()
    queued = record("video_1", tenant="acme", attempts=2, webhook=WebhookTarget(url="https://hooks.example/x", events=["failed"]))
    held.queue(queued)
    assert "video_1" in held and held.get("video_1") == queued
    started = held.start("video_1")
    assert started == queued
    # Running: the same object every time, so what its runner changes is what readers see.
    started.progress = 40
    assert held.get("video_1") is started and held.running("video_1") is started
    assert held.start("video_1") is None  # already started


def test_counts_follow_queued_and_running_jobs_of_each_model():
    held = HeldJobs()
    for job_id, model in (("a", "m"), ("b", "m"), ("c", "other")):
        held.queue(record(job_id, model))
    assert (held.count("m"), held.count("other")) == (2, 1)
    running = held.start("a")
    assert held.count("m") == 2
    # Run again elsewhere: queued once more, not twice.
    held.queue(running)
    assert held.count("m") == 2 and held.running("a") is None
    assert held.pop("a").id == "a" and held.pop("b").id == "b"
    assert held.pop("a") is None and "a" not in held
    assert (held.count("m"), held.count("other")) == (0, 1)
