"""A burst of ten times what a model admits: 429 with Retry-After for the excess, every admitted
job completed, the frontend's memory bounded."""

from __future__ import annotations

import concurrent.futures
import time
from pathlib import Path

import httpx
import pytest

from framecast.testing.stack import Discovery, StageHold, stack_env, start_frontend, start_worker, wait_done, wait_for_workers

MODEL = "tiny-random-t2v"
QUEUE_PER_WORKER = 2
CAPACITY = 1 + QUEUE_PER_WORKER  # one worker
pytestmark = pytest.mark.faults


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_a_burst_of_ten_times_capacity(tiny_model, tmp_path):
    discovery = Discovery("file", stack_env("file", None, tmp_path / "kv"))
    # Jobs are held in denoising during each burst: none finishes while it lasts, so exactly
    # CAPACITY are admitted, however fast the machine.
    hold = StageHold(tmp_path / "hold")
    worker = start_worker(discovery, tiny_model, "fc-burst", (tmp_path / "out").as_uri(), tmp_path, "worker", *hold.args())
    frontend, base_url = start_frontend(
        discovery, "fc-burst", tmp_path, "frontend", "--queue-per-worker", str(QUEUE_PER_WORKER)
    )
    try:
        wait_for_workers(base_url, MODEL, 1, processes=[worker, frontend])
        # Warm up, so memory is measured after the first request's one-time costs.
        httpx.post(f"{base_url}/v1/videos/generations", json={"prompt": "warm", "num_inference_steps": 1}, timeout=60)
        rss_before = rss_mb(frontend.pid)

        def create(index: int) -> httpx.Response:
            return httpx.post(f"{base_url}/v1/videos", json={"prompt": f"burst {index}", "num_inference_steps": 20}, timeout=60)

        def generate(index: int) -> httpx.Response:
            body = {"prompt": f"sync burst {index}", "num_inference_steps": 20}
            return httpx.post(f"{base_url}/v1/videos/generations", json=body, timeout=180)

        with concurrent.futures.ThreadPoolExecutor(20 * CAPACITY) as pool:
            hold.hold("denoising")
            jobs = list(pool.map(create, range(10 * CAPACITY)))
            hold.release()
            admitted = [response.json()["id"] for response in jobs if response.status_code == 200]
            for video_id in admitted:
                wait_done(base_url, video_id, timeout=180)
            hold.hold("denoising")
            pending = [pool.submit(generate, index) for index in range(10 * CAPACITY)]
            # The refused answer at once; the admitted wait for their videos, held.
            deadline = time.monotonic() + 120
            while sum(future.done() for future in pending) < 9 * CAPACITY:
                assert time.monotonic() < deadline, "the refusals of the synchronous burst never came"
                time.sleep(0.05)
            hold.release()
            answers = [future.result() for future in pending]
        rss_after = rss_mb(frontend.pid)

        for response in [*jobs, *answers]:
            assert response.status_code in (200, 429), response.text
            if response.status_code == 429:
                error = response.json()["error"]
                assert error["code"] == "queue_full" and int(response.headers["retry-after"]) >= 1
        assert len(admitted) == CAPACITY and sum(response.status_code == 429 for response in answers) == 9 * CAPACITY
        for response in answers:
            if response.status_code == 200:
                assert response.json()["status"] == "completed"
        for video_id in admitted:
            video = httpx.get(f"{base_url}/v1/videos/{video_id}").json()
            assert video["status"] == "completed", video
        print(f"burst: {len(admitted)} of {len(jobs)} jobs admitted; frontend RSS {rss_before:.0f} -> {rss_after:.0f} MB")
        assert rss_after - rss_before < 100
    finally:
        hold.release()
        frontend.stop()
        worker.stop()
