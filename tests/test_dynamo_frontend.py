"""framecast workers behind NVIDIA Dynamo's own Rust frontend (`python -m dynamo.frontend`,
`POST /v1/videos`): that frontend keeps the first message's status and relays every message
as SSE when asked to stream, so a worker must send one message unless a stream is requested."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from framecast.testing.stack import Discovery, ManagedProcess, decode_mp4, free_port, stack_env, start_worker

MODEL = "tiny-random-t2v"


@pytest.fixture(scope="module")
def dynamo_frontend(tiny_model, tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("dynamo-frontend")
    discovery = Discovery("file", stack_env("file", None, log_dir / "kv"))
    worker = start_worker(discovery, tiny_model, "dynamo", (log_dir / "out").as_uri(), log_dir, "worker")
    port = free_port()
    frontend = ManagedProcess(
        "dynamo-frontend",
        [sys.executable, "-m", "dynamo.frontend", "--http-host", "127.0.0.1", "--http-port", str(port),
         "--discovery-backend", "file", "--namespace", "dynamo"],
        discovery.env,
        log_dir,
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if any(model["id"] == MODEL for model in httpx.get(f"{base_url}/v1/models").json()["data"]):
                    break
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            for process in (worker, frontend):
                assert process.alive(), process.tail()
            assert time.monotonic() < deadline, f"Dynamo's frontend never listed {MODEL}:\n{frontend.tail()}"
            time.sleep(0.2)
        yield base_url
    finally:
        frontend.stop()
        worker.stop()


def test_a_video_through_dynamos_frontend(dynamo_frontend):
    response = httpx.post(
        f"{dynamo_frontend}/v1/videos",
        json={"model": MODEL, "prompt": "a cat", "size": "80x64", "nvext": {"num_frames": 13, "fps": 12, "seed": 5}},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "completed" and body["progress"] == 100
    video = decode_mp4(Path(urlparse(body["data"][0]["url"]).path).read_bytes())
    assert (video.count, video.width, video.height, video.fps) == (13, 80, 64, 12)


def test_a_refused_request_reads_as_failed_with_the_reason(dynamo_frontend):
    response = httpx.post(
        f"{dynamo_frontend}/v1/videos", json={"model": MODEL, "prompt": "a cat", "nvext": {"num_frames": 10}}, timeout=60
    )
    body = response.json()
    assert body["status"] == "failed" and "nearest: 9" in body["error"] and body["data"] == []


def test_a_stream_through_dynamos_frontend_carries_rising_progress(dynamo_frontend):
    events = []
    with httpx.stream(
        "POST",
        f"{dynamo_frontend}/v1/videos",
        json={"model": MODEL, "prompt": "a cat", "stream": True, "nvext": {"num_inference_steps": 4}},
        timeout=120,
    ) as response:
        for line in response.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                events.append(json.loads(line.removeprefix("data: ")))
    progress = [event["progress"] for event in events]
    assert events[-1]["status"] == "completed" and progress[-1] == 100
    assert progress == sorted(progress) and len(set(progress)) >= 5  # 4 steps, then the final
