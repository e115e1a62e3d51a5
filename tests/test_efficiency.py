"""Fewer GPU-seconds per video, through the whole stack in the production configuration: etcd
discovery, two frontends on the etcd job store, API keys on, several workers. Step caches (every
mode, and a request turning its cache off), LoRA adapters built offline (scales, interleaving,
routing to the worker that holds an adapter), and a compiled transformer warmed up before its
worker registers.

The workers of one namespace serve the tiny model's one folder under several names: the plain
model with adapters (two workers), one name per cache mode, and a compiled one. FasterCache
needs a pipeline that runs CFG in one batch, so it runs on the tiny FLUX model."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import openai
import pytest

from framecast.testing.stack import (
    LOSSLESS_VIDEO,
    Discovery,
    EtcdServer,
    decode_mp4,
    free_status_port,
    metric_values,
    scrape_metrics,
    stack_env,
    start_frontend,
    start_worker,
    wait_done,
    wait_for_workers,
)

# Its stack (several workers, one of them compiled) takes minutes to start on two busy cores.
pytestmark = pytest.mark.timeout(900)

MODEL = "tiny-random-t2v"
CACHED = {"tiny-first-block": ("--cache", "first-block", "--cache-threshold", "0.2"), "tiny-mag": ("--cache", "mag"),
          "tiny-taylorseer": ("--cache", "recommended")}  # fmt: skip
COMPILED = "tiny-compiled"
# One worker alone with adapters, so that interleaved requests all run on it.
SOLO = "tiny-adapters-solo"
FLUX = "tiny-random-t2i"
KEY = "sk-efficiency-tenant"
HEADERS = {"authorization": f"Bearer {KEY}"}
STEPS = 8
NAMESPACE = "fc-efficiency"
PROMPT = "a fox in the snow"


class Stack:
    def __init__(self, root, discovery):
        self.root, self.discovery = root, discovery
        self.processes = []
        self.frontends: list[str] = []
        self.flux_url = ""
        self.adapter_workers: list[str] = []  # their /metrics URLs
        self.taylorseer_metrics = ""
        self.compiled = None
        self.adapters: dict[str, str] = {}

    def worker(self, name: str, model_path, *extra: str, namespace: str = NAMESPACE, env: dict | None = None):
        discovery = Discovery("etcd", dict(self.discovery.env, **(env or {})))
        process = start_worker(discovery, model_path, namespace, (self.root / "out").as_uri(), self.root, name, *LOSSLESS_VIDEO, *extra)
        self.processes.append(process)
        return process

    def frontend(self, name: str, namespace: str = NAMESPACE) -> str:
        args = ("--job-store", "etcd", "--api-key-file", str(self.root / "api-keys"), "--input-store", (self.root / "inputs").as_uri())
        process, url = start_frontend(self.discovery, namespace, self.root, name, *args)
        self.processes.append(process)
        return url


def status_env() -> tuple[dict, str]:
    port = free_status_port()
    return {"DYN_SYSTEM_PORT": str(port), "DYN_SYSTEM_HOST": "127.0.0.1"}, f"http://127.0.0.1:{port}/metrics"


def build(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "framecast.components.tiny_model", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def stack(tiny_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("efficiency")
    (root / "api-keys").write_text(f"tenant: {KEY}\n")
    flux = root / "models" / FLUX
    build(str(flux), "--kind", "t2i")
    etcd = EtcdServer(root / "etcd-data", root)
    stack = Stack(root, Discovery("etcd", stack_env("etcd", etcd.url, None)))
    try:
        for name, seed in (("a", "1"), ("b", "2"), ("c", "3")):
            stack.adapters[name] = str(root / "loras" / name)
            build(stack.adapters[name], "--lora-for", str(tiny_model), "--seed", seed)
        adapter_flags = [flag for name in ("a", "b", "c") for flag in ("--lora", f"{name}={stack.adapters[name]}")]
        adapter_flags += ["--lora", f"fast={stack.adapters['a']}", "--lora-max-loaded", "2"]
        for index in (1, 2):
            env, metrics_url = status_env()
            stack.adapter_workers.append(metrics_url)
            stack.worker(f"worker-adapters-{index}", tiny_model, *adapter_flags, env=env)
        for name, flags in CACHED.items():
            env, metrics_url = status_env() if name == "tiny-taylorseer" else ({}, "")
            stack.taylorseer_metrics = metrics_url or stack.taylorseer_metrics
            stack.worker(f"worker-{name}", tiny_model, "--served-model-name", name, *flags, env=env)
        stack.worker("worker-solo", tiny_model, "--served-model-name", SOLO, *adapter_flags)
        # Dynamo's recompile log shows whether a request compiled anything.
        stack.compiled = stack.worker(
            "worker-compiled", tiny_model, "--served-model-name", COMPILED, "--compile", env={"TORCH_LOGS": "recompiles"}
        )
        stack.worker("worker-flux-faster", flux, "--cache", "faster", namespace=f"{NAMESPACE}-flux")
        stack.frontends = [stack.frontend("replica-a"), stack.frontend("replica-b")]
        stack.flux_url = stack.frontend("frontend-flux", namespace=f"{NAMESPACE}-flux")
        # Each replica watches discovery on its own; the tests read from both.
        for url in stack.frontends:
            for model, count in ((MODEL, 2), *((name, 1) for name in CACHED), (COMPILED, 1), (SOLO, 1)):
                wait_for_workers(url, model, count, timeout=240, processes=stack.processes, headers=HEADERS)
        wait_for_workers(stack.flux_url, FLUX, 1, processes=stack.processes, headers=HEADERS)
        yield stack
    finally:
        for process in reversed(stack.processes):
            process.stop()
        etcd.stop()


def generate(base_url: str, model: str = MODEL, seed: int = 7, **fields) -> np.ndarray:
    """The frames of a synchronous generation (its MP4 inline)."""
    body = {"model": model, "prompt": PROMPT, "seed": seed, "num_inference_steps": STEPS, "response_format": "b64_json"}
    response = httpx.post(f"{base_url}/v1/videos/generations", json=body | fields, headers=HEADERS, timeout=180)
    assert response.status_code == 200, response.text
    video = decode_mp4(base64.b64decode(response.json()["data"][0]["b64_json"]))
    assert (video.count, video.width, video.height) == (9, 64, 64)
    return video.frames


def refusal(base_url: str, **fields) -> dict:
    body = {"model": MODEL, "prompt": "x", **fields}
    response = httpx.post(f"{base_url}/v1/videos", json=body, headers=HEADERS, timeout=60)
    assert response.status_code == 400, response.text
    return response.json()["error"]


def models(base_url: str) -> dict[str, dict]:
    return {entry["id"]: entry for entry in httpx.get(f"{base_url}/v1/models", headers=HEADERS, timeout=10).json()["data"]}


def adapter_loads(metrics_url: str, adapter: str) -> float:
    return sum(metric_values(scrape_metrics(metrics_url), "framecast_worker_lora_loads_total", adapter=adapter))


# -- what /v1/models says --------------------------------------------------------------------


def test_models_say_what_their_workers_run_with(stack):
    listed = models(stack.frontends[1])
    assert [adapter["name"] for adapter in listed[MODEL]["adapters"]] == ["a", "b", "c", "fast"]
    fast = listed[MODEL]["adapters"][3]
    assert (fast["num_inference_steps"], fast["guidance_scale"]) == (2, 1.0)
    assert listed[MODEL]["step_cache"] is None and listed[MODEL]["compiled"] is False
    assert listed["tiny-first-block"]["step_cache"] == {"mode": "first-block", "threshold": 0.2}
    assert listed["tiny-taylorseer"]["step_cache"] == {"mode": "taylorseer", "interval": 2, "warmup_steps": 1}
    assert listed["tiny-mag"]["step_cache"] == {"mode": "mag"}
    assert listed[COMPILED]["compiled"] is True and listed["tiny-mag"]["adapters"] == []


# -- step caches -----------------------------------------------------------------------------


def test_every_cache_mode_runs_and_a_request_can_turn_it_off(stack):
    url = stack.frontends[0]
    base = generate(url)
    for model in CACHED:
        cached = generate(url, model)
        # The cache skipped work, so the frames moved; turned off, they are the uncached ones.
        assert not np.array_equal(cached, base), model
        assert np.array_equal(generate(url, model, nvext={"cache": False}), base), model


def test_faster_cache_runs_on_a_pipeline_with_cfg_in_one_batch(stack):
    client = openai.OpenAI(base_url=f"{stack.flux_url}/v1", api_key=KEY, max_retries=0)
    result = client.images.generate(model=FLUX, prompt="a boat", size="64x64", response_format="b64_json", extra_body={"seed": 2})
    assert base64.b64decode(result.data[0].b64_json).startswith(b"\x89PNG")


def test_taylorseer_with_a_fixed_interval_runs_half_the_transformer_blocks(stack):
    def blocks_run(**fields) -> float:
        before = sum(metric_values(scrape_metrics(stack.taylorseer_metrics), "framecast_worker_transformer_block_evaluations_total"))
        generate(stack.frontends[0], "tiny-taylorseer", **fields)
        return sum(metric_values(scrape_metrics(stack.taylorseer_metrics), "framecast_worker_transformer_block_evaluations_total")) - before

    # 2 blocks x 2 CFG branches x 8 steps; every other step after the first is predicted.
    assert blocks_run(nvext={"cache": False}) == 2 * 2 * STEPS
    assert blocks_run() == 2 * 2 * (STEPS // 2)


# -- adapters --------------------------------------------------------------------------------


def test_scale_zero_is_the_base_model_and_scale_one_is_not(stack):
    url = stack.frontends[0]
    base = generate(url)
    assert np.array_equal(generate(url, lora=[{"name": "a", "scale": 0.0}]), base)
    adapted = generate(url, lora=[{"name": "a", "scale": 1.0}])
    assert not np.array_equal(adapted, base)
    assert not np.array_equal(generate(url, lora=[{"name": "b"}]), adapted)
    # And back: a request without adapters after them is the base model again.
    assert np.array_equal(generate(url), base)


def test_interleaved_requests_each_get_their_own_adapter(stack):
    url = stack.frontends[1]

    def run(name: str) -> np.ndarray:
        return generate(url, SOLO, seed=11, **({"lora": [{"name": name}]} if name != "none" else {}))

    alone = {name: run(name) for name in ("a", "b", "none")}
    order = ["a", "b", "none", "a", "b", "none", "b", "a"]
    # Sent at once: the worker takes them one after the other, switching adapters each time.
    with ThreadPoolExecutor(len(order)) as pool:
        futures = [pool.submit(run, name) for name in order]
        results = [future.result() for future in futures]
    for name, frames in zip(order, results, strict=True):
        assert np.array_equal(frames, alone[name]), name


def test_an_adapter_makes_the_same_video_on_every_worker(stack):
    # Any worker may run a job: an adapter loaded by another process gives the same frames.
    adapter = {"lora": [{"name": "b", "scale": 0.7}]}
    on_shared_workers = generate(stack.frontends[0], MODEL, seed=5, **adapter)
    assert np.array_equal(generate(stack.frontends[1], SOLO, seed=5, **adapter), on_shared_workers)
    assert not np.array_equal(generate(stack.frontends[0], MODEL, seed=5), on_shared_workers)


def test_the_second_request_for_an_adapter_goes_to_the_worker_that_loaded_it(stack):
    url = stack.frontends[0]
    assert [adapter_loads(metrics, "c") for metrics in stack.adapter_workers] == [0, 0]
    generate(url, lora=[{"name": "c"}])
    first = [adapter_loads(metrics, "c") for metrics in stack.adapter_workers]
    assert sorted(first) == [0, 1]
    generate(url, lora=[{"name": "c"}], seed=8)
    # Round-robin alone would have sent it to the other worker, which would have loaded it too.
    assert [adapter_loads(metrics, "c") for metrics in stack.adapter_workers] == first
    with httpx.Client(headers=HEADERS) as client:
        warm = metric_values(scrape_metrics(f"{url}/metrics", client), "framecast_lora_dispatches_total", model=MODEL, adapters="warm")
    assert sum(warm) >= 1
    # The other replica sent none of these jobs: it knows where "c" is from the worker's notice.
    other = stack.frontends[1]
    holder = wait_until_shown(other, "c")
    generate(other, lora=[{"name": "c"}], seed=9)
    assert [adapter_loads(metrics, "c") for metrics in stack.adapter_workers] == first
    runtime = httpx.get(f"{other}/v1/runtime", headers=HEADERS, timeout=10).json()["data"]
    assert [entry["instance"] for entry in runtime if "c" in entry.get("adapters_loaded", [])] == [holder]


def wait_until_shown(base_url: str, adapter: str, timeout: float = 60) -> str:
    """The instance a frontend's /v1/runtime shows holding `adapter`, once it shows one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runtime = httpx.get(f"{base_url}/v1/runtime", headers=HEADERS, timeout=10).json()["data"]
        holders = [entry["instance"] for entry in runtime if adapter in entry.get("adapters_loaded", [])]
        if holders:
            return holders[0]
        time.sleep(0.1)
    raise AssertionError(f"{base_url} never showed a worker holding {adapter}")


def test_a_preset_brings_its_steps_and_the_openai_client_passes_adapters(stack):
    client = openai.OpenAI(base_url=f"{stack.frontends[1]}/v1", api_key=KEY, max_retries=0)
    video = client.videos.create(model=MODEL, prompt="a fast fox", extra_body={"lora": [{"name": "fast"}], "seed": 5})
    done = wait_done(stack.frontends[1], video.id, headers=HEADERS)
    assert done["status"] == "completed", done
    assert done["total_steps"] == 2  # the preset's steps (the model's default is 4)
    decoded = decode_mp4(client.videos.download_content(video.id).read())
    assert (decoded.count, decoded.width, decoded.height) == (9, 64, 64)


@pytest.mark.parametrize(
    ("lora", "model"),
    [
        ([{"name": "nope"}], MODEL),
        ([{"name": "../../etc/passwd"}], MODEL),
        ([{"name": "a", "path": "/tmp/x.safetensors"}], MODEL),
        ([{"name": "a"}, {"name": "a"}], MODEL),
        ([{"name": "a", "scale": 99}], MODEL),
        ([{"name": "a"}], "tiny-mag"),
    ],
)
def test_adapters_a_worker_was_not_given_are_refused_naming_lora(stack, lora, model):
    error = refusal(stack.frontends[0], lora=lora, model=model)
    assert error["param"].startswith("lora"), error


# -- compilation -----------------------------------------------------------------------------


def test_the_compiled_worker_warmed_up_before_it_registered(stack):
    log = stack.compiled.log_text()
    warmed = re.search(r"compiled and warmed up at 64x64, 9 frames: first run [\d.]+s", log)
    ready = log.find("framecast worker ready")
    assert warmed and 0 <= warmed.start() < ready, log[-3000:]
    before = len(stack.compiled.log_text())
    generate(stack.frontends[0], COMPILED)
    # Written by the worker before it answered.
    after = stack.compiled.log_text()[before:]
    assert "Recompiling" not in after and "recompil" not in after.lower(), after


def test_the_command_passes_adapters_and_exact(stack, tmp_path):
    command = shutil.which("framecast", path=str(Path(sys.executable).parent))
    env = dict(os.environ, FRAMECAST_URL=stack.frontends[0], FRAMECAST_API_KEY=KEY, COLUMNS="200")
    made = subprocess.run(
        [command, "generate", "a fox", "--model", "tiny-taylorseer", "--lora", "nope:0.5", "--exact", "--seed", "7"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    # tiny-taylorseer offers no adapters: the server's refusal names the field.
    assert made.returncode == 1 and "(field: lora)" in made.stderr, made.stderr
    made = subprocess.run(
        [command, "generate", PROMPT, "--model", SOLO, "--lora", "b:0.5", "--steps", str(STEPS), "--seed", "7", "-o", "fox.mp4"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert np.array_equal(decode_mp4((tmp_path / "fox.mp4").read_bytes()).frames, generate(stack.frontends[0], SOLO, lora=[{"name": "b", "scale": 0.5}]))
    listed = subprocess.run([command, "models"], env=env, capture_output=True, text=True, timeout=60)
    assert "a,b,c,fast" in listed.stdout and "taylorseer" in listed.stdout, listed.stdout
