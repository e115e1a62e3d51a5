"""d. Scaling: 1, 2, 4 and 8 workers with a fixed service time each; the jobs finished per
second against the ideal (workers / service time)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from harness import SYNTHETIC, Row, Stack, finished_jobs, wait_finished, wait_jobs

VIDEO = {"model": SYNTHETIC, "prompt": "scale", "size": "64x64", "num_frames": 9, "num_inference_steps": 4, "seed": 1}


def run(workdir: Path, worker_counts=(1, 2, 4, 8), rounds: int = 16, service_s: float = 0.5) -> list[Row]:
    rows = []
    stack = Stack(workdir / "scaling", "bench-scaling")
    try:
        workers = 0
        _, base_url = stack.frontend("frontend", "--queue-per-worker", str(rounds * 2))
        for count in worker_counts:
            with ThreadPoolExecutor(8) as pool:  # start the new workers side by side
                list(pool.map(
                    lambda index: stack.worker(f"worker-{index}", "--synthetic-busy-s", str(service_s), "--synthetic-stored-clip"),
                    range(workers, count),
                ))  # fmt: skip
            workers = count
            stack.wait_for_workers(base_url, count)
            jobs = rounds * count
            before = finished_jobs(base_url)
            started = time.monotonic()
            with httpx.Client(timeout=60) as client:
                ids = [client.post(f"{base_url}/v1/videos", json=VIDEO).json()["id"] for _ in range(jobs)]
            wall = wait_finished(base_url, before + jobs) - started
            completed = sum(video["status"] == "completed" for video in wait_jobs(base_url, ids))
            throughput = completed / wall
            ideal = count / service_s
            efficiency = throughput / ideal
            rows.append(Row(
                "d", f"{count} worker(s), {jobs} jobs of {service_s:g} s", other=f"{throughput:.2f} jobs/s (ideal {ideal:g})",
                ratio=f"{100 * efficiency:.1f}% of ideal", target=">= 95% at 8" if count == 8 else "",
                met=efficiency >= 0.95 if count == 8 else None,
            ))  # fmt: skip
    finally:
        stack.stop()
    return rows
