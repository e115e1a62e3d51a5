"""Both backends through the whole stack, and what /v1/models and /v1/runtime say of them.

The sglang worker runs SGLang's real DiffGenerator (sglang 0.5.23) on the tiny model; on a
machine without CUDA it runs the diffusers pipeline inside DiffGenerator, as sglang's native
kernels need a GPU."""

from __future__ import annotations

import base64
import re

import httpx
import pytest

from framecast.components.registry import lookup
from framecast.testing.stack import LOSSLESS_VIDEO, Discovery, decode_mp4, stack_env, start_frontend, start_worker, wait_for_workers

# sglang's DiffGenerator takes minutes to start on two busy cores.
pytestmark = pytest.mark.timeout(900)

SGLANG_MODEL = "tiny-sglang"
LIMITS_MODEL = "wan2.1-1.3b-limits"
WAN_1_3B = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"


@pytest.fixture(scope="module")
def stack(tiny_model, tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("backends")
    discovery = Discovery("file", stack_env("file", None, log_dir / "kv"))
    out = (log_dir / "out").as_uri()
    frontend, base_url = start_frontend(discovery, "fc-backends", log_dir, "frontend")
    sglang = start_worker(
        discovery, tiny_model, "fc-backends", out, log_dir, "worker-sglang",
        "--backend", "sglang", "--served-model-name", SGLANG_MODEL,
    )  # fmt: skip
    # The tiny weights under the Wan2.1 1.3B spec: only its request checks are exercised (no
    # request here passes them), since the real weights need a hub download and a GPU.
    limits = start_worker(
        discovery, tiny_model, "fc-backends", out, log_dir, "worker-limits",
        "--model-spec", WAN_1_3B, "--served-model-name", LIMITS_MODEL, "--ignore-support",
    )  # fmt: skip
    processes = [frontend, sglang, limits]
    try:
        wait_for_workers(base_url, LIMITS_MODEL, 1, processes=processes)
        wait_for_workers(base_url, SGLANG_MODEL, 1, timeout=300, processes=processes)
        yield base_url, sglang, discovery, log_dir
    finally:
        for process in processes:
            process.stop()


def test_sglang_diffgenerator_makes_the_requested_video(stack):
    base_url, sglang, *_ = stack
    response = httpx.post(
        f"{base_url}/v1/videos/generations",
        json={"model": SGLANG_MODEL, "prompt": "a rocket over the sea", "size": "80x48", "num_frames": 13, "fps": 12,
              "num_inference_steps": 3, "seed": 11, "response_format": "b64_json"},
        timeout=300,
    )  # fmt: skip
    assert response.status_code == 200, response.text + sglang.tail()
    body = response.json()
    video = decode_mp4(base64.b64decode(body["data"][0]["b64_json"]))
    assert (video.count, video.width, video.height, video.fps) == (13, 80, 48, 12)
    assert body["seed"] == 11 and body["inference_time_s"] > 0
    startup = re.search(r"DiffGenerator ready in ([\d.]+)s", sglang.log_text())
    print(f"sglang DiffGenerator start-up: {startup.group(1)} s")


def test_runtime_reports_each_workers_hardware_and_load_policy(stack):
    base_url, *_ = stack
    workers = {worker["model"]: worker for worker in httpx.get(f"{base_url}/v1/runtime").json()["data"]}
    assert set(workers) == {SGLANG_MODEL, LIMITS_MODEL}
    sglang = workers[SGLANG_MODEL]
    assert sglang["backend"] == "sglang" and sglang["support"]["level"] == "ready"
    assert sglang["load_policy"]["pipeline"] == "diffusers" and sglang["load_policy"]["max_concurrent"] == 1
    assert sglang["load_policy"]["parallel"]["num_gpus"] == 1 and sglang["load_policy"]["startup_s"] > 0
    assert sglang["hardware"]["cpu_count"] >= 1 and sglang["hardware"]["backends"]["sglang"] is True
    limits = workers[LIMITS_MODEL]
    assert limits["backend"] == "diffusers" and limits["support"]["level"] == "not supported"
    assert limits["load_policy"]["flow_shift"] == 3.0 and limits["load_policy"]["device"] == "cpu"


def test_models_show_tasks_defaults_limits_support_and_workers(stack):
    base_url, *_ = stack
    models = {model["id"]: model for model in httpx.get(f"{base_url}/v1/models").json()["data"]}
    wan = models[LIMITS_MODEL]
    assert wan["spec_id"] == WAN_1_3B and wan["tasks"] == ["t2v", "t2i", "v2v"] and wan["workers"] == 1
    assert wan["defaults"]["size"] == "832x480" and wan["defaults"]["num_frames"] == 81
    assert wan["limits"]["num_frames"] == "4k+1, 5 to 81" and wan["limits"]["sizes"] == ["832x480", "480x832"]
    assert wan["support"] == "not supported" and wan["gpu_memory_gb"]["1"] > wan["gpu_memory_gb"]["8"]
    assert models[SGLANG_MODEL]["backends"] == ["sglang"] and models[SGLANG_MODEL]["support"] == "ready"
    # Remix runs on the diffusers backend: the sglang worker says so and offers no v2v.
    assert models[SGLANG_MODEL]["tasks"] == ["t2v", "t2i"]
    assert "remix (v2v) runs on the diffusers backend only" in stack[1].log_text()


@pytest.mark.parametrize(
    ("knobs", "param", "allowed"),
    [
        ({"num_frames": 80}, "num_frames", "nearest: 81"),
        ({"num_frames": 85}, "num_frames", "between 5 and 81"),
        ({"seconds": 6}, "seconds", "at most 81"),
        ({"size": "840x480"}, "size", "nearest: 832x480"),
        ({"size": "1920x1088"}, "size", "921600"),
        ({"size": "128x128"}, "size", "65536"),
        ({"num_inference_steps": 201}, "num_inference_steps", "at most 200"),
        ({"nvext": {"num_frames": 7}}, "num_frames", "4k+1"),
    ],
)
def test_a_registry_model_refuses_what_it_cannot_do_before_any_gpu_work(stack, knobs, param, allowed):
    base_url, *_ = stack
    response = httpx.post(
        f"{base_url}/v1/videos/generations", json={"model": LIMITS_MODEL, "prompt": "x", **knobs}, timeout=30
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and allowed in error["message"] and LIMITS_MODEL in error["message"]


def test_models_is_empty_where_no_worker_runs(stack, tmp_path):
    _, _, discovery, _ = stack
    frontend, base_url = start_frontend(discovery, "fc-nobody", tmp_path, "frontend-empty")
    try:
        assert httpx.get(f"{base_url}/v1/models").json() == {"object": "list", "data": []}
        assert httpx.get(f"{base_url}/v1/runtime").json()["data"] == []
    finally:
        frontend.stop()


def test_registry_limits_are_what_the_worker_enforces():
    """The 1.3B spec the stack's limits worker follows is the registry's own."""
    spec = lookup(WAN_1_3B)
    assert (spec.limits.max_frames, spec.limits.max_steps, spec.limits.min_pixels) == (81, 200, 65536)


@pytest.fixture(scope="module")
def sglang_i2v(tmp_path_factory):
    """An sglang worker of the tiny image-to-video model, in a namespace of its own (the runtime
    registers one model path per endpoint), behind its own frontend."""
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("sglang-i2v")
    model = root / "tiny-random-i2v"
    subprocess.run([sys.executable, "-m", "framecast.components.tiny_model", str(model), "--kind", "i2v"], check=True, capture_output=True)
    discovery = Discovery("file", stack_env("file", None, root / "kv"))
    inputs = ("--input-store", (root / "inputs").as_uri())
    worker = start_worker(discovery, model, "fc-sglang-i2v", (root / "out").as_uri(), root, "worker", "--backend", "sglang", *inputs, *LOSSLESS_VIDEO)
    frontend, base_url = start_frontend(discovery, "fc-sglang-i2v", root, "frontend", *inputs)
    try:
        wait_for_workers(base_url, model.name, 1, timeout=300, processes=[worker, frontend])
        yield base_url, worker
    finally:
        frontend.stop()
        worker.stop()


def test_sglang_diffgenerator_takes_the_input_image(sglang_i2v):
    import io

    import numpy as np
    from PIL import Image

    base_url, worker = sglang_i2v

    def frames(color: tuple[int, int, int]):
        image = io.BytesIO()
        Image.new("RGB", (96, 64), color).save(image, format="PNG")
        fields = {"model": "tiny-random-i2v", "prompt": "a cat", "size": "64x64", "num_frames": "5", "num_inference_steps": "2",
                  "seed": "1", "response_format": "b64_json"}  # fmt: skip
        response = httpx.post(
            f"{base_url}/v1/videos/generations", timeout=300,
            files={key: (None, value) for key, value in fields.items()} | {"input_reference": ("in.png", image.getvalue(), "image/png")},
        )  # fmt: skip
        assert response.status_code == 200, response.text + worker.tail()
        video = decode_mp4(base64.b64decode(response.json()["data"][0]["b64_json"]))
        assert (video.count, video.width, video.height) == (5, 64, 64)
        return video.frames

    red = frames((200, 30, 30))
    assert np.array_equal(red, frames((200, 30, 30)))
    assert not np.array_equal(red, frames((30, 30, 200)))
