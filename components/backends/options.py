"""The worker's backend options, one group per backend, each option declared once (default,
help, flag, FRAMECAST_* variable). None means "not set": the backend decides. A backend refuses
an option of another backend's group rather than ignoring it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from framecast.components.registry import CACHE_MODES, ModelSpec, StepCache
from framecast.protocol.options import flag_of, option


@dataclass(frozen=True)
class SglangOptions:
    num_gpus: int | None = option(None, "GPUs for one model replica (default: the largest degree)")
    tp: int | None = option(None, "tensor-parallel degree")
    sp: int | None = option(None, "sequence-parallel degree")
    ulysses_degree: int | None = option(None, "Ulysses sequence-parallel degree")
    ring_degree: int | None = option(None, "ring-attention sequence-parallel degree")
    cfg_parallel: bool | None = option(None, "run the two CFG branches on different GPUs")
    dit_cpu_offload: bool | None = option(None, "keep the DiT in CPU memory between uses")
    text_encoder_cpu_offload: bool | None = option(None, "keep the text encoder in CPU memory")
    vae_cpu_offload: bool | None = option(None, "keep the VAE in CPU memory")
    dit_layerwise_offload: bool | None = option(None, "stream DiT layers from CPU memory")
    attention_backend: str | None = option(None, "sglang attention backend (default: its choice)")
    sglang_pipeline: str | None = option(
        None,
        "DiffGenerator's own backend (default auto; diffusers on a machine without CUDA)",
        choices=("auto", "sglang", "diffusers"),
    )


@dataclass(frozen=True)
class DiffusersOptions:
    vae_slicing: bool | None = option(None, "decode the batch one video at a time")
    vae_tiling: bool | None = option(None, "decode in tiles (large sizes in less memory)")
    cpu_offload: str | None = option(None, "CPU offload of the pipeline", choices=("none", "model", "sequential"))


@dataclass(frozen=True)
class SyntheticOptions:
    synthetic_content: str | None = option(None, "frame content (default smooth)", choices=("smooth", "noise"))
    synthetic_busy_s: float | None = option(None, "simulated GPU seconds per video (default 0)")
    synthetic_adapter_load_s: float | None = option(None, "simulated seconds to load a LoRA adapter (default 0)")
    synthetic_stored_clip: bool | None = option(
        None, "encode the clip once and answer every request of the same shape with that MP4: zero compute"
    )


@dataclass(frozen=True)
class ModelOptions:
    """What both model backends (sglang, diffusers) take."""

    device: str = option("auto", "auto, cpu, cuda or cuda:N")
    dtype: str = option("auto", "auto (the model's), float32, bfloat16 or float16")
    flow_shift: float | None = option(None, "scheduler flow shift (default: the model's)")
    compile: bool | None = option(None, "torch.compile the DiT, warmed up before the worker registers")
    cache: str = option(
        "none",
        "step cache: skip or predict transformer work between denoising steps (recommended: the registry's "
        "setting for the model's family); requests may turn it off with nvext.cache false",
        choices=("none", "recommended", *CACHE_MODES),
    )
    cache_threshold: float | None = option(
        None, "first-block, mag: relative change between steps under which the transformer's work is reused (default 0.05, 0.06)"
    )
    cache_interval: int | None = option(
        None, "taylorseer: run the transformer fully every N steps, predicted between; faster: attention reuse range (default 2)"
    )
    cache_warmup_steps: int | None = option(None, "taylorseer: steps run fully before the cache starts (default 1)")


# Backend name -> its own group (the others' options are refused).
GROUPS = {"sglang": SglangOptions, "diffusers": DiffusersOptions, "synthetic": SyntheticOptions}


@dataclass(frozen=True)
class BackendOptions:
    model_path: str
    spec: ModelSpec
    model: ModelOptions = field(default_factory=ModelOptions)
    sglang: SglangOptions = field(default_factory=SglangOptions)
    diffusers: DiffusersOptions = field(default_factory=DiffusersOptions)
    synthetic: SyntheticOptions = field(default_factory=SyntheticOptions)

    def refuse_others(self, backend: str) -> None:
        """Raise if an option of another backend's group was set (one GPU, tp 1, is no option)."""
        for name in GROUPS:
            if name == backend:
                continue
            group = getattr(self, name)
            for option_field in dataclasses.fields(group):
                value = getattr(group, option_field.name)
                if value is None or value is False or (option_field.name in ("tp", "num_gpus") and value == 1):
                    continue
                raise ValueError(f"{flag_of(option_field)} is not an option of the {backend} backend")

    @property
    def step_cache(self) -> StepCache | None:
        """The cache the worker runs with, or None (no cache); ValueError for a bad setting."""
        mode = self.model.cache
        if mode == "none":
            if any(value is not None for value in (self.model.cache_threshold, self.model.cache_interval, self.model.cache_warmup_steps)):
                raise ValueError("--cache-threshold/--cache-interval/--cache-warmup-steps need a --cache mode")
            return None
        if mode == "recommended":
            base = self.spec.recommended_cache
            if base is None:
                raise ValueError(f"--cache recommended: the registry recommends no step cache for {self.spec.id}; name a mode")
        elif mode in CACHE_MODES:
            base = StepCache(mode)
        else:
            raise ValueError(f"--cache {mode!r}: choose none, recommended or one of {', '.join(CACHE_MODES)}")
        overrides = {
            key: value
            for key, value in (
                ("threshold", self.model.cache_threshold),
                ("interval", self.model.cache_interval),
                ("warmup_steps", self.model.cache_warmup_steps),
            )
            if value is not None
        }
        if overrides.get("threshold", 0) < 0 or overrides.get("interval", 1) < 1 or overrides.get("warmup_steps", 1) < 1:
            raise ValueError("--cache-threshold must be >= 0, --cache-interval and --cache-warmup-steps >= 1")
        takes = {"first-block": {"threshold"}, "mag": {"threshold"}, "taylorseer": {"interval", "warmup_steps"}, "faster": {"interval"}}
        for key in overrides.keys() - takes[base.mode]:
            raise ValueError(f"--cache-{key.replace('_', '-')} is not a setting of --cache {base.mode}")
        return dataclasses.replace(base, **overrides)

    @property
    def flow_shift_or_default(self) -> float | None:
        return self.model.flow_shift if self.model.flow_shift is not None else self.spec.defaults.flow_shift
