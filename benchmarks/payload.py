"""e. Payload: a video of 64 MB or more (noise: incompressible) fetched as inline base64 from
POST /v1/videos/generations and as bytes from GET /v1/videos/{id}/content; the frontend's peak
resident memory over its level before each request."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from harness import SYNTHETIC, PeakRss, Row, Stack

# 113 noise frames at 1280x720 encode (ultrafast) to a little over 64 MiB.
VIDEO = {"model": SYNTHETIC, "prompt": "payload", "size": "1280x720", "num_frames": 113, "num_inference_steps": 1, "seed": 3}


def _drain(response: httpx.Response) -> int:
    return sum(len(chunk) for chunk in response.iter_bytes(2**20))


def run(workdir: Path) -> list[Row]:
    stack = Stack(workdir / "payload", "bench-payload")
    rows = []
    try:
        stack.worker("worker", "--synthetic-content", "noise", "--synthetic-stored-clip")
        frontend, base_url = stack.frontend("frontend")
        stack.wait_for_workers(base_url, 1)
        # The first request encodes the clip; the measured ones below find it stored.
        warm = httpx.post(f"{base_url}/v1/videos/generations", json=VIDEO, timeout=600)
        warm.raise_for_status()
        size = int(httpx.head(warm.json()["data"][0]["url"]).headers["content-length"])
        time.sleep(1)
        with PeakRss(frontend.pid) as inline:
            with httpx.stream("POST", f"{base_url}/v1/videos/generations", json=VIDEO | {"response_format": "b64_json"}, timeout=600) as response:
                response.raise_for_status()
                inline_bytes = _drain(response)
        time.sleep(1)
        with PeakRss(frontend.pid) as content:
            with httpx.stream("GET", warm.json()["data"][0]["url"], timeout=600) as response:
                response.raise_for_status()
                content_bytes = _drain(response)
        if content_bytes != size:
            raise RuntimeError(f"/content sent {content_bytes} bytes of a {size}-byte video")
    finally:
        stack.stop()
    for name, sampler, sent in (("b64_json", inline, inline_bytes), ("/content", content, content_bytes)):
        ratio = sampler.growth / size
        rows.append(Row(
            "e", f"{size / 2**20:.1f} MiB video via {name}", other=f"{sent / 2**20:.1f} MiB sent; RSS {sampler.baseline / 2**20:.0f} MiB before",
            median=f"+{sampler.growth / 2**20:.1f} MiB peak RSS", ratio=f"{ratio:.2f}x payload", target="<= 3x", met=ratio <= 3,
        ))  # fmt: skip
    return rows
