"""g. Step caches, h. LoRA adapter switching, i. adapter-aware routing.

g and h run the diffusers backend in this process on the tiny Wan model with its transformer
scaled up (8 blocks, width 128) so that a denoising step takes tens of milliseconds on a CPU:
the ratios between rows are what carries over to a GPU, not the times. i runs real workers
(synthetic backend: a fixed time per video and per adapter load) behind a real frontend.
"""

from __future__ import annotations

import dataclasses
import json
import random
import statistics
import time
from pathlib import Path

import httpx
import numpy as np
from harness import SYNTHETIC, Row, Stack, metric_sum, scrape_metrics, wait_jobs
from framecast.testing.stack import free_status_port

# The scaled transformer: a step at 128x128, 17 frames is tens of milliseconds on one core.
SCALED_TRANSFORMER = {"num_layers": 8, "num_attention_heads": 4, "attention_head_dim": 32, "ffn_dim": 512}
SIZE, FRAMES, STEPS = 128, 17, 20
CACHE_CASES = (
    ("none", {}),
    ("first-block 0.05", {"cache": "first-block", "cache_threshold": 0.05}),
    ("first-block 0.2", {"cache": "first-block", "cache_threshold": 0.2}),
    ("mag 0.06 (calibrated at start)", {"cache": "mag", "cache_threshold": 0.06}),
    ("taylorseer every 2nd step", {"cache": "taylorseer", "cache_interval": 2}),
    ("taylorseer every 3rd step", {"cache": "taylorseer", "cache_interval": 3}),
    ("faster", {"cache": "faster"}),
)


def scaled_tiny_model(folder: Path) -> Path:
    """The tiny t2v model with a bigger transformer (random weights, built offline)."""
    from diffusers import WanTransformer3DModel

    from framecast.components.tiny_model import build_tiny_model

    path = build_tiny_model(folder, kind="t2v")
    config = json.loads((path / "transformer" / "config.json").read_text())
    config = {key: value for key, value in config.items() if not key.startswith("_")} | SCALED_TRANSFORMER
    WanTransformer3DModel(**config).save_pretrained(path / "transformer")
    return path


def _backend(path: Path, **model_options):
    from framecast.components.backends import load_backend
    from framecast.components.backends.options import BackendOptions, ModelOptions
    from framecast.components.registry import spec_for_model

    spec = spec_for_model(str(path), None)
    return load_backend("diffusers", BackendOptions(str(path), spec, ModelOptions(**model_options)))


def _params(**fields):
    from framecast.components.registry import GenerationParams

    base = GenerationParams(
        prompt="a fox running through snow", negative_prompt="", width=SIZE, height=SIZE, num_frames=FRAMES, fps=8,
        num_inference_steps=STEPS, guidance_scale=5.0, seed=3,
    )  # fmt: skip
    return dataclasses.replace(base, **fields)


def _timed(backend, params, repeats: int) -> tuple[float, object]:
    times, video = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        video = backend.generate(params, lambda *_: None)
        times.append(time.perf_counter() - started)
    return statistics.median(times), video


def step_caches(workdir: Path, repeats: int = 3) -> list[Row]:
    path = scaled_tiny_model(workdir / "scaled-t2v")
    rows, reference, uncached_s = [], None, None
    for name, options in CACHE_CASES:
        try:
            backend = _backend(path, **options)
        except ValueError as error:
            rows.append(Row("g", f"cache {name}", other=f"refused: {str(error).split(';')[0]}"))
            continue
        seconds, video = _timed(backend, _params(), repeats)
        if reference is None:
            reference, uncached_s, all_blocks = video.frames, seconds, video.block_evaluations
        difference = int(np.abs(video.frames.astype(int) - reference.astype(int)).max())
        rows.append(Row(
            "g", f"cache {name}", median=f"{seconds:.2f} s", other=f"blocks run {100 * video.block_evaluations / all_blocks:.0f}%; "
            f"max pixel diff {difference}", ratio=f"{uncached_s / seconds:.2f}x faster" if name != "none" else "",
        ))  # fmt: skip
    rows[0].other += f"; {STEPS} steps, CFG, {SIZE}x{SIZE}x{FRAMES}, {uncached_s / STEPS * 1000:.0f} ms/step"
    return rows


def adapter_switching(workdir: Path, repeats: int = 5) -> list[Row]:
    from framecast.components.tiny_model import build_tiny_lora

    path = scaled_tiny_model(workdir / "scaled-t2v")
    adapters = {name: build_tiny_lora(path, workdir / f"lora-{name}", seed=seed) for name, seed in (("a", 1), ("b", 2))}
    backend = _backend(path)
    params = _params(num_inference_steps=4)
    base_s, _ = _timed(backend, params, repeats)
    loads = []
    for name, source in adapters.items():
        started = time.perf_counter()
        backend.load_adapter(name, str(source))
        loads.append(time.perf_counter() - started)
    same_s, _ = _timed(backend, dataclasses.replace(params, adapters=(("a", 1.0),)), repeats)
    switching = []
    for index in range(2 * repeats):
        name = "ab"[index % 2]
        started = time.perf_counter()
        backend.generate(dataclasses.replace(params, adapters=((name, 1.0),)), lambda *_: None)
        switching.append(time.perf_counter() - started)
    switch_s = statistics.median(switching)
    return [
        Row("h", "load an adapter (rank 4, attention layers)", median=f"{1000 * statistics.median(loads):.0f} ms"),
        Row("h", "no adapter, 4 steps", median=f"{base_s:.3f} s"),
        Row("h", "same adapter every video", median=f"{same_s:.3f} s", ratio=f"{same_s / base_s:.2f}x no adapter"),
        Row("h", "switch a <-> b every video", median=f"{switch_s:.3f} s",
            other=f"switch cost {1000 * (switch_s - same_s):+.0f} ms a video", ratio=f"{switch_s / same_s:.2f}x same adapter"),
    ]  # fmt: skip


def affinity(workdir: Path, jobs: int = 60, service_s: float = 0.1, load_s: float = 0.3) -> list[Row]:
    """3 adapters over 2 workers that each hold 2: a random mix of adapter jobs, queued at once,
    with adapter-aware routing and with plain round-robin."""
    rows = []
    draw = random.Random(7)
    sequence = [draw.choice("abc") for _ in range(jobs)]
    results = {}
    for mode in ("on", "off"):
        stack = Stack(workdir / f"affinity-{mode}", f"bench-affinity-{mode}")
        try:
            ports = [free_status_port(), free_status_port()]
            flags = [flag for name in "abc" for flag in ("--lora", f"{name}=bench/adapters/{name}.safetensors")]
            for index, port in enumerate(ports):
                stack.worker(
                    f"worker-{index}", "--synthetic-busy-s", str(service_s), "--synthetic-stored-clip",
                    "--synthetic-adapter-load-s", str(load_s), "--lora-max-loaded", "2", *flags, system_port=port,
                )  # fmt: skip
            _, base_url = stack.frontend("frontend", "--queue-per-worker", str(jobs), *(["--no-lora-affinity"] if mode == "off" else []))
            stack.wait_for_workers(base_url, 2)
            body = {"model": SYNTHETIC, "prompt": "affinity", "size": "64x64", "num_frames": 9, "num_inference_steps": 4}
            started = time.monotonic()
            with httpx.Client(timeout=60) as client:
                ids = [client.post(f"{base_url}/v1/videos", json=body | {"lora": [{"name": name}], "seed": i}).json()["id"]
                       for i, name in enumerate(sequence)]  # fmt: skip
            completed = sum(video["status"] == "completed" for video in wait_jobs(base_url, ids))
            wall = time.monotonic() - started
            frontend = scrape_metrics(f"{base_url}/metrics")
            warm = metric_sum(frontend, "framecast_lora_dispatches_total", adapters="warm")
            cold = metric_sum(frontend, "framecast_lora_dispatches_total", adapters="cold")
            loads = sum(metric_sum(scrape_metrics(f"http://127.0.0.1:{port}/metrics"), "framecast_worker_lora_loads_total") for port in ports)
            results[mode] = (warm / (warm + cold), loads, wall, completed)
        finally:
            stack.stop()
    for mode, label in (("on", "adapter-aware routing"), ("off", "round-robin")):
        hit, loads, wall, completed = results[mode]
        rows.append(Row(
            "i", f"{label}: {jobs} jobs, 3 adapters, 2 workers holding 2", median=f"{100 * hit:.0f}% hits",
            other=f"{loads:.0f} loads of {load_s:g} s; {completed}/{jobs} done in {wall:.1f} s",
            ratio=f"{results['off'][1] / max(loads, 1):.1f}x fewer loads" if mode == "on" else "",
        ))  # fmt: skip
    return rows
