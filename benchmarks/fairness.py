"""Fair share between tenants (row j): tenant A queues a flood of jobs, then tenant B submits
one, on one synthetic worker with a fixed time per video; the same run with --queue-policy fair
and with fifo, side by side. B's queue wait is the frontend's own measure (its tenant's
framecast_tenant_queue_wait_seconds: creation to dispatch); one job's time is the run's wall
time over its jobs; throughput is jobs over wall time."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import httpx
from harness import SYNTHETIC, Row, Stack, metric_sum

from framecast.testing.stack import scrape_metrics, wait_for_workers

FLOOD_KEY, LIGHT_KEY = "bench-flood", "bench-light"


def _one_run(workdir: Path, policy: str, jobs: int, service_s: float) -> tuple[float, float]:
    """(B's queue wait, wall time of the whole run) in seconds."""
    stack = Stack(workdir / policy, f"bench-fair-{policy}")
    keys = stack.workdir / "keys.txt"
    keys.write_text(f"flood: {FLOOD_KEY}\nlight: {LIGHT_KEY}\n")
    try:
        stack.worker("worker", "--synthetic-busy-s", str(service_s), "--synthetic-stored-clip")
        _, base_url = stack.frontend(
            "frontend", "--queue-policy", policy, "--queue-per-worker", str(jobs + 10), "--api-key-file", str(keys)
        )
        wait_for_workers(base_url, SYNTHETIC, 1, headers={"authorization": f"Bearer {FLOOD_KEY}"})
        body = {"model": SYNTHETIC, "prompt": "fair share", "size": "64x64", "num_frames": 9, "num_inference_steps": 4}
        started = time.monotonic()
        with httpx.Client(timeout=60, headers={"authorization": f"Bearer {FLOOD_KEY}"}) as client:
            flood = [client.post(f"{base_url}/v1/videos", json=body | {"seed": index}).json()["id"] for index in range(jobs)]
        httpx.post(f"{base_url}/v1/videos", json=body, headers={"authorization": f"Bearer {LIGHT_KEY}"}, timeout=60)
        wait_jobs_with_key(base_url, flood)
        wall_s = time.monotonic() - started
        samples = scrape_metrics(f"{base_url}/metrics", httpx.Client(headers={"authorization": f"Bearer {FLOOD_KEY}"}))
        return metric_sum(samples, "framecast_tenant_queue_wait_seconds_sum", tenant="light"), wall_s
    finally:
        stack.stop()


def wait_jobs_with_key(base_url: str, ids: list[str]) -> None:
    with httpx.Client(timeout=60, headers={"authorization": f"Bearer {FLOOD_KEY}"}) as client:
        for video_id in ids:
            while client.get(f"{base_url}/v1/videos/{video_id}").json()["status"] not in ("completed", "failed"):
                time.sleep(0.02)


def run(workdir: Path, jobs: int = 100, service_s: float = 0.2, repeats: int = 2) -> list[Row]:
    # The policies take turns, so a slower stretch of a shared machine falls on both alike.
    runs: dict[str, list[tuple[float, float]]] = {"fair": [], "fifo": []}
    for repeat in range(repeats):
        for policy in runs:
            runs[policy].append(_one_run(workdir / str(repeat), policy, jobs, service_s))
    results = {
        policy: (statistics.median(wait for wait, _ in measured), statistics.median(wall for _, wall in measured))
        for policy, measured in runs.items()
    }
    rows = []
    for policy, label in (("fair", "fair share"), ("fifo", "arrival order (fifo)")):
        wait_s, wall_s = results[policy]
        job_s = wall_s / (jobs + 1)
        throughput = (jobs + 1) / wall_s
        fair = policy == "fair"
        fifo_throughput = (jobs + 1) / results["fifo"][1]
        rows.append(Row(
            "j", f"{label}: tenant A queues {jobs}, then B submits 1; 1 worker, {service_s:g} s a video; median of {repeats}",
            median=f"B waits {wait_s:.2f} s",
            other=f"one job {job_s:.2f} s; {throughput:.2f} jobs/s",
            ratio=f"{wait_s / job_s:.2f} jobs; throughput {throughput / fifo_throughput:.3f}x fifo" if fair else f"{wait_s / job_s:.1f} jobs",
            target="wait <= 1.1 jobs; throughput within 2% of fifo" if fair else "",
            met=(wait_s <= 1.1 * job_s and abs(throughput / fifo_throughput - 1) <= 0.02) if fair else None,
        ))  # fmt: skip
    return rows
