"""f. Job load: 10,000 jobs queued behind one busy worker; the frontend's resident memory, and
GET /v1/videos/{id} latency over random queued jobs."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import httpx
from harness import SYNTHETIC, Row, Stack, closed_loop, rss_mb

VIDEO = {"model": SYNTHETIC, "prompt": "queued", "size": "64x64", "num_frames": 9, "num_inference_steps": 1}


async def _submit(base_url: str, count: int, concurrency: int = 16) -> list[str]:
    ids: list[str] = []
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=concurrency)) as client:

        async def create() -> bool:
            response = await client.post(f"{base_url}/v1/videos", json=VIDEO)
            if response.status_code == 200:
                ids.append(response.json()["id"])
            return response.status_code == 200

        result = await closed_loop(create, concurrency, count, warmup=0)
    if result.errors:
        raise RuntimeError(f"{result.errors} of {count} jobs were refused")
    return ids


async def _reads(base_url: str, ids: list[str], requests: int):
    async with httpx.AsyncClient(timeout=60) as client:

        async def get() -> bool:
            response = await client.get(f"{base_url}/v1/videos/{random.choice(ids)}")
            return response.status_code == 200 and response.json()["status"] in ("queued", "in_progress")

        return await closed_loop(get, 1, requests)


def run(workdir: Path, jobs: int = 10_000, reads: int = 2000) -> list[Row]:
    stack = Stack(workdir / "job-load", "bench-job-load")
    try:
        # The first job holds the worker for an hour: everything after it stays queued.
        stack.worker("worker", "--synthetic-busy-s", "3600", "--synthetic-stored-clip")
        frontend, base_url = stack.frontend("frontend", "--queue-per-worker", str(jobs + 10))
        stack.wait_for_workers(base_url, 1)
        before = rss_mb(frontend.pid)
        ids = asyncio.run(_submit(base_url, jobs))
        after = rss_mb(frontend.pid)
        result = asyncio.run(_reads(base_url, ids, reads))
    finally:
        stack.stop()
    return [
        Row("f", f"{jobs:,} queued jobs: frontend RSS", median=f"{after:.0f} MiB", other=f"{before:.0f} MiB before",
            target="<= 150 MiB", met=after <= 150),
        Row("f", "GET /v1/videos/{id} of a queued job", median=f"{result.p50_ms:.2f} ms", p99=f"{result.p99_ms:.2f} ms",
            other=f"{reads} reads" + (f", {result.errors} errors" if result.errors else ""), target="p99 <= 20 ms",
            met=result.p99_ms <= 20),
    ]  # fmt: skip
