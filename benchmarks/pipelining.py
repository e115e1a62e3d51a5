"""b. Pipelining: a worker whose simulated GPU is busy a fixed time per video, under a saturated
queue. The MP4 encoding and storing of job N must overlap the generation of job N+1, so the
simulated GPU should be busy nearly all the time from the first job's start to the last one's
generation end."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
from harness import SYNTHETIC, Row, Stack, metric_sum, scrape_metrics, wait_jobs
from framecast.testing.stack import free_status_port  # importable once harness has put tests/ on the path

# Large enough that encoding and storing (noise at 480x832 takes ~1 s here) is a real share.
# The same seed each time: the backend makes the frames once; each job still encodes and stores them.
VIDEO = {"model": SYNTHETIC, "prompt": "pipeline", "size": "832x480", "num_frames": 33, "num_inference_steps": 10, "seed": 5}


def _generation_end(base_url: str, job_id: str) -> float:
    """When the job's generation ended: the first event with a finishing stage (or its end)."""
    with httpx.stream("GET", f"{base_url}/v1/videos/{job_id}/events", timeout=600) as events:
        for line in events.iter_lines():
            if line.startswith("data:"):
                video = json.loads(line[5:])
                if video.get("status") in ("completed", "failed") or video.get("stage") in ("encoding", "storing"):
                    return time.time()
    raise RuntimeError(f"the events of {job_id} ended early")


def run(workdir: Path, jobs: int = 12, busy_s: float = 1.5) -> list[Row]:
    stack = Stack(workdir / "pipelining", "bench-pipelining")
    try:
        status_port = free_status_port()
        stack.worker(
            "worker", "--synthetic-busy-s", str(busy_s), "--synthetic-content", "noise", "--video-preset", "ultrafast",
            system_port=status_port,
        )  # fmt: skip
        _, base_url = stack.frontend("frontend", "--queue-per-worker", str(jobs))
        stack.wait_for_workers(base_url, 1)
        ids = []
        with httpx.Client(timeout=60) as client:
            for index in range(jobs):
                ids.append(client.post(f"{base_url}/v1/videos", json=VIDEO).json()["id"])
                if index == 0:
                    first_start = time.time()  # the first job starts at once: the queue was empty
        ended = _generation_end(base_url, ids[-1])
        videos = wait_jobs(base_url, ids)
        failed = [video for video in videos if video["status"] != "completed"]
        if failed:
            raise RuntimeError(f"{len(failed)} pipelining job(s) failed: {failed[0]}")
        samples = scrape_metrics(f"http://127.0.0.1:{status_port}/metrics")
        generating = sum(
            metric_sum(samples, "framecast_worker_stage_seconds_sum", stage=stage) for stage in ("starting", "denoising", "decoding")
        )
        finishing = sum(metric_sum(samples, "framecast_worker_stage_seconds_sum", stage=stage) for stage in ("encoding", "storing"))
    finally:
        stack.stop()
    window = ended - first_start
    busy = jobs * busy_s / window
    return [
        Row("b", f"{jobs} jobs x {busy_s:g} s simulated GPU, 33 noise frames 832x480",
            other=f"window {window:.2f} s; encode+store {finishing / jobs:.2f} s/job; generation {generating / jobs:.2f} s/job "
                  f"(generator held {100 * generating / window:.1f}% of the window)"),
        Row("b", "simulated GPU busy", median=f"{100 * busy:.1f}%", target=">= 98%", met=busy >= 0.98),
    ]  # fmt: skip
