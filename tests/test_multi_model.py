"""One namespace, one frontend, every model: workers of the tiny t2v (two of them), i2v, ti2v and
t2i models register in one etcd, and one frontend (API keys on, jobs in etcd) serves them all,
routing by `model` and by the route's task; NVIDIA Dynamo's own frontend lists and serves the
same workers."""

from __future__ import annotations

import base64
import io
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import httpx
import numpy as np
import openai
import pytest
from PIL import Image

from framecast.testing.stack import (
    Discovery,
    EtcdServer,
    ManagedProcess,
    decode_mp4,
    free_port,
    stack_env,
    start_frontend,
    start_worker,
    wait_for_workers,
    worker_instance,
)

T2V, I2V, TI2V, T2I = "tiny-random-t2v", "tiny-random-i2v", "tiny-random-ti2v", "tiny-random-t2i"
KEY = "sk-multi-model"
HEADERS = {"authorization": f"Bearer {KEY}"}
FAST = {"num_inference_steps": 2, "seed": 7}
NAMESPACE = "fc-multi"


def png(width: int = 64, height: int = 64) -> bytes:
    x = np.linspace(0, 255, width, dtype=np.uint8)
    pixels = np.stack([np.tile(x, (height, 1))] * 3, -1)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


@dataclass
class MultiStack:
    root: Path
    discovery: Discovery
    base_url: str
    t2v_instances: set[str]

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.base_url}/v1", api_key=KEY, max_retries=0)


@pytest.fixture(scope="module")
def stack(tiny_models, tmp_path_factory):
    root = tmp_path_factory.mktemp("multi-model")
    etcd = EtcdServer(root / "etcd-data", root)
    discovery = Discovery("etcd", stack_env("etcd", etcd.url, None))
    shared = ("--input-store", (root / "inputs").as_uri())
    (root / "api-keys").write_text(f"tenant: {KEY}\n")
    processes = []
    try:
        workers = {}
        for name, kind in (("t2v-1", "t2v"), ("t2v-2", "t2v"), ("i2v", "i2v"), ("ti2v", "ti2v"), ("t2i", "t2i")):
            workers[name] = start_worker(discovery, tiny_models(kind), NAMESPACE, (root / "out").as_uri(), root, f"worker-{name}", *shared)
            processes.append(workers[name])
        frontend, base_url = start_frontend(
            discovery, NAMESPACE, root, "frontend", *shared, "--job-store", "etcd", "--api-key-file", str(root / "api-keys")
        )
        processes.append(frontend)
        for model, count in ((T2V, 2), (I2V, 1), (TI2V, 1), (T2I, 1)):
            wait_for_workers(base_url, model, count, processes=processes, headers=HEADERS)
        yield MultiStack(root, discovery, base_url, {worker_instance(workers["t2v-1"]), worker_instance(workers["t2v-2"])})
    finally:
        for process in reversed(processes):
            process.stop()
        etcd.stop()


def test_models_lists_every_model_with_its_live_workers(stack):
    models = httpx.get(f"{stack.base_url}/v1/models", headers=HEADERS, timeout=10).json()["data"]
    assert {model["id"]: model["workers"] for model in models} == {T2V: 2, I2V: 1, TI2V: 1, T2I: 1}
    tasks = {model["id"]: set(model["tasks"]) for model in models}
    assert tasks[T2I] == {"t2i"} and "i2v" in tasks[I2V] and "t2v" in tasks[T2V]


def test_each_model_does_each_of_its_tasks_through_the_openai_client(stack):
    client = stack.client()
    # Text to video, on the job API.
    video = client.videos.create_and_poll(model=T2V, prompt="a fox", size="64x64", extra_body=FAST | {"num_frames": 5})
    assert video.status == "completed", video
    decoded = decode_mp4(client.videos.download_content(video.id).read())
    assert (decoded.count, decoded.width, decoded.height) == (5, 64, 64)
    # Image to video, the image uploaded; and text-and-image to video both ways.
    for model, image in ((I2V, png()), (TI2V, png()), (TI2V, None)):
        upload = {"input_reference": ("in.png", image, "image/png")} if image else {}
        video = client.videos.create_and_poll(
            model=model, prompt="a boat", size="64x64", extra_body=FAST | {"num_frames": 5}, **upload
        )  # fmt: skip
        assert video.status == "completed", (model, video)
        decoded = decode_mp4(client.videos.download_content(video.id).read())
        assert (decoded.count, decoded.width, decoded.height) == (5, 64, 64)
    # Text to image, on the image model and as one frame of the text-to-video model.
    for model, n in ((T2I, 2), (T2V, 1)):
        result = client.images.generate(model=model, prompt="a cat", n=n, size="64x64", response_format="b64_json", extra_body=FAST)
        images = [Image.open(io.BytesIO(base64.b64decode(item.b64_json))) for item in result.data]
        assert [(image.format, image.size) for image in images] == [("PNG", (64, 64))] * n, model


def test_a_model_of_the_wrong_kind_is_a_400_naming_model(stack):
    client = stack.client()
    with pytest.raises(openai.BadRequestError) as refused:
        client.images.generate(model=I2V, prompt="a cat", size="64x64", extra_body=FAST)
    error = refused.value.body
    assert error["param"] == "model" and T2I in error["message"] and T2V in error["message"], error
    with pytest.raises(openai.BadRequestError) as refused:
        client.videos.create(model=T2I, prompt="a cat", size="64x64", extra_body=FAST)
    error = refused.value.body
    assert error["param"] == "model" and all(name in error["message"] for name in (T2V, I2V, TI2V)), error
    assert T2I not in error["message"].split(":", 1)[1], error


def test_a_missing_model_is_a_400_listing_the_served_ones(stack):
    response = httpx.post(
        f"{stack.base_url}/v1/videos", headers=HEADERS, json={"prompt": "a cat", **FAST}, timeout=30
    )  # fmt: skip
    error = response.json()["error"]
    assert response.status_code == 400 and error["param"] == "model", error
    assert all(name in error["message"] for name in (T2V, I2V, TI2V)), error


def test_a_model_answers_to_its_registry_id(stack):
    response = httpx.post(
        f"{stack.base_url}/v1/videos/generations",
        headers=HEADERS,
        json={"model": "framecast/tiny-random-wan2.1-t2v", "prompt": "a cat", "num_frames": 5, **FAST},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    assert response.json()["model"] == T2V


def test_round_robin_reaches_both_text_to_video_workers(stack):
    body = {"model": T2V, "prompt": "a cat", "num_frames": 5, **FAST}
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(
            lambda _: httpx.post(f"{stack.base_url}/v1/videos/generations", headers=HEADERS, json=body, timeout=180), range(4)
        ))  # fmt: skip
    assert all(answer.status_code == 200 for answer in answers), [answer.text for answer in answers]
    assert {answer.headers["x-framecast-worker"] for answer in answers} == stack.t2v_instances


def test_dynamos_own_frontend_lists_every_model_and_serves_a_video_and_an_image(stack):
    port = free_port()
    frontend = ManagedProcess(
        "dynamo-frontend",
        [sys.executable, "-m", "dynamo.frontend", "--http-host", "127.0.0.1", "--http-port", str(port),
         "--discovery-backend", "etcd", "--request-plane", "tcp", "--namespace", NAMESPACE],
        stack.discovery.env,
        stack.root,
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        listed: set[str] = set()
        while listed != {T2V, I2V, TI2V, T2I}:
            assert frontend.alive(), frontend.tail()
            assert time.monotonic() < deadline, f"Dynamo's frontend lists {listed}:\n{frontend.tail()}"
            try:
                listed = {model["id"] for model in httpx.get(f"{base_url}/v1/models", timeout=5).json()["data"]}
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            time.sleep(0.2)
        video = httpx.post(
            f"{base_url}/v1/videos",
            json={"model": T2V, "prompt": "a cat", "size": "64x64", "nvext": {"num_frames": 5, **FAST}},
            timeout=120,
        ).json()
        assert video["status"] == "completed", video
        decoded = decode_mp4(Path(urlparse(video["data"][0]["url"]).path).read_bytes())
        assert (decoded.count, decoded.width, decoded.height) == (5, 64, 64)
        images = httpx.post(
            f"{base_url}/v1/images/generations",
            json={"model": T2I, "prompt": "a cat", "size": "64x48", "n": 2, "nvext": FAST},
            timeout=120,
        )
        assert images.status_code == 200, images.text
        opened = [Image.open(urlparse(item["url"]).path) for item in images.json()["data"]]
        assert [(image.format, image.size) for image in opened] == [("PNG", (64, 48))] * 2
    finally:
        frontend.stop()


def test_the_catalog_lists_every_registry_entry_and_what_is_served(stack):
    from framecast.registry import REGISTRY

    response = httpx.get(f"{stack.base_url}/v1/catalog", headers=HEADERS, timeout=10)
    assert response.status_code == 200, response.text
    entries = {entry["id"]: entry for entry in response.json()["data"]}
    assert list(entries) == [spec.id for spec in REGISTRY]
    tiny = entries["framecast/tiny-random-wan2.1-t2v"]
    assert (tiny["served"], tiny["served_as"], tiny["workers"], tiny["loading"]) == (True, [T2V], 2, 0)
    assert "tiny-random-t2v" in tiny["aliases"] and tiny["tasks"] == ["t2v", "t2i", "v2v"]
    assert entries["framecast/tiny-random-flux"]["served_as"] == [T2I]
    wan = entries["Wan-AI/Wan2.1-T2V-14B-Diffusers"]
    assert (wan["served"], wan["workers"]) == (False, 0)
    assert wan["defaults"]["size"] == "1280x720" and wan["limits"]["max_steps"] > 0
    # Estimated GPU memory falls as the model is split over more GPUs.
    memory = [wan["gpu_memory_gb"][degree] for degree in ("1", "2", "4", "8")]
    assert memory == sorted(memory, reverse=True) and memory[0] > memory[-1]


def test_the_command_lists_every_model_and_refuses_one_of_the_wrong_kind(stack, tmp_path):
    import os
    import shutil
    import subprocess

    command = shutil.which("framecast", path=str(Path(sys.executable).parent))
    env = dict(os.environ, FRAMECAST_URL=stack.base_url, FRAMECAST_API_KEY=KEY, COLUMNS="200")

    def run(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([command, *argv], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)

    listed = run("models")
    assert listed.returncode == 0, listed.stderr
    assert all(model in listed.stdout for model in (T2V, I2V, TI2V, T2I)), listed.stdout
    image = run("image", "a cat", "--model", I2V, "-o", "cat.png")
    assert image.returncode != 0 and "(field: model)" in image.stderr and T2I in image.stderr, image.stderr
    video = run("generate", "a cat", "--model", T2I, "-o", "cat.mp4")
    assert video.returncode != 0 and "(field: model)" in video.stderr and I2V in video.stderr, video.stderr
    assert not (tmp_path / "cat.png").exists() and not (tmp_path / "cat.mp4").exists()
