"""diffusers backend: the model's diffusers pipeline, on CPU or one GPU."""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import logging
import math
import time

import numpy as np
import torch
from diffusers import DiffusionPipeline

from framecast.components.backends import BackendOptions, GeneratedVideo, GenerationFailed, ProgressCallback
from framecast.components.backends.diffusers_caching import BlockCounter, StepCacher
from framecast.components.backends.schedulers import starting_at_the_first_timestep
from framecast.components.encoding import SoundTrack
from framecast.components.registry import GenerationParams, Limits
from framecast.protocol import Stage, parse_size

log = logging.getLogger(__name__)

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# A text-to-video pipeline whose model also takes an image (Wan2.2 TI2V, LTX-Video, LTX-2) -> the
# diffusers pipeline that runs the same modules with an image.
_IMAGE_PIPELINES = {
    "WanPipeline": "WanImageToVideoPipeline",
    "LTXPipeline": "LTXImageToVideoPipeline",
    "LTX2Pipeline": "LTX2ImageToVideoPipeline",
}
# The pipeline that remakes a video from another's frames (SDEdit), on the same modules. Wan's
# takes one transformer and Wan2.1's 8x VAE: the registry lists v2v for Wan2.1 text-to-video only.
_VIDEO_PIPELINES = {
    "WanPipeline": "WanVideoToVideoPipeline",
}


def _first_attribute(source, *names: str):
    return next((value for name in names if (value := getattr(source, name, None)) is not None), None)


def _spatial_patch(transformer) -> int:
    config = transformer.config
    patch = config.get("patch_size") or 1
    return int(patch[-1] if isinstance(patch, (list, tuple)) else patch)


def _size_buckets(pipeline) -> list[str] | None:
    """The sizes ("WxH") of a pipeline that takes no height and width but buckets its input
    image to one of a fixed list (HunyuanVideo 1.5 image-to-video); None for any other."""
    if "height" in inspect.signature(pipeline.__call__).parameters or not hasattr(pipeline, "target_size"):
        return None
    if type(getattr(pipeline, "video_processor", None)).__name__ != "HunyuanVideo15ImageProcessor":
        return None
    from diffusers.pipelines.hunyuan_video1_5.image_processor import generate_crop_size_list

    # Its buckets are (height, width).
    return [f"{width}x{height}" for height, width in generate_crop_size_list(pipeline.target_size, pipeline.vae_scale_factor_spatial)]


def pipeline_limits(pipeline, declared: Limits, makes_video: bool) -> Limits:
    """The registry's limits narrowed to what this pipeline can run, read from its modules:
    sizes a multiple of the VAE's spatial compression times the transformer's patch, frame
    counts a multiple of the VAE's temporal compression apart, no more steps than the
    scheduler has training timesteps (and at least two where it stretches its sigmas to a
    terminal value), no side or frame count past the transformer's position table (Wan's and
    Kandinsky 5's rotary tables, SD3's positional embedding), no side under two latent pixels where the VAE
    decoder reflects its padding (LTX-2), only the sizes it buckets an input image to where it
    takes no size (HunyuanVideo 1.5 image-to-video); and the prompt tokens it encodes."""
    transformer = pipeline.transformer
    config = transformer.config
    spatial = _first_attribute(pipeline, "vae_scale_factor_spatial", "vae_spatial_compression_ratio", "vae_scale_factor") or 1
    temporal = _first_attribute(pipeline, "vae_scale_factor_temporal", "vae_temporal_compression_ratio") or 1
    patch = _spatial_patch(transformer)
    limits = dataclasses.replace(
        declared,
        size_multiple=math.lcm(declared.size_multiple, int(spatial) * patch),
        max_steps=min(declared.max_steps, int(pipeline.scheduler.config.get("num_train_timesteps") or declared.max_steps)),
    )
    if makes_video:
        limits = dataclasses.replace(limits, frame_step=math.lcm(limits.frame_step, int(temporal)))
    positions = config.get("rope_max_seq_len") or config.get("pos_embed_max_size")
    if positions:
        max_side = int(positions) * patch * int(spatial)
        limits = dataclasses.replace(limits, max_side=min(max_side, limits.max_side or max_side))
        if makes_video and config.get("rope_max_seq_len"):
            # The rotary table also numbers latent frames.
            most = (int(positions) - 1) * int(temporal) + 1
            most -= (most - 1) % limits.frame_step
            limits = dataclasses.replace(limits, max_frames=min(limits.max_frames, most))
    # Kandinsky 5's rotary table numbers latent (frames, rows, columns) up to a fixed count each.
    table = getattr(getattr(transformer, "visual_rope_embeddings", None), "max_pos", None)
    if isinstance(table, (tuple, list)) and len(table) == 3:
        frames, rows, columns = (int(count) for count in table)
        max_side = min(rows, columns) * patch * int(spatial)
        most = (frames - 1) * int(temporal) + 1 if makes_video else limits.max_frames
        most -= (most - 1) % limits.frame_step
        limits = dataclasses.replace(limits, max_side=min(max_side, limits.max_side or max_side), max_frames=min(limits.max_frames, most))
    vae = getattr(pipeline, "vae", None)
    if vae is not None and vae.config.get("decoder_spatial_padding_mode") == "reflect":
        # Reflected padding needs two latent pixels each way.
        least = math.ceil(2 * int(spatial) / limits.size_multiple) * limits.size_multiple
        limits = dataclasses.replace(limits, min_side=max(least, limits.min_side or 0))
    if pipeline.scheduler.config.get("shift_terminal"):
        # Its sigmas are stretched so the last lands on shift_terminal; with one step the stretch
        # divides zero by zero and the run is NaN.
        limits = dataclasses.replace(limits, min_steps=max(limits.min_steps, 2))
    if (buckets := _size_buckets(pipeline)) is not None:
        # It makes the bucket nearest the input image's aspect ratio, whatever size is asked.
        admitted = [size for size in buckets if limits.min_pixels <= math.prod(parse_size(size)) <= limits.max_pixels]
        listed = [size for size in limits.sizes if size in admitted]
        limits = dataclasses.replace(limits, sizes=tuple(dict.fromkeys(listed + admitted)), only_listed_sizes=True)
    prompt_tokens = inspect.signature(pipeline.__call__).parameters.get("max_sequence_length")
    if prompt_tokens is not None and isinstance(prompt_tokens.default, int):
        limits = dataclasses.replace(limits, max_prompt_tokens=prompt_tokens.default)
    if limits != declared:
        before = dataclasses.asdict(declared)
        log.info("limits read from the pipeline: %s", {k: v for k, v in dataclasses.asdict(limits).items() if before[k] != v})
    return limits


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _resolve_dtype(dtype: str, recommended: str, device: torch.device) -> torch.dtype:
    if dtype == "auto":
        # Half precision is slow or unsupported for these models on CPU.
        return _DTYPES[recommended] if device.type == "cuda" else torch.float32
    try:
        return _DTYPES[dtype]
    except KeyError:
        raise ValueError(f"--dtype {dtype!r}: choose auto or one of {sorted(_DTYPES)}") from None


def _apply_flow_shift(pipeline, flow_shift: float) -> None:
    """Rebuild the scheduler with this shift (the config key differs between schedulers)."""
    config = pipeline.scheduler.config
    for key in ("flow_shift", "shift"):
        if key in config:
            pipeline.scheduler = type(pipeline.scheduler).from_config(config, **{key: flow_shift})
            return
    log.warning("scheduler %s has no shift setting; flow_shift %s ignored", type(pipeline.scheduler).__name__, flow_shift)


def _lora_location(source: str) -> tuple[str, dict]:
    """load_lora_weights arguments for a source: a local file or folder as it is; a hub file
    ("owner/repo/path/file.safetensors") as the repository and the file in it."""
    if source.startswith("/") or not source.endswith(".safetensors"):
        return source, {}
    owner, repo, *path = source.split("/")
    if not path:
        return source, {}
    return f"{owner}/{repo}", {"weight_name": path[-1], **({"subfolder": "/".join(path[:-1])} if len(path) > 1 else {})}


def takes_adapters(pipeline_class: type, transformer_class: str) -> bool:
    """Whether diffusers can load LoRA adapters into the pipeline and set their scales: 0.37 has
    no LoRA loader for HunyuanVideo 1.5, and no scale setter for SkyReels-V2's transformer (a
    request with an adapter would fail after admission)."""
    # A private table: the only way to ask before set_adapters raises KeyError.
    from diffusers.loaders.peft import _SET_ADAPTER_SCALE_FN_MAPPING

    return hasattr(pipeline_class, "load_lora_weights") and transformer_class in _SET_ADAPTER_SCALE_FN_MAPPING


@contextlib.contextmanager
def _steps_counted(scheduler, after_step):
    """Call after_step(index) after each scheduler step: the progress of a pipeline that takes
    no step callback (HunyuanVideo 1.5). Its denoising loop calls the scheduler once a step."""
    step = scheduler.step
    calls = 0

    def counted(*args, **kwargs):
        nonlocal calls
        result = step(*args, **kwargs)
        after_step(calls)
        calls += 1
        return result

    scheduler.step = counted
    try:
        yield
    finally:
        del scheduler.step


class DiffusersBackend:
    name = "diffusers"

    def __init__(self, options: BackendOptions):
        if (options.sglang.tp or 1) != 1 or (options.sglang.num_gpus or 1) != 1:
            raise ValueError(
                "--tp/--num-gpus: the diffusers backend runs a model on one device; "
                "use the sglang backend for tensor or sequence parallelism"
            )
        options.refuse_others(self.name)
        if options.diffusers.cpu_offload not in (None, "none", "model", "sequential"):
            raise ValueError(f"--cpu-offload {options.diffusers.cpu_offload!r}: choose none, model or sequential")
        self.options = options
        self.device = _resolve_device(options.model.device)
        self.dtype = _resolve_dtype(options.model.dtype, options.spec.dtype, self.device)
        log.info("loading %s on %s as %s", options.model_path, self.device, self.dtype)
        self.pipeline = DiffusionPipeline.from_pretrained(options.model_path, torch_dtype=self.dtype)
        self.takes_adapters = takes_adapters(type(self.pipeline), type(self.pipeline.transformer).__name__)
        call_parameters = inspect.signature(self.pipeline.__call__).parameters
        # Video pipelines take num_frames; image pipelines (text-to-image models) do not.
        self._makes_video = "num_frames" in call_parameters
        if not self._makes_video and options.spec.makes_video:
            raise ValueError(f"{options.model_path} holds a {type(self.pipeline).__name__}, not a video pipeline")
        self._takes_step_callback = "callback_on_step_end" in call_parameters
        self._takes_guidance_2 = "guidance_scale_2" in call_parameters
        # A model with true CFG and no embedded guidance (Qwen-Image, HunyuanVideo-I2V's 33-channel
        # checkpoint) takes its CFG scale as true_cfg_scale: its guidance_scale would feed a
        # guidance embedding the transformer does not have.
        guidance = call_parameters.get("guidance_scale")
        transformer_config = getattr(getattr(self.pipeline, "transformer", None), "config", {})
        self._cfg_parameter = (
            "true_cfg_scale"
            if "true_cfg_scale" in call_parameters
            and (guidance is None or guidance.default is None or not transformer_config.get("guidance_embeds", True))
            else "guidance_scale"
        )
        # A pipeline that takes no CFG scale (HunyuanVideo 1.5) runs CFG through its guider.
        if self._cfg_parameter not in call_parameters:
            self._cfg_parameter = None
        # LTX-Video scales its rotary positions in time by the frame rate.
        self._takes_frame_rate = "frame_rate" in call_parameters
        self._takes_image = "image" in call_parameters
        # HunyuanVideo 1.5's image-to-video takes its size from the image (fitted to the request's).
        self._takes_size = "height" in call_parameters
        # FLUX.1 Kontext scales its output to an area and its input image to a preferred size: here
        # both are the size asked (the input image arrives fitted to it).
        self._sized_by_area = "max_area" in call_parameters and "_auto_resize" in call_parameters
        # HunyuanVideo-I2V's 33-channel checkpoint decodes the image's own latent frame ahead of the
        # video and cuts it (the VAE's frames per latent): ask for as many more.
        vae = getattr(self.pipeline, "vae", None)
        self._cut_leading_frames = (
            getattr(vae, "temporal_compression_ratio", 1) if transformer_config.get("image_condition_type") == "latent_concat" else 0
        )
        self.pipeline.scheduler = starting_at_the_first_timestep(self.pipeline.scheduler)
        flow_shift = options.flow_shift_or_default
        if flow_shift is not None:
            _apply_flow_shift(self.pipeline, flow_shift)

        vae = getattr(self.pipeline, "vae", None)
        # Slicing and tiling trade speed for a VAE decode that fits in less memory.
        if options.diffusers.vae_slicing and vae is not None:
            vae.enable_slicing()
        if options.diffusers.vae_tiling and vae is not None:
            vae.enable_tiling()
        offload = options.diffusers.cpu_offload or "none"
        if offload == "model":
            self.pipeline.enable_model_cpu_offload(device=self.device)
        elif offload == "sequential":
            self.pipeline.enable_sequential_cpu_offload(device=self.device)
        else:
            self.pipeline.to(self.device)
        self.pipeline.set_progress_bar_config(disable=True)
        self.image_pipeline = self.pipeline if self._takes_image else None
        if options.spec.takes_image and self.image_pipeline is None:
            self.image_pipeline = self._variant(_IMAGE_PIPELINES, "image")
        self.video_pipeline = self._variant(_VIDEO_PIPELINES, "video") if options.spec.takes_video else None
        self.takes_video = self.video_pipeline is not None
        transformers = [module for name in ("transformer", "transformer_2") if (module := getattr(self.pipeline, name, None)) is not None]
        # Not under torch.compile: the count would be compiled in as a constant (and recompiled).
        self._blocks = BlockCounter(transformers if not options.model.compile else [])
        self._adapters: set[str] = set()
        self.cacher = None
        setting = options.step_cache
        if setting is not None:
            self.cacher = StepCacher(self.pipeline, setting, options.spec.defaults.num_inference_steps, self._calibration_run)
            log.info("step cache: %s", self.cacher.description)
        if options.model.compile:
            # Compiled after the cache hooks are in place, so the compiled code is what runs.
            for transformer in transformers:
                transformer.compile()

    def _variant(self, variants: dict[str, str], takes: str):
        """The same modules (no second copy in memory) in the pipeline that takes an image or a
        video, as `variants` names it for the loaded pipeline's class."""
        import diffusers

        name = variants.get(type(self.pipeline).__name__)
        if name is None:
            raise ValueError(f"{self.options.model_path}: no {takes} pipeline is known for {type(self.pipeline).__name__}")
        variant_class = getattr(diffusers, name)
        accepted = inspect.signature(variant_class.__init__).parameters
        # The modules, and the settings both classes have (Wan's boundary and per-token timesteps).
        settings = {key: value for key, value in self.pipeline.config.items() if key in accepted and not key.startswith("_")}
        components = {key: module for key, module in self.pipeline.components.items() if key in accepted}
        pipeline = variant_class(**(settings | components))
        pipeline.set_progress_bar_config(disable=True)
        return pipeline

    def limits(self, declared: Limits) -> Limits:
        return pipeline_limits(self.pipeline, declared, self._makes_video)

    def describe(self) -> dict:
        return {
            "device": str(self.device),
            "dtype": str(self.dtype).removeprefix("torch."),
            "pipeline": type(self.pipeline).__name__,
            "image_pipeline": type(self.image_pipeline).__name__ if self.image_pipeline is not None else None,
            "flow_shift": self.options.flow_shift_or_default,
            "cpu_offload": self.options.diffusers.cpu_offload or "none",
            "vae_slicing": bool(self.options.diffusers.vae_slicing),
            "vae_tiling": bool(self.options.diffusers.vae_tiling),
            "compile": bool(self.options.model.compile),
            "step_cache": self.cacher.description if self.cacher else None,
            "parallel": {"tp": 1, "num_gpus": 1 if self.device.type == "cuda" else 0},
        }

    def _guidance(self, pipeline, scale: float) -> dict:
        """The call's CFG argument; or, for a pipeline that runs CFG through its guider, a copy
        of that guider at this scale put in its place."""
        if self._cfg_parameter is not None:
            return {self._cfg_parameter: scale}
        guider = getattr(pipeline, "guider", None)
        if guider is None:
            raise ValueError(f"{type(pipeline).__name__} takes no guidance scale and has no guider")
        pipeline.guider = guider.new(guidance_scale=scale)
        return {}

    def _calibration_run(self) -> None:
        """One generation at the model's defaults, for a step cache that measures the model (a
        plain grey picture for a model that needs an input image)."""
        d = self.options.spec.defaults
        extra: dict = {"num_frames": d.num_frames + self._cut_leading_frames} if self._makes_video else {}
        if self._takes_size:
            extra |= {"height": d.height, "width": d.width}
        if self.options.spec.needs_image:
            from PIL import Image

            extra["image"] = Image.new("RGB", (d.width, d.height), (128, 128, 128))
        with torch.inference_mode():
            self.pipeline(
                prompt="calibration", negative_prompt=d.negative_prompt, num_inference_steps=d.num_inference_steps,
                generator=torch.Generator("cpu").manual_seed(0), output_type="latent", **self._guidance(self.pipeline, d.guidance_scale), **extra,
            )  # fmt: skip

    # -- adapters -----------------------------------------------------------------------------

    def load_adapter(self, name: str, source: str) -> None:
        where, extra = _lora_location(source)
        self.pipeline.load_lora_weights(where, adapter_name=name, **extra)
        self._adapters.add(name)

    def unload_adapter(self, name: str) -> None:
        self.pipeline.delete_adapters(name)
        self._adapters.discard(name)

    def _apply_adapters(self, adapters: tuple[tuple[str, float], ...]) -> None:
        """Exactly these adapters at these scales, or none: the base model's own weights."""
        if not self._adapters:
            return
        if adapters:
            self.pipeline.enable_lora()
            self.pipeline.set_adapters([name for name, _ in adapters], [scale for _, scale in adapters])
        else:
            self.pipeline.disable_lora()

    def generate(self, params: GenerationParams, on_progress: ProgressCallback) -> GeneratedVideo:
        # A remix runs the part of the schedule its strength leaves.
        total = params.denoising_steps
        self._apply_adapters(params.adapters)

        def after_step(pipeline, step: int, timestep, tensors: dict) -> dict:
            on_progress(Stage.DENOISING, step + 1, total)
            if step + 1 == total:
                on_progress(Stage.DECODING, None, None)
            return {}

        pipeline, extra = self.pipeline, {}
        if params.image is not None:
            if self.image_pipeline is None:
                raise ValueError(f"{type(self.pipeline).__name__} takes no image")
            pipeline, extra["image"] = self.image_pipeline, params.image
        if params.video is not None:
            if self.video_pipeline is None:
                raise ValueError(f"{type(self.pipeline).__name__} takes no video")
            # Its frame count is the video's.
            pipeline, extra = self.video_pipeline, {"video": params.video, "strength": params.strength}
        if self._takes_step_callback:
            extra["callback_on_step_end"] = after_step
        if params.guidance_scale_2 is not None and self._takes_guidance_2:
            extra["guidance_scale_2"] = params.guidance_scale_2
        if self._takes_frame_rate:
            extra["frame_rate"] = params.fps
        extra |= self._guidance(pipeline, params.guidance_scale)
        on_progress(Stage.TEXT_ENCODING, None, None)
        # The transformer's first call ends text encoding: step 0 of denoising starts there.
        denoising_started = False

        def before_first_forward(module, args) -> None:
            nonlocal denoising_started
            if not denoising_started:
                denoising_started = True
                on_progress(Stage.DENOISING, 0, total)

        transformer = getattr(self.pipeline, "transformer", None)
        hook = transformer.register_forward_pre_hook(before_first_forward) if transformer is not None else None
        # A CPU generator gives the same noise for a seed whatever the device.
        generator = torch.Generator("cpu").manual_seed(params.seed)
        started = time.perf_counter()
        self._blocks.take()
        with torch.inference_mode(), contextlib.ExitStack() as cleanup:
            if hook is not None:
                cleanup.callback(hook.remove)
            if self.cacher is not None:
                # Wan's video-to-video pipeline calls its transformer outside a cache context: exact there.
                cleanup.enter_context(self.cacher.applied(params.num_inference_steps, params.step_cache and params.video is None))
            if not self._takes_step_callback:
                cleanup.enter_context(_steps_counted(pipeline.scheduler, lambda step: after_step(pipeline, step, None, {})))
            if not self._makes_video:
                extra["num_images_per_prompt"] = params.count
            elif params.video is None:  # a remix's frames are its video's
                extra |= {"num_frames": params.num_frames + self._cut_leading_frames, "num_videos_per_prompt": params.count}
            if self._takes_size:
                extra |= {"height": params.height, "width": params.width}
            if self._sized_by_area and pipeline is self.pipeline:
                extra |= {"max_area": params.width * params.height, "_auto_resize": False}
            output = pipeline(
                prompt=params.prompt,
                negative_prompt=params.negative_prompt,
                num_inference_steps=params.num_inference_steps,
                generator=generator,
                output_type="np",
                **extra,
            )
        elapsed = time.perf_counter() - started
        # Videos (count, frames, h, w, 3) or images (count, h, w, 3): frames in one row.
        frames = np.asarray(output.frames if self._makes_video else output.images)
        frames = frames.reshape(-1, *frames.shape[-3:])
        asked = params.count * (params.num_frames if self._makes_video else 1)
        if len(frames) != asked:
            # Never a video of other length presented as the one asked for.
            raise GenerationFailed(f"{type(pipeline).__name__} made {len(frames)} frames where {asked} were asked")
        if frames.dtype != np.uint8 and not np.isfinite(frames).all():
            # Cast to bytes, NaN turns black: a video that looks made but is not.
            raise GenerationFailed(f"{type(pipeline).__name__} produced values that are not finite (NaN or infinity)")
        if frames.dtype != np.uint8:
            frames = (frames * 255.0).round().clip(0, 255).astype(np.uint8)
        blocks = self._blocks.take() if not self.options.model.compile else None
        return GeneratedVideo(frames, elapsed, block_evaluations=blocks, sound=self._sound(output, pipeline) if params.sound else None)

    @staticmethod
    def _sound(output, pipeline) -> SoundTrack | None:
        """The first video's sound track, where the pipeline made one (LTX-2: a waveform at its
        vocoder's rate)."""
        audio = getattr(output, "audio", None)
        if audio is None:
            return None
        samples = (audio.float().cpu().numpy() if torch.is_tensor(audio) else np.asarray(audio, dtype=np.float32))[0]
        if not np.isfinite(samples).all():
            raise GenerationFailed(f"{type(pipeline).__name__} produced sound samples that are not finite (NaN or infinity)")
        vocoder = getattr(pipeline, "vocoder", None)
        rate = vocoder.config.output_sampling_rate if vocoder is not None else pipeline.audio_sampling_rate
        return SoundTrack(samples.reshape(-1, samples.shape[-1]), int(rate))

    def close(self) -> None:
        self.pipeline = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def create_backend(options: BackendOptions) -> DiffusersBackend:
    return DiffusersBackend(options)
