"""a. Serving overhead: one zero-compute worker (it answers with a stored clip) behind
framecast's frontend, behind NVIDIA Dynamo's own Rust frontend, and called directly over the
request plane; latency and requests per second at several concurrencies, all in one run."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
from harness import SYNTHETIC, Row, Stack, closed_loop

# The same video every time: 64x64, 9 frames, one step, stored once as MP4 by the worker.
CLIP = {"prompt": "overhead", "size": "64x64", "seed": 1}
KNOBS = {"num_frames": 9, "num_inference_steps": 1, "fps": 8}


async def _direct(stack: Stack, concurrency: int, requests: int):
    from dynamo.runtime import DistributedRuntime

    from framecast.protocol import generate_endpoint_path

    os.environ.update({key: value for key, value in stack.discovery.env.items() if key.startswith("DYN_")})
    runtime = DistributedRuntime(asyncio.get_running_loop(), "file", "tcp")
    client = await runtime.endpoint(generate_endpoint_path(stack.namespace, SYNTHETIC)).client()
    await client.wait_for_instances()
    request = {**CLIP, **KNOBS, "model": SYNTHETIC, "response_format": "url"}

    async def call() -> bool:
        final = None
        async for message in await client.round_robin(request):
            final = message.data() if hasattr(message, "data") else message
        return bool(final) and final.get("status") == "completed"

    try:
        return await closed_loop(call, concurrency, requests)
    finally:
        runtime.shutdown()


async def _http(url: str, body: dict, concurrency: int, requests: int):
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=concurrency)) as client:

        async def call() -> bool:
            response = await client.post(url, json=body)
            return response.status_code == 200 and bool(response.json()["data"][0].get("url"))

        return await closed_loop(call, concurrency, requests)


def run(workdir: Path, concurrencies=(1, 4, 16), requests: int = 300) -> list[Row]:
    stack = Stack(workdir / "serving", "bench-serving")
    rows: list[Row] = []
    try:
        stack.worker("worker", "--synthetic-stored-clip")
        _, framecast_url = stack.frontend("frontend", "--queue-per-worker", "64")
        stack.wait_for_workers(framecast_url, 1)
        dynamo_url = stack.dynamo_frontend(SYNTHETIC)
        framecast_body = {**CLIP, **KNOBS, "model": SYNTHETIC, "response_format": "url"}
        dynamo_body = {**CLIP, "model": SYNTHETIC, "nvext": KNOBS}
        for concurrency in concurrencies:
            paths = {
                "framecast": asyncio.run(_http(f"{framecast_url}/v1/videos/generations", framecast_body, concurrency, requests)),
                "dynamo": asyncio.run(_http(f"{dynamo_url}/v1/videos", dynamo_body, concurrency, requests)),
                "direct": asyncio.run(_direct(stack, concurrency, requests)),
            }
            for name, result in paths.items():
                rows.append(Row(
                    "a", f"c={concurrency} {name}", f"{result.p50_ms:.1f} ms", f"{result.p99_ms:.1f} ms",
                    f"{result.rps:.0f} req/s" + (f", {result.errors} errors" if result.errors else ""),
                ))  # fmt: skip
            ours, theirs = paths["framecast"], paths["dynamo"]
            latency_ratio, throughput_ratio = ours.p50_ms / theirs.p50_ms, ours.rps / theirs.rps
            rows.append(Row(
                "a", f"c={concurrency} framecast / dynamo", ratio=f"p50 {latency_ratio:.2f}x, req/s {throughput_ratio:.2f}x",
                target="p50 <= 1.5x, req/s >= 0.7x", met=latency_ratio <= 1.5 and throughput_ratio >= 0.7,
            ))  # fmt: skip
    finally:
        stack.stop()
    return rows
