"""Wan2.1 at full size with random weights (no download), through framecast's own diffusers
backend: seconds per denoising step, DiT FLOPs and model-FLOP utilisation, VAE decode time,
peak GPU memory; with --through-stack also the same video through a worker and the frontend
(real processes, file discovery) against the backend alone.

    python benchmarks/gpu_wan.py --through-stack       # on a GPU: T2V 1.3B, 832x480, 81 frames, bf16, 4 steps
    python benchmarks/gpu_wan.py --task i2v --through-stack   # I2V 14B 480P, the same video from an image
    python benchmarks/gpu_wan.py --scale tiny --device cpu --size 64x64 --frames 9   # smoke run
    python benchmarks/gpu_wan.py --steps 20 --cache first-block --cache-threshold 0.1   # step cache vs none
    python benchmarks/gpu_wan.py --lora random     # a random rank-32 adapter: its step cost and switch cost

--cache runs the same video twice on one loaded model, cached and with the cache off for that
request (nvext.cache false), and reports the speed-up, the share of transformer blocks run and
the largest pixel difference. --lora loads an adapter (a path, or "random": rank --lora-rank
on every attention projection, built offline) and times steps with it applied against none,
and a switch between two adapters.

T2V is the published Wan2.1 1.3B architecture (DiT dim 1536, 30 layers, 12 heads, FFN 8960);
I2V the published Wan2.1 I2V 14B one (dim 5120, 40 layers, 40 heads, FFN 13824, 36 input
channels, image cross-attention fed by a CLIP ViT-H/14 image encoder); both with the umT5-XXL
text encoder and the Wan VAE, random weights, written once in diffusers format and then loaded
by the backend exactly as a downloaded checkpoint would be.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import io
import json
import math
import platform
import sys
import time
from pathlib import Path

# Dense bf16 peak of known GPUs, TFLOP/s (vendor data sheets, SXM parts).
DENSE_BF16_PEAK_TFLOPS = {"H100": 989.4, "H200": 989.4, "A100": 312.0, "L40S": 362.1, "L4": 121.0}

WAN_1_3B_DIT = dict(
    patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16, out_channels=16,
    text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=30, cross_attn_norm=True,
    qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024,
)  # fmt: skip
WAN_14B_I2V_DIT = dict(
    patch_size=(1, 2, 2), num_attention_heads=40, attention_head_dim=128, in_channels=36, out_channels=16,
    text_dim=4096, freq_dim=256, ffn_dim=13824, num_layers=40, cross_attn_norm=True,
    qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024, image_dim=1280, added_kv_proj_dim=5120,
)  # fmt: skip
# open-clip ViT-H/14 as Wan2.1 I2V ships it (penultimate hidden states: 257 tokens of 1280).
CLIP_VIT_H = dict(
    hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=16, image_size=224,
    patch_size=14, projection_dim=1024, hidden_act="gelu",
)  # fmt: skip
IMAGE_TOKENS = 257
UMT5_XXL = dict(
    vocab_size=256384, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
    relative_attention_num_buckets=32, feed_forward_proj="gated-gelu", pad_token_id=0, eos_token_id=1,
)  # fmt: skip


def dit_flops_per_forward(width: int, height: int, frames: int, dit: dict, text_tokens: int = 512) -> dict:
    """Model FLOPs of one DiT forward (multiply-add = 2 FLOPs), split into linear and attention."""
    d = dit["num_attention_heads"] * dit["attention_head_dim"]
    latent_frames = (frames - 1) // 4 + 1
    tokens = latent_frames * (height // 16) * (width // 16)
    # I2V: the image's CLIP tokens get key/value projections and a cross-attention of their own.
    image_tokens = IMAGE_TOKENS if dit.get("image_dim") else 0
    per_block_linear = (
        2 * tokens * (4 * d * d)  # self-attention q, k, v, o
        + 2 * tokens * (2 * d * d)  # cross-attention q, o
        + 2 * (text_tokens + image_tokens) * (2 * d * d)  # cross-attention k, v over the text (and image)
        + 2 * tokens * (2 * d * dit["ffn_dim"])  # feed-forward
    )
    per_block_attention = 4 * tokens * tokens * d + 4 * tokens * (text_tokens + image_tokens) * d
    layers = dit["num_layers"]
    return {
        "tokens": tokens,
        "linear": per_block_linear * layers,
        "attention": per_block_attention * layers,
        "total": (per_block_linear + per_block_attention) * layers,
    }


def build_full_size_model(path: Path, device: str, task: str = "t2v") -> None:
    """Write the Wan2.1 1.3B T2V (or 14B I2V) architecture with random weights in diffusers format."""
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanImageToVideoPipeline, WanPipeline, WanTransformer3DModel
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel, UMT5Config, UMT5EncoderModel

    from framecast.components.tiny_model import build_tiny_pipeline

    tokenizer = build_tiny_pipeline().tokenizer  # word-level; token ids stay below the UMT5 vocabulary
    # Initialise on the GPU: random init of billions of parameters on CPU takes many minutes.
    with torch.device(device):
        text_encoder = UMT5EncoderModel(UMT5Config(**UMT5_XXL)).to(torch.bfloat16)
        transformer = WanTransformer3DModel(**(WAN_14B_I2V_DIT if task == "i2v" else WAN_1_3B_DIT)).to(torch.bfloat16)
        vae = AutoencoderKLWan()  # the published Wan VAE configuration is the class default
        image_encoder = CLIPVisionModel(CLIPVisionConfig(**CLIP_VIT_H)).to(torch.bfloat16) if task == "i2v" else None
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    parts = dict(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, scheduler=scheduler, transformer=transformer)
    if task == "i2v":
        pipeline = WanImageToVideoPipeline(**parts, image_encoder=image_encoder, image_processor=CLIPImageProcessor())
    else:
        pipeline = WanPipeline(**parts)
    pipeline.save_pretrained(path)
    del pipeline, text_encoder, transformer, vae, image_encoder
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def through_stack(args, model_dir: Path, params, frames, backend_s: float) -> dict:
    """The same request through a worker and the frontend, against the backend alone plus the
    MP4 encoding the worker adds (measured here on the same frames)."""
    import tempfile

    import httpx

    from framecast.components.encoding import encode_mp4

    from framecast.testing.stack import Discovery, stack_env, start_frontend, start_worker, wait_for_workers

    started = time.perf_counter()
    encode_mp4(frames, params.fps)
    encode_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as workdir:
        work = Path(workdir)
        discovery = Discovery("file", stack_env("file", None, work / "kv"))
        worker = start_worker(
            discovery, model_dir, "gpu-wan", (work / "out").as_uri(), work, "worker", "--device", args.device, "--dtype", args.dtype
        )  # fmt: skip
        frontend, base_url = start_frontend(discovery, "gpu-wan", work, "frontend")
        try:
            wait_for_workers(base_url, model_dir.resolve().name, 1, timeout=1800, processes=[worker, frontend])
            body = {
                "model": model_dir.resolve().name, "prompt": params.prompt, "size": f"{params.width}x{params.height}",
                "num_frames": params.num_frames, "fps": params.fps, "guidance_scale": params.guidance_scale, "seed": 0,
            }  # fmt: skip
            if params.image is not None:
                body["input_reference"] = "data:image/png;base64," + base64.b64encode(png_bytes(params.image)).decode()
            for steps in (1, params.num_inference_steps):  # the first warms the worker up, as above
                started = time.perf_counter()
                response = httpx.post(f"{base_url}/v1/videos/generations", json=body | {"num_inference_steps": steps}, timeout=3600)
                stack_s = time.perf_counter() - started
                response.raise_for_status()
        finally:
            frontend.stop()
            worker.stop()
    alone = backend_s + encode_s
    return {
        "mp4_encode_s": round(encode_s, 3),
        "stack_end_to_end_s": round(stack_s, 3),
        "stack_overhead": round(stack_s / alone - 1, 4),
    }


def png_bytes(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_image(width: int, height: int):
    """A smooth picture (gradients), the kind of input image-to-video gets."""
    import numpy as np
    from PIL import Image

    x, y = np.meshgrid(np.linspace(0, 255, width), np.linspace(0, 255, height))
    return Image.fromarray(np.stack([x, y, 255 - x], axis=-1).astype(np.uint8))


def cache_comparison(backend, params, cached, cached_s: float, sync) -> dict:
    """The same video with the cache off for this one request, on the same loaded model."""
    import numpy as np

    started = time.perf_counter()
    exact = backend.generate(dataclasses.replace(params, step_cache=False), lambda *_: None)
    sync()
    exact_s = time.perf_counter() - started
    return {
        "cache": backend.cacher.description if backend.cacher else None,
        "uncached_total_s": round(exact_s, 3),
        "cache_speedup": round(exact_s / cached_s, 3),
        "cache_blocks_run": round(cached.block_evaluations / exact.block_evaluations, 3) if exact.block_evaluations else None,
        "cache_max_pixel_diff": int(np.abs(cached.frames.astype(int) - exact.frames.astype(int)).max()),
    }


def lora_costs(args, backend, model_dir: Path, params, sync) -> dict:
    """Adapter load time, time per video with it applied against none, and the cost of a
    switch between two adapters (same steps, same size)."""
    import statistics
    import tempfile

    from framecast.components.tiny_model import build_tiny_lora

    def timed(adapters) -> float:
        started = time.perf_counter()
        backend.generate(dataclasses.replace(params, adapters=adapters), lambda *_: None)
        sync()
        return time.perf_counter() - started

    with tempfile.TemporaryDirectory() as folder:
        sources = [args.lora, args.lora] if args.lora != "random" else [
            str(build_tiny_lora(model_dir, Path(folder) / f"lora-{seed}", seed=seed, rank=args.lora_rank)) for seed in (1, 2)
        ]  # fmt: skip
        loads = []
        for name, source in zip(("a", "b"), sources, strict=True):
            started = time.perf_counter()
            backend.load_adapter(name, source)
            sync()
            loads.append(time.perf_counter() - started)
    base_s = timed(())
    same = [timed((("a", 1.0),)) for _ in range(2)]
    switched = [timed(((name, 1.0),)) for name in "ba"]
    return {
        "lora_load_s": round(statistics.median(loads), 3),
        "lora_video_s": round(min(same), 3),
        "no_lora_video_s": round(base_s, 3),
        "lora_overhead": round(min(same) / base_s - 1, 4),
        "lora_switch_s": round(statistics.median(switched) - min(same), 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=["full", "tiny"], default="full")
    parser.add_argument("--task", choices=["t2v", "i2v"], default="t2v", help="i2v: Wan2.1 I2V 14B from an image")
    parser.add_argument("--model-dir", type=Path, help="where the random model is written (default: models/random-wan2.1-<model>)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--size", default="832x480")
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--guidance-scale", type=float, default=5.0, help="> 1 runs CFG: two DiT forwards per step")
    parser.add_argument("--peak-tflops", type=float, help="dense bf16 peak of the GPU (default: from its name)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--through-stack", action="store_true", help="also time the same request through a worker and the frontend"
    )
    parser.add_argument("--cache", default="none", help="step cache: none, first-block, mag, taylorseer or faster")
    parser.add_argument("--cache-threshold", type=float, help="first-block, mag: the worker's --cache-threshold")
    parser.add_argument("--cache-interval", type=int, help="taylorseer: the worker's --cache-interval")
    parser.add_argument("--lora", help='a LoRA adapter to time: a local path, or "random"')
    parser.add_argument("--lora-rank", type=int, default=32, help="rank of a random adapter")
    args = parser.parse_args(argv)

    import torch

    from framecast.components.backends.options import BackendOptions, ModelOptions
    from framecast.components.backends.diffusers_backend import DiffusersBackend
    from framecast.components.registry import GenerationParams, lookup
    from framecast.components.tiny_model import build_tiny_model

    width, height = (int(side) for side in args.size.split("x"))
    registry_ids = {
        ("full", "t2v"): "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", ("full", "i2v"): "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers",
        ("tiny", "t2v"): "framecast/tiny-random-wan2.1-t2v", ("tiny", "i2v"): "framecast/tiny-random-wan2.1-i2v",
    }  # fmt: skip
    spec = lookup(registry_ids[args.scale, args.task])
    model_dir = args.model_dir or Path("models") / ("random-wan2.1-1.3b" if args.task == "t2v" else "random-wan2.1-i2v-14b")
    started = time.perf_counter()
    if args.scale == "tiny":
        model_dir = build_tiny_model(model_dir.with_name(f"tiny-random-{args.task}"), kind=args.task)
        dit_config = json.loads((model_dir / "transformer" / "config.json").read_text())
    else:
        if not (model_dir / "model_index.json").exists():
            build_full_size_model(model_dir, args.device, args.task)
        dit_config = WAN_14B_I2V_DIT if args.task == "i2v" else WAN_1_3B_DIT
    build_s = time.perf_counter() - started

    started = time.perf_counter()
    model = ModelOptions(
        device=args.device, dtype=args.dtype, cache=args.cache, cache_threshold=args.cache_threshold,
        cache_interval=args.cache_interval,
    )  # fmt: skip
    backend = DiffusersBackend(BackendOptions(model_path=str(model_dir), spec=spec, model=model))
    load_s = time.perf_counter() - started

    step_times: list[float] = []
    marks: dict[str, float] = {}

    def on_progress(stage: str, step: int | None, total: int | None) -> None:
        now = time.perf_counter()
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
            now = time.perf_counter()
        if stage == "denoising" and step:
            step_times.append(now)
        marks.setdefault(stage, now)  # "denoising" first comes with step 0: its start

    params = GenerationParams(
        prompt="a corgi surfing a wave at sunset", negative_prompt="", width=width, height=height,
        num_frames=args.frames, fps=16, num_inference_steps=args.steps, guidance_scale=args.guidance_scale, seed=0,
        image=test_image(width, height) if args.task == "i2v" else None,
    )  # fmt: skip
    def sync() -> None:
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    # A one-step run first: kernels are compiled and tuned before the measured run.
    backend.generate(dataclasses.replace(params, num_inference_steps=1), lambda *_: None)
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    video = backend.generate(params, on_progress)
    total_s = time.perf_counter() - started

    # Step i's time runs from the end of step i-1 (or the start of denoising) to its callback.
    # The first step may carry more warm-up, so the median of the rest is the per-step figure.
    boundaries = [marks["denoising"], *step_times]
    durations = [later - earlier for earlier, later in zip(boundaries, boundaries[1:], strict=False)]
    steady = sorted(durations[1:] or durations)
    step_s = steady[len(steady) // 2]
    vae_decode_s = total_s - (step_times[-1] - started)
    forwards = 2 if args.guidance_scale > 1 else 1
    flops = dit_flops_per_forward(width, height, args.frames, dit_config)
    gpu_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or "cpu"
    peak = args.peak_tflops or next((tflops for key, tflops in DENSE_BF16_PEAK_TFLOPS.items() if key in gpu_name), None)
    achieved_tflops = forwards * flops["total"] / step_s / 1e12
    results = {
        "device": gpu_name,
        "scale": args.scale,
        "task": args.task,
        "size": f"{width}x{height}",
        "frames": args.frames,
        "dtype": str(backend.dtype).removeprefix("torch."),
        "steps": args.steps,
        "dit_forwards_per_step": forwards,
        "tokens": flops["tokens"],
        "dit_pflop_per_forward": round(flops["total"] / 1e15, 4),
        "dit_pflop_linear": round(flops["linear"] / 1e15, 4),
        "dit_pflop_attention": round(flops["attention"] / 1e15, 4),
        "seconds_per_step": round(step_s, 4),
        "first_step_s": round(durations[0], 4),
        "achieved_tflops": round(achieved_tflops, 1),
        "mfu": round(achieved_tflops / peak, 3) if peak else None,
        "peak_tflops": peak,
        "text_encode_s": round(marks["denoising"] - marks["text_encoding"], 3),
        "vae_decode_s": round(vae_decode_s, 3),
        "generate_total_s": round(total_s, 3),
        "peak_memory_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2) if args.device.startswith("cuda") else None,
        "build_s": round(build_s, 1),
        "load_s": round(load_s, 1),
        "frames_out": list(video.frames.shape),
    }
    if args.cache != "none":
        results |= cache_comparison(backend, params, video, total_s, sync)
    if args.lora:
        results |= lora_costs(args, backend, model_dir, params, sync)
    if args.through_stack:
        backend.close()
        del backend
        results |= through_stack(args, model_dir, params, video.frames, total_s)
    width_key = max(len(key) for key in results)
    for key, value in results.items():
        print(f"{key:{width_key}}  {value}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    assert math.isfinite(step_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
