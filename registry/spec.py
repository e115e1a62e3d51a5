"""The registry's types: a model's spec (ids, task kinds, backends, request defaults and limits,
dtype, memory footprint), a request resolved against it, and a support level."""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

from framecast.protocol import ErrorCode, GenerationKnobs, RequestFieldError, parse_size

# A model folder may name the registry entry it follows in this file (the tiny model does).
SPEC_FILE = "framecast_model.json"

# t2v: text to video. i2v: image (and text) to video, the image required. ti2v: one model doing
# both, the image optional. t2i: text to image. v2v: a video remade from another's frames with a
# new prompt (a remix). i2i: an image edited as a prompt says.
Task = Literal["t2v", "i2v", "ti2v", "t2i", "v2v", "i2i"]
SupportLevel = Literal["ready", "limited", "not supported"]
PARALLEL_DEGREES = (1, 2, 4, 8)
# Backends that split one model across GPUs (tensor / sequence parallel).
PARALLEL_BACKENDS = ("sglang",)
# Task kinds workers take requests for.
SERVED_TASKS = ("t2v", "i2v", "ti2v", "t2i", "v2v", "i2i")


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
    # Outputs from one batch: n images of a text-to-image request, else 1.
    count: int = 1
    # The input image (PIL, RGB), already fitted to width x height; None for text only.
    image: Any = field(default=None, compare=False, repr=False)
    # LoRA adapters to apply, (name, scale), by the names the worker was given.
    adapters: tuple[tuple[str, float], ...] = ()
    # False: run without the worker's step cache (a request that must be exact).
    step_cache: bool = True
    # Whether the video keeps the sound track the model makes (models that make none: False).
    sound: bool = False
    # A remix: the source video's frames (PIL, RGB), num_frames of them fitted to width x height,
    # and how much of the schedule re-noises them (1: all of it, a video barely like the source).
    video: Any = field(default=None, compare=False, repr=False)
    strength: float | None = None

    @property
    def denoising_steps(self) -> int:
        """The steps the pipeline runs: a remix starts its schedule part way, at strength."""
        if self.video is None or self.strength is None:
            return self.num_inference_steps
        return min(int(self.num_inference_steps * self.strength), self.num_inference_steps)


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
    # A remix's share of the schedule that re-noises the source (models with v2v).
    strength: float = 0.6


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
    # The longest side the transformer's position table reaches (None: no such bound).
    max_side: int | None = None
    # The shortest side the VAE decodes (LTX-2's decoder reflects its padding, which needs two
    # latent pixels). None: no such bound.
    min_side: int | None = None
    # Text tokens the pipeline encodes; a longer prompt is cut there (None: not known).
    max_prompt_tokens: int | None = None
    # Fewest denoising steps the scheduler can run (2 where it stretches its last step to a
    # terminal sigma: one step has no last step to stretch).
    min_steps: int = 1

    @property
    def smallest_side(self) -> int:
        """The side of the smallest square size the check admits."""
        multiple = self.size_multiple
        side = max(multiple, math.ceil(math.sqrt(self.min_pixels) / multiple) * multiple)
        return max(side, math.ceil((self.min_side or 0) / multiple) * multiple)

    @property
    def smallest_size(self) -> tuple[int, int]:
        """(width, height) of the cheapest size the check admits: the smallest listed one where
        only those are accepted, else the smallest square."""
        if self.only_listed_sizes and self.sizes:
            return min((parse_size(size) for size in self.sizes), key=math.prod)
        return self.smallest_side, self.smallest_side


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


# Step caches: skip or predict transformer work between denoising steps.
CACHE_MODES = ("first-block", "mag", "taylorseer", "faster")


@dataclass(frozen=True)
class StepCache:
    """A step-cache setting. `threshold`: how much change between steps is let pass before the
    transformer runs again (first-block, mag); `interval`: the transformer runs fully every
    this many steps, predicted between (taylorseer); `warmup_steps`: steps run fully first."""

    mode: str
    threshold: float | None = None
    interval: int | None = None
    warmup_steps: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if value is not None}


@dataclass(frozen=True)
class AdapterPreset:
    """A published LoRA the registry knows for a model, with the request defaults it needs (a
    step-distilled adapter: few steps, no CFG). An operator enables it with `--lora NAME`."""

    name: str
    # A hub file: "owner/repo/path/in/repo.safetensors".
    source: str
    num_inference_steps: int | None = None
    guidance_scale: float | None = None
    description: str = ""


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
    # The step cache `--cache recommended` runs (None: no recommendation, run uncached).
    recommended_cache: StepCache | None = None
    # Published adapters `--lora NAME` enables by name.
    adapter_presets: tuple[AdapterPreset, ...] = ()
    # A tiny random model: the registry family whose shape it has (the tests run the family on it).
    stands_for: str = ""
    # It makes a sound track with its video (LTX-2); a request may drop it with "audio": false.
    makes_audio: bool = False

    def adapter_preset(self, name: str) -> AdapterPreset | None:
        return next((preset for preset in self.adapter_presets if preset.name == name), None)

    @property
    def makes_video(self) -> bool:
        return bool({"t2v", "i2v", "ti2v"} & set(self.tasks))

    @property
    def takes_image(self) -> bool:
        return "i2v" in self.tasks or "ti2v" in self.tasks

    @property
    def needs_image(self) -> bool:
        """It makes nothing without an input image: image-to-video only, or image edits only."""
        return (self.takes_image and "t2v" not in self.tasks) or set(self.tasks) == {"i2i"}

    @property
    def edits_images(self) -> bool:
        """It makes images from an input image and a prompt (image edits)."""
        return "i2i" in self.tasks

    @property
    def takes_video(self) -> bool:
        """It remakes a video from another's frames (a remix)."""
        return "v2v" in self.tasks

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
            "audio": self.makes_audio,
            "dtype": self.dtype,
            "defaults": {
                "size": f"{d.width}x{d.height}",
                "num_frames": d.num_frames,
                "fps": d.fps,
                "num_inference_steps": d.num_inference_steps,
                "guidance_scale": d.guidance_scale,
                "guidance_scale_2": d.guidance_scale_2,
                "strength": d.strength if self.takes_video else None,
                "flow_shift": d.flow_shift,
                "negative_prompt": d.negative_prompt,
            },
            "limits": {
                "num_frames": f"{lim.frame_step}k+1, {lim.min_frames} to {lim.max_frames}",
                "frame_step": lim.frame_step,
                "min_frames": lim.min_frames,
                "max_frames": lim.max_frames,
                "size_multiple": lim.size_multiple,
                "min_pixels": lim.min_pixels,
                "max_pixels": lim.max_pixels,
                "min_steps": lim.min_steps,
                "max_steps": lim.max_steps,
                "sizes": list(lim.sizes),
                "only_listed_sizes": lim.only_listed_sizes,
                "max_side": lim.max_side,
                "min_side": lim.min_side,
                "max_prompt_tokens": lim.max_prompt_tokens,
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
        if lim.min_side is not None and min(width, height) < lim.min_side:
            raise RequestFieldError("size", f"size: {name} makes sides of at least {lim.min_side} pixels (its VAE); got {size}")
        if lim.max_side is not None and max(width, height) > lim.max_side:
            raise RequestFieldError(
                "size", f"size: {name} makes sides of at most {lim.max_side} pixels (its position table); got {size}"
            )

    def resolve(self, knobs: GenerationKnobs, name: str, single_frame: bool = False) -> GenerationParams:
        """Fill omitted knobs from the defaults and refuse what the model cannot do;
        `single_frame`: one frame, an image (text-to-image)."""
        d, lim = self.defaults, self.limits
        fps = knobs.fps or d.fps
        if single_frame:
            num_frames = 1
        elif knobs.num_frames is not None:
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
        steps = knobs.num_inference_steps or d.num_inference_steps
        if steps > lim.max_steps:
            raise RequestFieldError(
                "num_inference_steps", f"num_inference_steps must be at most {lim.max_steps} for {name}; got {steps}"
            )
        if steps < lim.min_steps:
            raise RequestFieldError(
                "num_inference_steps",
                f"num_inference_steps must be at least {lim.min_steps} for {name} (its scheduler stretches the last step); got {steps}",
            )
        width, height = knobs.width or d.width, knobs.height or d.height
        self._check_size(width, height, name)
        if knobs.guidance_scale_2 is not None and d.guidance_scale_2 is None:
            raise RequestFieldError(
                "guidance_scale_2",
                f"guidance_scale_2 is for models with a second (low-noise) expert, such as Wan2.2 A14B; "
                f"{name} has one, so set guidance_scale only",
                code=ErrorCode.UNSUPPORTED_VALUE,
            )
        if knobs.audio and not self.makes_audio:
            raise RequestFieldError(
                "audio", f"{name} makes no sound; audio: true is for models that do, such as LTX-2",
                code=ErrorCode.UNSUPPORTED_VALUE,
            )  # fmt: skip
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
            sound=self.makes_audio and knobs.audio is not False and not single_frame,
        )
