"""The model registry: what each supported model is, accepts and needs.

Data, not code paths: one `ModelSpec` per model, holding its ids, task kinds, the backends
that can run it, request defaults, constraints, recommended dtype and memory footprint. The
functions below only read these records: resolving a request against a spec, finding the spec
of a model path, and judging how well this machine can run a model (its support level).

    python -m framecast.components.registry     # every model and its support level here
"""

from __future__ import annotations

import dataclasses
import json
import math
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from framecast.components.hardware import HardwareProfile
from framecast.protocol import GenerationKnobs, RequestFieldError

# A model folder may name the registry entry it follows in this file (the tiny model does).
SPEC_FILE = "framecast_model.json"

Task = Literal["t2v", "i2v", "t2i"]
SupportLevel = Literal["ready", "limited", "not supported"]
PARALLEL_DEGREES = (1, 2, 4, 8)
# Backends that split one model across GPUs (tensor / sequence parallel).
PARALLEL_BACKENDS = ("sglang",)
# Task kinds workers take requests for today (image inputs are not accepted yet).
SERVED_TASKS = ("t2v",)


@dataclass(frozen=True)
class GenerationParams:
    """Fully resolved inputs of one generation."""

    prompt: str
    negative_prompt: str
    width: int
    height: int
    num_frames: int
    fps: int
    num_inference_steps: int
    guidance_scale: float
    seed: int
    guidance_scale_2: float | None = None
    flow_shift: float | None = None


@dataclass(frozen=True)
class Defaults:
    """What a request gets for each knob it omits."""

    width: int
    height: int
    num_frames: int
    fps: int
    num_inference_steps: int
    guidance_scale: float
    flow_shift: float | None = None
    # Wan2.2 A14B: guidance of the low-noise expert.
    guidance_scale_2: float | None = None
    negative_prompt: str = ""


@dataclass(frozen=True)
class Limits:
    """What a request may ask for."""

    # Frame counts are frame_step*k + 1 (the VAE's temporal compression).
    frame_step: int
    min_frames: int
    max_frames: int
    # Width and height are multiples of this (VAE spatial compression x DiT patch size).
    size_multiple: int
    min_pixels: int
    max_pixels: int
    max_steps: int
    # The sizes the authors publish; with only_listed_sizes, nothing else is accepted.
    sizes: tuple[str, ...] = ()
    only_listed_sizes: bool = False


@dataclass(frozen=True)
class Footprint:
    """Parameter counts (billions) and activation memory, to estimate GPU memory."""

    dit_params_b: float
    text_encoder_params_b: float
    other_params_b: float  # VAE, image encoder
    # Peak activation and VAE-decode memory at the default size and frames, in GB.
    activation_gb: float
    bytes_per_param: int = 2  # bf16 / fp16

    def gpu_memory_gb(self, degree: int = 1, text_encoder_offloaded: bool = False) -> float:
        """Per-GPU memory with the DiT and its activations split `degree` ways."""
        weights = self.dit_params_b / degree + self.other_params_b
        if not text_encoder_offloaded:
            weights += self.text_encoder_params_b
        runtime_overhead_gb = 1.5
        return round(weights * self.bytes_per_param + self.activation_gb / degree + runtime_overhead_gb, 1)


@dataclass(frozen=True)
class Support:
    level: SupportLevel
    reason: str
    parallel_degree: int | None = None


@dataclass(frozen=True)
class ModelSpec:
    id: str
    family: str
    pipeline_class: str  # the diffusers pipeline in model_index.json
    tasks: tuple[Task, ...]
    backends: tuple[str, ...]  # in order of preference
    dtype: str
    defaults: Defaults
    limits: Limits
    footprint: Footprint | None  # None: small enough for any machine
    aliases: tuple[str, ...] = ()
    # Parallel degree launch scripts serve it with on a backend that can split it.
    serving_tp: int = 1
    # Where the defaults come from, for people checking them.
    source: str = ""
    # How this spec was found for a model path (registry id, alias, spec file, model_index.json).
    matched_by: str = "id"

    @property
    def names(self) -> tuple[str, ...]:
        """Every name it answers to: id, aliases, and the id's repository name (a local
        download's folder name)."""
        repository = self.id.rsplit("/", 1)[-1]
        return tuple(dict.fromkeys((self.id, *self.aliases, repository)))

    def gpu_memory_gb(self) -> dict[int, float] | None:
        if self.footprint is None:
            return None
        return {degree: self.footprint.gpu_memory_gb(degree) for degree in PARALLEL_DEGREES}

    def card(self) -> dict:
        """What frontends show of this spec (it travels in the worker's model card)."""
        d, lim = self.defaults, self.limits
        return {
            "spec_id": self.id,
            "family": self.family,
            "tasks": list(self.tasks),
            "dtype": self.dtype,
            "defaults": {
                "size": f"{d.width}x{d.height}",
                "num_frames": d.num_frames,
                "fps": d.fps,
                "num_inference_steps": d.num_inference_steps,
                "guidance_scale": d.guidance_scale,
                "guidance_scale_2": d.guidance_scale_2,
                "flow_shift": d.flow_shift,
                "negative_prompt": d.negative_prompt,
            },
            "limits": {
                "num_frames": f"{lim.frame_step}k+1, {lim.min_frames} to {lim.max_frames}",
                "size_multiple": lim.size_multiple,
                "min_pixels": lim.min_pixels,
                "max_pixels": lim.max_pixels,
                "max_steps": lim.max_steps,
                "sizes": list(lim.sizes),
                "only_listed_sizes": lim.only_listed_sizes,
            },
            # Keyed by parallel degree, as strings (the model card is JSON).
            "gpu_memory_gb": {str(degree): gb for degree, gb in (self.gpu_memory_gb() or {}).items()} or None,
        }

    # -- requests ---------------------------------------------------------------------------

    def _nearest_frames(self, frames: float) -> int:
        lim = self.limits
        valid = round((frames - 1) / lim.frame_step) * lim.frame_step + 1
        return min(max(valid, lim.min_frames), lim.max_frames)

    def _frames_for_duration(self, seconds: float, fps: int) -> int:
        """The smallest valid frame count lasting at least `seconds` at `fps`."""
        wanted = max(1, math.ceil(seconds * fps - 1e-9))
        return math.ceil((wanted - 1) / self.limits.frame_step) * self.limits.frame_step + 1

    def _check_frames(self, frames: int, name: str, param: str) -> None:
        lim = self.limits
        if (frames - 1) % lim.frame_step or not lim.min_frames <= frames <= lim.max_frames:
            raise RequestFieldError(
                param,
                f"num_frames must be {lim.frame_step}k+1 between {lim.min_frames} and {lim.max_frames} for {name}; "
                f"got {frames}, nearest: {self._nearest_frames(frames)}",
            )

    def _check_size(self, width: int, height: int, name: str) -> None:
        lim = self.limits
        size = f"{width}x{height}"
        if lim.only_listed_sizes and size not in lim.sizes:
            raise RequestFieldError("size", f"size must be one of {', '.join(lim.sizes)} for {name}; got {size}")
        if width % lim.size_multiple or height % lim.size_multiple:

            def nearest(side: int) -> int:
                return max(lim.size_multiple, round(side / lim.size_multiple) * lim.size_multiple)

            raise RequestFieldError(
                "size",
                f"size: width and height must be multiples of {lim.size_multiple} for {name}; "
                f"got {size}, nearest: {nearest(width)}x{nearest(height)}",
            )
        if not lim.min_pixels <= width * height <= lim.max_pixels:
            listed = f"; published sizes: {', '.join(lim.sizes)}" if lim.sizes else ""
            raise RequestFieldError(
                "size",
                f"size: width x height must be between {lim.min_pixels} and {lim.max_pixels} pixels for {name}; "
                f"got {size} ({width * height}){listed}",
            )

    def resolve(self, knobs: GenerationKnobs, name: str) -> GenerationParams:
        """Fill omitted knobs from the defaults and refuse what the model cannot do."""
        d, lim = self.defaults, self.limits
        fps = knobs.fps or d.fps
        if knobs.num_frames is not None:
            num_frames = knobs.num_frames
            self._check_frames(num_frames, name, "num_frames")
        elif knobs.seconds is not None:
            num_frames = self._frames_for_duration(knobs.seconds, fps)
            if num_frames > lim.max_frames:
                raise RequestFieldError(
                    "seconds",
                    f"seconds: {knobs.seconds:g} s at {fps} fps is {num_frames} frames; {name} makes at most "
                    f"{lim.max_frames} ({(lim.max_frames - 1) / fps:g} s at {fps} fps)",
                )
        else:
            num_frames = d.num_frames
        width, height = knobs.width or d.width, knobs.height or d.height
        self._check_size(width, height, name)
        if knobs.guidance_scale_2 is not None and d.guidance_scale_2 is None:
            raise RequestFieldError(
                "guidance_scale_2",
                f"guidance_scale_2 is for models with a second (low-noise) expert, such as Wan2.2 A14B; "
                f"{name} has one, so set guidance_scale only",
                code="unsupported_value",
            )
        steps = knobs.num_inference_steps or d.num_inference_steps
        if steps > lim.max_steps:
            raise RequestFieldError(
                "num_inference_steps", f"num_inference_steps must be at most {lim.max_steps} for {name}; got {steps}"
            )
        return GenerationParams(
            prompt=knobs.prompt,
            negative_prompt=knobs.negative_prompt if knobs.negative_prompt is not None else d.negative_prompt,
            width=width,
            height=height,
            num_frames=num_frames,
            fps=fps,
            num_inference_steps=steps,
            guidance_scale=knobs.guidance_scale if knobs.guidance_scale is not None else d.guidance_scale,
            guidance_scale_2=knobs.guidance_scale_2 if knobs.guidance_scale_2 is not None else d.guidance_scale_2,
            flow_shift=d.flow_shift,
            # A drawn seed is reported back, so any video can be reproduced.
            seed=knobs.seed if knobs.seed is not None else secrets.randbelow(2**31),
        )

    # -- this machine -----------------------------------------------------------------------

    def support(self, hardware: HardwareProfile, backend: str | None = None) -> Support:
        """How well this machine can run the model: ready, limited (and why), or not supported."""
        if not set(self.tasks) & set(SERVED_TASKS):
            return Support("not supported", f"{'/'.join(self.tasks)} needs image input, which workers do not take yet")
        candidates = [name for name in self.backends if hardware.backends.get(name)]
        if backend is not None:
            if backend not in self.backends:
                return Support("not supported", f"the {backend} backend cannot run {self.family} models")
            if backend not in candidates:
                return Support("not supported", f"the {backend} backend is not installed")
            candidates = [backend]
        if not candidates:
            return Support("not supported", f"install one of: {', '.join(self.backends)}")
        if self.footprint is None:
            return Support("ready", "small enough for any machine", 1)
        if not hardware.gpus:
            needed = self.footprint.gpu_memory_gb(1)
            if hardware.memory_gb >= 2 * needed:
                return Support("limited", f"no GPU: runs on CPU, far too slowly to serve (needs ~{needed:g} GB RAM)", 1)
            return Support("not supported", f"no GPU, and {hardware.memory_gb:g} GB RAM < ~{2 * needed:g} GB for CPU use")
        per_gpu = hardware.gpu_memory_gb
        max_degree = len(hardware.gpus) if any(name in PARALLEL_BACKENDS for name in candidates) else 1
        for degree in PARALLEL_DEGREES:
            if degree <= max_degree and self.footprint.gpu_memory_gb(degree) <= per_gpu:
                return Support("ready", f"fits {degree} GPU(s) of {per_gpu:g} GB", degree)
        for degree in PARALLEL_DEGREES:
            if degree <= max_degree and self.footprint.gpu_memory_gb(degree, text_encoder_offloaded=True) <= per_gpu:
                return Support("limited", f"fits {degree} GPU(s) of {per_gpu:g} GB only with the text encoder offloaded to CPU", degree)
        smallest = self.footprint.gpu_memory_gb(max_degree, text_encoder_offloaded=True)
        return Support(
            "not supported",
            f"needs ~{smallest:g} GB per GPU at parallel degree {max_degree}; the GPUs here have {per_gpu:g} GB "
            "(layerwise offload may still fit)",
        )


# -- the entries ----------------------------------------------------------------------------

# The negative prompt Wan's authors ship as sample_neg_prompt (Wan2.1 and Wan2.2 configs).
WAN_NEGATIVE_PROMPT = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，"
    "JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，"
    "手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走"
)

_WAN21_SIZES_480 = ("832x480", "480x832")
_WAN21_SIZES_ALL = ("1280x720", "720x1280", "832x480", "480x832")


def _wan_limits(sizes: tuple[str, ...], max_frames: int = 81, size_multiple: int = 16) -> Limits:
    return Limits(
        frame_step=4, min_frames=5, max_frames=max_frames, size_multiple=size_multiple,
        min_pixels=256 * 256, max_pixels=1280 * 720, max_steps=200, sizes=sizes,
    )  # fmt: skip


REGISTRY: tuple[ModelSpec, ...] = (
    ModelSpec(
        id="Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
        aliases=("Wan2.1-T2V-1.3B",),
        family="wan2.1",
        pipeline_class="WanPipeline",
        tasks=("t2v",),
        backends=("sglang", "diffusers"),
        dtype="bfloat16",
        defaults=Defaults(832, 480, 81, 16, 50, 5.0, flow_shift=3.0, negative_prompt=WAN_NEGATIVE_PROMPT),
        limits=_wan_limits(_WAN21_SIZES_480),
        footprint=Footprint(dit_params_b=1.3, text_encoder_params_b=5.7, other_params_b=0.13, activation_gb=6.0),
        source="Wan-Video/Wan2.1 wan/configs/wan_t2v_1_3B.py, generate.py",
    ),
    ModelSpec(
        id="Wan-AI/Wan2.1-T2V-14B-Diffusers",
        aliases=("Wan2.1-T2V-14B",),
        family="wan2.1",
        pipeline_class="WanPipeline",
        tasks=("t2v",),
        backends=("sglang", "diffusers"),
        dtype="bfloat16",
        defaults=Defaults(1280, 720, 81, 16, 50, 5.0, flow_shift=5.0, negative_prompt=WAN_NEGATIVE_PROMPT),
        limits=_wan_limits(_WAN21_SIZES_ALL),
        footprint=Footprint(dit_params_b=14.0, text_encoder_params_b=5.7, other_params_b=0.13, activation_gb=14.0),
        serving_tp=2,
        source="Wan-Video/Wan2.1 wan/configs/wan_t2v_14B.py, generate.py",
    ),
    ModelSpec(
        id="Wan-AI/Wan2.1-I2V-14B-480P-Diffusers",
        aliases=("Wan2.1-I2V-14B-480P",),
        family="wan2.1",
        pipeline_class="WanImageToVideoPipeline",
        tasks=("i2v",),
        backends=("sglang", "diffusers"),
        dtype="bfloat16",
        defaults=Defaults(832, 480, 81, 16, 40, 5.0, flow_shift=3.0, negative_prompt=WAN_NEGATIVE_PROMPT),
        limits=_wan_limits(_WAN21_SIZES_480),
        footprint=Footprint(dit_params_b=14.0, text_encoder_params_b=5.7, other_params_b=0.76, activation_gb=8.0),
        serving_tp=2,
        source="Wan-Video/Wan2.1 wan/configs/wan_i2v_14B.py, generate.py",
    ),
    ModelSpec(
        id="Wan-AI/Wan2.1-I2V-14B-720P-Diffusers",
        aliases=("Wan2.1-I2V-14B-720P",),
        family="wan2.1",
        pipeline_class="WanImageToVideoPipeline",
        tasks=("i2v",),
        backends=("sglang", "diffusers"),
        dtype="bfloat16",
        defaults=Defaults(1280, 720, 81, 16, 40, 5.0, flow_shift=5.0, negative_prompt=WAN_NEGATIVE_PROMPT),
        limits=_wan_limits(_WAN21_SIZES_ALL),
        footprint=Footprint(dit_params_b=14.0, text_encoder_params_b=5.7, other_params_b=0.76, activation_gb=14.0),
        serving_tp=2,
        source="Wan-Video/Wan2.1 wan/configs/wan_i2v_14B.py, generate.py",
    ),
    ModelSpec(
        id="Wan-AI/Wan2.2-TI2V-5B-Diffusers",
        aliases=("Wan2.2-TI2V-5B",),
        family="wan2.2",
        pipeline_class="WanPipeline",
        tasks=("t2v", "i2v"),
        backends=("sglang", "diffusers"),
        dtype="bfloat16",
        defaults=Defaults(1280, 704, 121, 24, 50, 5.0, flow_shift=5.0, negative_prompt=WAN_NEGATIVE_PROMPT),
        limits=dataclasses.replace(
            _wan_limits(("1280x704", "704x1280"), max_frames=121, size_multiple=32),
            max_pixels=1280 * 704,
        ),
        footprint=Footprint(dit_params_b=5.0, text_encoder_params_b=5.7, other_params_b=0.7, activation_gb=12.0),
        source="Wan-Video/Wan2.2 wan/configs/wan_ti2v_5B.py and README (720P is 1280*704 or 704*1280)",
    ),
    ModelSpec(
        id="Wan-AI/Wan2.2-T2V-A14B-Diffusers",
        aliases=("Wan2.2-T2V-A14B",),
        family="wan2.2",
        pipeline_class="WanPipeline",
        tasks=("t2v",),
        backends=("sglang", "diffusers"),
        dtype="bfloat16",
        defaults=Defaults(
            1280, 720, 81, 16, 40, 4.0, flow_shift=12.0, guidance_scale_2=3.0, negative_prompt=WAN_NEGATIVE_PROMPT
        ),
        limits=_wan_limits(_WAN21_SIZES_ALL),
        # Two 14B experts (high and low noise), both resident.
        footprint=Footprint(dit_params_b=28.0, text_encoder_params_b=5.7, other_params_b=0.13, activation_gb=14.0),
        serving_tp=2,
        source="Wan-Video/Wan2.2 wan/configs/wan_t2v_A14B.py",
    ),
    ModelSpec(
        id="Wan-AI/Wan2.2-I2V-A14B-Diffusers",
        aliases=("Wan2.2-I2V-A14B",),
        family="wan2.2",
        pipeline_class="WanImageToVideoPipeline",
        tasks=("i2v",),
        backends=("sglang", "diffusers"),
        dtype="bfloat16",
        defaults=Defaults(
            1280, 720, 81, 16, 40, 3.5, flow_shift=5.0, guidance_scale_2=3.5, negative_prompt=WAN_NEGATIVE_PROMPT
        ),
        limits=_wan_limits(_WAN21_SIZES_ALL),
        footprint=Footprint(dit_params_b=28.0, text_encoder_params_b=5.7, other_params_b=0.13, activation_gb=14.0),
        serving_tp=2,
        source="Wan-Video/Wan2.2 wan/configs/wan_i2v_A14B.py",
    ),
    ModelSpec(
        id="hunyuanvideo-community/HunyuanVideo",
        aliases=("HunyuanVideo", "tencent/HunyuanVideo"),
        family="hunyuanvideo",
        pipeline_class="HunyuanVideoPipeline",
        tasks=("t2v",),
        backends=("sglang", "diffusers"),
        dtype="bfloat16",
        defaults=Defaults(1280, 720, 129, 24, 50, 6.0, flow_shift=7.0),
        limits=Limits(
            frame_step=4, min_frames=5, max_frames=129, size_multiple=16, min_pixels=256 * 256,
            max_pixels=1280 * 720, max_steps=200,
            sizes=("1280x720", "720x1280", "1104x832", "832x1104", "960x960",
                   "960x544", "544x960", "832x624", "624x832", "720x720"),
        ),  # fmt: skip
        footprint=Footprint(dit_params_b=13.0, text_encoder_params_b=8.2, other_params_b=0.25, activation_gb=20.0),
        # guidance_scale is the embedded (distilled) guidance; true CFG stays off.
        serving_tp=2,
        source="Tencent/HunyuanVideo README, hyvideo/config.py, sample_video.py; diffusers HunyuanVideoPipeline",
    ),
    ModelSpec(
        id="THUDM/CogVideoX-2b",
        aliases=("zai-org/CogVideoX-2b", "CogVideoX-2b"),
        family="cogvideox",
        pipeline_class="CogVideoXPipeline",
        tasks=("t2v",),
        backends=("diffusers",),
        dtype="float16",
        defaults=Defaults(720, 480, 49, 8, 50, 6.0),
        limits=Limits(
            frame_step=8, min_frames=9, max_frames=49, size_multiple=16, min_pixels=720 * 480,
            max_pixels=720 * 480, max_steps=200, sizes=("720x480",), only_listed_sizes=True,
        ),  # fmt: skip
        footprint=Footprint(dit_params_b=1.7, text_encoder_params_b=4.8, other_params_b=0.22, activation_gb=6.0),
        source="zai-org/CogVideo README (720x480 only; frames 8N+1, N <= 6; 8 fps; FP16 for 2B)",
    ),
    ModelSpec(
        id="THUDM/CogVideoX-5b",
        aliases=("zai-org/CogVideoX-5b", "CogVideoX-5b"),
        family="cogvideox",
        pipeline_class="CogVideoXPipeline",
        tasks=("t2v",),
        backends=("diffusers",),
        dtype="bfloat16",
        defaults=Defaults(720, 480, 49, 8, 50, 6.0),
        limits=Limits(
            frame_step=8, min_frames=9, max_frames=49, size_multiple=16, min_pixels=720 * 480,
            max_pixels=720 * 480, max_steps=200, sizes=("720x480",), only_listed_sizes=True,
        ),  # fmt: skip
        footprint=Footprint(dit_params_b=5.6, text_encoder_params_b=4.8, other_params_b=0.22, activation_gb=8.0),
        source="zai-org/CogVideo README (720x480 only; frames 8N+1, N <= 6; 8 fps; BF16 for 5B)",
    ),
    ModelSpec(
        id="Lightricks/LTX-Video",
        aliases=("LTX-Video",),
        family="ltx-video",
        pipeline_class="LTXPipeline",
        tasks=("t2v",),
        backends=("diffusers",),
        dtype="bfloat16",
        defaults=Defaults(704, 512, 161, 25, 50, 3.0),
        limits=Limits(
            frame_step=8, min_frames=9, max_frames=257, size_multiple=32, min_pixels=256 * 256,
            max_pixels=1280 * 720, max_steps=200, sizes=("768x512", "704x512", "704x480"),
        ),  # fmt: skip
        footprint=Footprint(dit_params_b=1.9, text_encoder_params_b=4.8, other_params_b=0.4, activation_gb=6.0),
        # The scheduler derives its shift from the sequence length, so no flow_shift default.
        source="diffusers LTXPipeline defaults; Lightricks/LTX-Video README (sizes /32, frames 8k+1, up to 257)",
    ),
    ModelSpec(
        id="framecast/synthetic",
        aliases=("synthetic",),
        family="synthetic",
        pipeline_class="",
        tasks=("t2v",),
        backends=("synthetic",),
        dtype="float32",
        defaults=Defaults(832, 480, 81, 16, 4, 5.0),
        limits=Limits(
            frame_step=4, min_frames=1, max_frames=513, size_multiple=16, min_pixels=16 * 16,
            max_pixels=1920 * 1088, max_steps=1000,
        ),  # fmt: skip
        footprint=None,
        source="framecast.components.backends.synthetic_backend (no model: generated frames)",
    ),
    ModelSpec(
        id="framecast/tiny-random-wan2.1-t2v",
        aliases=("tiny-random-t2v",),
        family="tiny",
        pipeline_class="WanPipeline",
        tasks=("t2v",),
        backends=("diffusers", "sglang"),
        dtype="float32",
        defaults=Defaults(64, 64, 9, 8, 4, 5.0, flow_shift=3.0),
        limits=Limits(
            frame_step=4, min_frames=1, max_frames=129, size_multiple=16, min_pixels=16 * 16,
            max_pixels=256 * 256, max_steps=1000,
        ),  # fmt: skip
        footprint=None,
        source="framecast.components.tiny_model (random weights, built offline)",
    ),
)


class UnknownModelError(ValueError):
    pass


def _by_name() -> dict[str, ModelSpec]:
    return {name.lower(): spec for spec in REGISTRY for name in spec.names}


def lookup(name: str) -> ModelSpec | None:
    """The registry entry with this id or alias (case-insensitive), if any."""
    return _by_name().get(name.strip().rstrip("/").lower())


def spec_for_model(model_path: str, spec_id: str | None = None) -> ModelSpec:
    """The spec a model path follows: an explicit id, the path's name, the folder's spec
    file, or, for a local diffusers folder, the first entry with its pipeline class."""
    if spec_id is not None:
        spec = lookup(spec_id)
        if spec is None:
            raise UnknownModelError(f"--model-spec {spec_id!r} is not in the registry; known: {', '.join(known_ids())}")
        return dataclasses.replace(spec, matched_by="--model-spec")
    spec = lookup(model_path)
    if spec is not None:
        return spec
    folder = Path(model_path)
    if folder.is_dir():
        spec = lookup(folder.resolve().name)
        if spec is not None:
            return dataclasses.replace(spec, matched_by="folder name")
        spec_file = folder / SPEC_FILE
        if spec_file.is_file():
            named = json.loads(spec_file.read_text()).get("registry_id", "")
            spec = lookup(named)
            if spec is None:
                raise UnknownModelError(f"{spec_file} names {named!r}, which is not in the registry")
            return dataclasses.replace(spec, matched_by=SPEC_FILE)
        index_file = folder / "model_index.json"
        if index_file.is_file():
            pipeline_class = json.loads(index_file.read_text()).get("_class_name", "")
            for spec in REGISTRY:
                if spec.pipeline_class == pipeline_class and spec.footprint is not None:
                    return dataclasses.replace(
                        spec, id=folder.resolve().name, aliases=(), matched_by=f"model_index.json ({pipeline_class})"
                    )
            raise UnknownModelError(
                f"{folder}: pipeline {pipeline_class or '(none)'} is not one framecast serves; known pipelines: "
                + ", ".join(sorted({spec.pipeline_class for spec in REGISTRY}))
            )
    raise UnknownModelError(
        f"{model_path!r} is not in the registry and is not a local diffusers folder; known: {', '.join(known_ids())} "
        "(or pass --model-spec ID for a local copy of one of them)"
    )


def choose_backend(spec: ModelSpec, hardware: HardwareProfile) -> str:
    """sglang when it is installed, a GPU is present and it runs the model; else diffusers."""
    if "sglang" in spec.backends and hardware.backends.get("sglang") and hardware.gpus:
        return "sglang"
    return "diffusers" if "diffusers" in spec.backends else spec.backends[0]


def known_ids() -> list[str]:
    return [spec.id for spec in REGISTRY]


def launch_plan(spec: ModelSpec, hardware: HardwareProfile, backend: str = "auto", tp: int | None = None) -> dict:
    """Backend and parallel degree a launch script should start a worker with, and why."""
    chosen = choose_backend(spec, hardware) if backend == "auto" else backend
    notes = []
    if tp is None:
        tp = spec.serving_tp if chosen in PARALLEL_BACKENDS else 1
        if spec.serving_tp > 1 and chosen not in PARALLEL_BACKENDS:
            notes.append(f"the {chosen} backend has no tensor parallelism: TP 1 instead of {spec.serving_tp}")
    if chosen in PARALLEL_BACKENDS and tp > max(len(hardware.gpus), 1):
        notes.append(f"TP {tp} needs {tp} GPUs; {len(hardware.gpus)} found")
    support = spec.support(hardware, chosen)
    return {"backend": chosen, "tp": tp, "support": support.level, "reason": support.reason, "notes": notes}


def main(argv: list[str] | None = None) -> int:
    import argparse

    from framecast.components.hardware import detect_hardware

    parser = argparse.ArgumentParser(prog="python -m framecast.components.registry", description=__doc__)
    parser.add_argument("--plan", metavar="MODEL", help="print the launch plan for MODEL as shell variables")
    parser.add_argument("--backend", default="auto", choices=["auto", "sglang", "diffusers"])
    parser.add_argument("--tp", type=int)
    args = parser.parse_args(argv)
    hardware = detect_hardware()
    if args.plan:
        try:
            spec = spec_for_model(args.plan)
        except UnknownModelError as error:
            print(error, file=sys.stderr)
            return 1
        plan = launch_plan(spec, hardware, args.backend, args.tp)
        import shlex

        print(f"plan_backend={plan['backend']} plan_tp={plan['tp']} plan_support={shlex.quote(plan['support'])}")
        print(f"plan_reason={shlex.quote(plan['reason'])} plan_notes={shlex.quote('; '.join(plan['notes']))}")
        return 0
    gpus = ", ".join(f"{gpu.name} {gpu.memory_gb:g} GB" for gpu in hardware.gpus) or "no GPU"
    print(f"this machine: {hardware.cpu_count} CPUs, {hardware.memory_gb:g} GB RAM, {gpus}; backends: "
          + ", ".join(name for name, present in hardware.backends.items() if present))  # fmt: skip
    for spec in REGISTRY:
        support = spec.support(hardware)
        print(f"{spec.id:40} {'/'.join(spec.tasks):8} {support.level:14} {support.reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
