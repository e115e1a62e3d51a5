"""framecast workers of a video and an image model behind NVIDIA Dynamo's own Rust frontend
(`python -m dynamo.frontend`, `POST /v1/videos`, `/v1/images/generations`): that frontend keeps the first message's status and relays every message
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


def start_behind_dynamo(model_paths: list[Path], log_dir: Path) -> tuple[str, list[ManagedProcess]]:
    """A framecast worker of each model, in one namespace, and NVIDIA Dynamo's frontend, once it
    lists every model."""
    discovery = Discovery("file", stack_env("file", None, log_dir / "kv"))
    workers = [
        start_worker(discovery, path, "dynamo", (log_dir / "out").as_uri(), log_dir, f"worker-{path.name}") for path in model_paths
    ]
    port = free_port()
    frontend = ManagedProcess(
        "dynamo-frontend",
        [sys.executable, "-m", "dynamo.frontend", "--http-host", "127.0.0.1", "--http-port", str(port),
         "--discovery-backend", "file", "--namespace", "dynamo"],
        discovery.env,
        log_dir,
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    processes = [frontend, *workers]
    wanted = {path.name for path in model_paths}
    deadline = time.monotonic() + 180
    while True:
        try:
            if wanted <= {model["id"] for model in httpx.get(f"{base_url}/v1/models").json()["data"]}:
                return base_url, processes
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        for process in processes:
            if not process.alive() or time.monotonic() > deadline:
                for started in processes:
                    started.stop()
                raise AssertionError(f"Dynamo's frontend never listed {wanted}:\n{process.tail()}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def dynamo_frontend(tiny_models, tmp_path_factory):
    base_url, processes = start_behind_dynamo([tiny_models("t2v"), tiny_models("t2i")], tmp_path_factory.mktemp("dynamo-frontend"))
    try:
        yield base_url
    finally:
        for process in processes:
            process.stop()


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


def test_images_through_dynamos_frontend(dynamo_frontend):
    """Its `/v1/images/generations` sends no task: a framecast worker of an image model makes images."""
    from PIL import Image

    response = httpx.post(
        f"{dynamo_frontend}/v1/images/generations",
        json={"model": "tiny-random-t2i", "prompt": "a cat", "size": "64x48", "n": 2, "nvext": {"num_inference_steps": 2, "seed": 3}},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    images = [Image.open(urlparse(item["url"]).path) for item in response.json()["data"]]
    assert [(image.format, image.size) for image in images] == [("PNG", (64, 48))] * 2
