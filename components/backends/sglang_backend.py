"""sglang backend: SGLang's DiffGenerator, the production path on GPUs (tensor, sequence and
CFG parallelism, offload). sglang is imported only here, when this backend is chosen.

DiffGenerator runs the model in scheduler processes of its own and answers one blocking call
per video; it reports no per-step progress to the caller and cannot be interrupted, so this
backend reports stage boundaries only.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import time

import numpy as np

from framecast.components.backends import (
    BackendOptions,
    GeneratedVideo,
    GenerationFailed,
    ProgressCallback,
)
from framecast.components.registry import GenerationParams, Limits, StepCache
from framecast.protocol import Stage

log = logging.getLogger(__name__)

# The --cache modes sglang's Cache-DiT integration can stand for.
SGLANG_CACHE_MODES = ("first-block", "taylorseer")

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def generator_kwargs(options: BackendOptions, has_cuda: bool) -> dict:
    """DiffGenerator.from_pretrained arguments for these options."""
    sglang = options.sglang
    pipeline = sglang.sglang_pipeline or "auto"
    if pipeline not in ("auto", "sglang", "diffusers"):
        raise ValueError(f"--sglang-pipeline {pipeline!r}: choose auto, sglang or diffusers")
    if pipeline == "auto" and not has_cuda:
        # sglang's native pipelines need CUDA kernels; on CPU it runs the diffusers pipeline.
        pipeline = "diffusers"
    degrees = [sglang.tp or 1, sglang.sp or 1]
    kwargs = {
        "model_path": options.model_path,
        "backend": pipeline,
        "num_gpus": sglang.num_gpus or max(degrees),
        # Several workers may share a machine: never the fixed default ports.
        "port": _free_port(),
        "scheduler_port": _free_port(),
        "master_port": _free_port(),
        "output_path": None,
    }
    optional = {
        "tp_size": sglang.tp,
        "sp_degree": sglang.sp,
        "ulysses_degree": sglang.ulysses_degree,
        "ring_degree": sglang.ring_degree,
        "enable_cfg_parallel": sglang.cfg_parallel,
        "dit_cpu_offload": sglang.dit_cpu_offload,
        "text_encoder_cpu_offload": sglang.text_encoder_cpu_offload,
        "vae_cpu_offload": sglang.vae_cpu_offload,
        "dit_layerwise_offload": sglang.dit_layerwise_offload,
        "attention_backend": sglang.attention_backend,
        "enable_torch_compile": options.model.compile,
    }
    kwargs.update({key: value for key, value in optional.items() if value is not None})
    return kwargs


def cache_dit_params(setting: StepCache) -> dict:
    """sglang's Cache-DiT request knobs for a step-cache setting: first-block is DBCache with
    one front block and no back blocks; taylorseer is the same with TaylorSeer's prediction and
    at most interval-1 steps cached in a row. sglang has no MagCache or FasterCache."""
    if setting.mode not in SGLANG_CACHE_MODES:
        raise ValueError(
            f"--cache {setting.mode}: sglang's runtime has no such cache; with --backend sglang choose "
            f"{' or '.join(SGLANG_CACHE_MODES)}, or run --backend diffusers"
        )
    params = {"Fn_compute_blocks": 1, "Bn_compute_blocks": 0, "residual_diff_threshold": setting.threshold or 0.05}
    if setting.warmup_steps is not None:
        params["max_warmup_steps"] = setting.warmup_steps
    if setting.mode == "taylorseer":
        params |= {"enable_taylorseer": True, "taylorseer_order": 1, "max_continuous_cached_steps": max(1, (setting.interval or 2) - 1)}
    return params


class SglangBackend:
    name = "sglang"

    def __init__(self, options: BackendOptions):
        options.refuse_others(self.name)
        if options.model.dtype not in ("auto", options.spec.dtype):
            raise ValueError(f"--dtype {options.model.dtype}: the sglang backend runs each model in its own precision")
        from sglang.multimodal_gen import DiffGenerator

        self.options = options
        self.kwargs = generator_kwargs(options, _has_cuda())
        setting = options.step_cache
        self.cache = cache_dit_params(setting) if setting is not None else None
        if self.kwargs["backend"] == "diffusers" and self.cache is not None:
            # DiffGenerator's diffusers pipeline takes only a server-wide cache, never per request.
            raise ValueError("--cache: sglang's diffusers pipeline (used without CUDA) has no per-request cache; run --backend diffusers")
        # DiffGenerator takes a video in only for the models built on one (animation, world models).
        self.takes_video = False
        # DiffGenerator's diffusers pipeline answers "Lora is not enabled" (sglang 0.5.23).
        self.takes_adapters = self.kwargs["backend"] != "diffusers"
        self._adapter_paths: dict[str, str] = {}
        self._applied: tuple[tuple[str, float], ...] = ()
        started = time.perf_counter()
        self.generator = DiffGenerator.from_pretrained(**self.kwargs)
        self.startup_s = time.perf_counter() - started
        log.info("DiffGenerator ready in %.1fs (%s pipeline)", self.startup_s, self.kwargs["backend"])

    def limits(self, declared: Limits) -> Limits:
        # sglang checks sizes and frames against its own pipeline config when it generates.
        return declared

    def describe(self) -> dict:
        keys = ("backend", "num_gpus", "tp_size", "sp_degree", "ulysses_degree", "ring_degree", "enable_cfg_parallel")
        offload = ("dit_cpu_offload", "text_encoder_cpu_offload", "vae_cpu_offload", "dit_layerwise_offload")
        return {
            "pipeline": self.kwargs["backend"],
            "parallel": {key: self.kwargs[key] for key in keys[1:] if key in self.kwargs},
            "offload": {key: self.kwargs[key] for key in offload if key in self.kwargs},
            "attention_backend": self.kwargs.get("attention_backend", "auto"),
            "flow_shift": self.options.flow_shift_or_default,
            "startup_s": round(self.startup_s, 1),
            "step_cache": {"cache_dit": self.cache} if self.cache else None,
        }

    # -- adapters -----------------------------------------------------------------------------

    def load_adapter(self, name: str, source: str) -> None:
        if not self.takes_adapters:
            raise GenerationFailed("LoRA: sglang's diffusers pipeline (used without CUDA) takes no adapters; run --backend diffusers")
        # set_lora loads and activates; the next request's _apply_adapters sets what it needs.
        self.generator.set_lora(name, source)
        self._adapter_paths[name] = source
        self._applied = ((name, 1.0),)

    def unload_adapter(self, name: str) -> None:
        # sglang 0.5.23 keeps adapters cached by name and has no call that frees one.
        self._adapter_paths.pop(name, None)

    def _apply_adapters(self, adapters: tuple[tuple[str, float], ...]) -> None:
        """Exactly these adapters, merged at these scales; none: the weights restored (exact,
        from sglang's CPU copy)."""
        if adapters == self._applied:
            return
        if self._applied:
            self.generator.unmerge_lora_weights()
        if adapters:
            names = [name for name, _ in adapters]
            self.generator.set_lora(names, [self._adapter_paths.get(name) for name in names], strength=[scale for _, scale in adapters], merge_mode="merge")
        self._applied = adapters

    def generate(self, params: GenerationParams, on_progress: ProgressCallback) -> GeneratedVideo:
        sampling = {
            "prompt": params.prompt,
            "negative_prompt": params.negative_prompt,
            "height": params.height,
            "width": params.width,
            "num_frames": params.num_frames,
            "fps": params.fps,
            "num_inference_steps": params.num_inference_steps,
            "guidance_scale": params.guidance_scale,
            "seed": params.seed,
            "save_output": False,
            "return_frames": True,
        }
        flow_shift = self.options.flow_shift_or_default
        if flow_shift is not None:
            sampling["flow_shift"] = flow_shift
        if self.cache is not None:
            sampling["enable_cache_dit"] = params.step_cache
            if params.step_cache:
                sampling["cache_dit_params"] = self.cache
        self._apply_adapters(params.adapters)
        if params.guidance_scale_2 is not None:
            sampling["guidance_scale_2"] = params.guidance_scale_2
        on_progress(Stage.GENERATING, None, None)
        outputs, seconds = [], 0.0
        with tempfile.TemporaryDirectory(prefix="framecast-input-") as folder:
            if params.image is not None:
                # DiffGenerator reads its image from a path; the worker fitted it to the size already.
                sampling["image_path"] = os.path.join(folder, "input.png")
                params.image.save(sampling["image_path"], format="PNG")
            # n images of a text-to-image request: one call each, seeds seed, seed+1, ...
            for index in range(params.count):
                frames, elapsed = self._generate_one(sampling | {"seed": params.seed + index})
                outputs.append(frames)
                seconds += elapsed or 0.0
        on_progress(Stage.DECODING, None, None)
        return GeneratedVideo(np.concatenate(outputs), seconds or None)

    def _generate_one(self, sampling: dict) -> tuple[np.ndarray, float | None]:
        result = self.generator.generate(sampling_params_kwargs=sampling)
        # DiffGenerator logs and swallows its exceptions, answering None.
        if isinstance(result, list):
            result = result[0] if result else None
        if result is None or result.frames is None or len(result.frames) == 0:
            raise GenerationFailed("sglang produced no output; the worker log has its error")
        frames = np.stack([np.asarray(frame) for frame in result.frames])
        if frames.ndim == 3:  # one image
            frames = frames[None]
        if frames.dtype != np.uint8:
            scale = 255.0 if frames.max() <= 1.0 else 1.0
            frames = (frames.astype(np.float32) * scale).round().clip(0, 255).astype(np.uint8)
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise GenerationFailed(f"sglang returned frames shaped {frames.shape}, not (frames, height, width, 3)")
        total_ms = (result.metrics or {}).get("total_duration_ms")
        return frames, total_ms / 1000.0 if total_ms else None

    def close(self) -> None:
        self.generator.shutdown()


def create_backend(options: BackendOptions) -> SglangBackend:
    return SglangBackend(options)
