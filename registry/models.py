"""The model table: one ModelSpec per model framecast knows (data only)."""

from __future__ import annotations

import dataclasses

from framecast.registry.spec import AdapterPreset, Defaults, Footprint, Limits, ModelSpec, StepCache

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


def _video_limits(
    frame_step: int, max_frames: int, size_multiple: int, min_pixels: int, max_pixels: int, sizes: tuple[str, ...] = ()
) -> Limits:
    return Limits(
        frame_step=frame_step, min_frames=frame_step + 1, max_frames=max_frames, size_multiple=size_multiple,
        min_pixels=min_pixels, max_pixels=max_pixels, max_steps=200, sizes=sizes,
    )  # fmt: skip


def _image_limits(max_pixels: int, min_pixels: int = 256 * 256) -> Limits:
    """Text-to-image models: one frame; sizes a multiple of 16 (VAE 8x, DiT patch 2x2)."""
    return Limits(
        frame_step=1, min_frames=1, max_frames=1, size_multiple=16, min_pixels=min_pixels, max_pixels=max_pixels,
        max_steps=200,
    )  # fmt: skip


_COGVIDEOX_LIMITS = Limits(
    frame_step=8, min_frames=9, max_frames=49, size_multiple=16, min_pixels=720 * 480,
    max_pixels=720 * 480, max_steps=200, sizes=("720x480",), only_listed_sizes=True,
)  # fmt: skip

_HUNYUANVIDEO_LIMITS = Limits(
    frame_step=4, min_frames=5, max_frames=129, size_multiple=16, min_pixels=256 * 256, max_pixels=1280 * 720,
    max_steps=200,
    sizes=("1280x720", "720x1280", "1104x832", "832x1104", "960x960", "960x544", "544x960", "832x624", "624x832", "720x720"),
)  # fmt: skip

# The tiny random models of framecast.components.tiny_model (tests and the quickstart).
_TINY_LIMITS = Limits(
    frame_step=4, min_frames=1, max_frames=129, size_multiple=16, min_pixels=16 * 16, max_pixels=256 * 256, max_steps=1000
)



def _tiny_video_limits(frame_step: int, max_frames: int, size_multiple: int) -> Limits:
    """A tiny model's limits: its family's frame rule and size multiple, sizes up to 256x256."""
    return Limits(
        frame_step=frame_step, min_frames=frame_step + 1, max_frames=max_frames, size_multiple=size_multiple,
        min_pixels=size_multiple * size_multiple, max_pixels=256 * 256, max_steps=200,
    )  # fmt: skip


# Each step of HunyuanVideo 1.5 attends over ~2,000 text and image tokens whatever the model's
# width, so its tiny models publish fewer steps (the limits sweep runs the most).
_HUNYUANVIDEO_15_TINY_LIMITS = dataclasses.replace(_tiny_video_limits(4, 121, 16), max_steps=50)

# The step cache `--cache recommended` runs per family: a conservative first setting to tune
# from, not a measured optimum. Wan: first-block caching (no per-model calibration needed;
# MagCache needs ratios diffusers does not ship for Wan). FLUX: MagCache with diffusers' FLUX
# ratios. The tiny models: TaylorSeer every other step, so tests see blocks skipped.
RECOMMENDED_CACHE = {
    "wan2.1": StepCache("first-block", threshold=0.05),
    "wan2.2": StepCache("first-block", threshold=0.05),
    "flux": StepCache("mag", threshold=0.06),
    "tiny": StepCache("taylorseer", interval=2, warmup_steps=1),
}

# Step- and CFG-distilled adapters (4 steps, guidance 1): `--lora fast` on the worker, then
# `"lora": [{"name": "fast"}]` in a request brings their steps and guidance.
_LIGHTX2V = "lightx2v/Wan2.1-{model}-StepDistill-CfgDistill-Lightx2v/loras/Wan21_{short}_lightx2v_cfg_step_distill_lora_rank64.safetensors"
_FAST = "4 steps without CFG (step- and CFG-distilled LoRA by lightx2v)"


def _fast(model: str, short: str) -> tuple[AdapterPreset, ...]:
    return (AdapterPreset("fast", _LIGHTX2V.format(model=model, short=short), 4, 1.0, _FAST),)


_ENTRIES: tuple[ModelSpec, ...] = (
    ModelSpec(
        id="Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
        aliases=("Wan2.1-T2V-1.3B",),
        family="wan2.1",
        pipeline_class="WanPipeline",
        tasks=("t2v", "t2i", "v2v"),
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
        tasks=("t2v", "t2i", "v2v"),
        backends=("sglang", "diffusers"),
        dtype="bfloat16",
        defaults=Defaults(1280, 720, 81, 16, 50, 5.0, flow_shift=5.0, negative_prompt=WAN_NEGATIVE_PROMPT),
        limits=_wan_limits(_WAN21_SIZES_ALL),
        footprint=Footprint(dit_params_b=14.0, text_encoder_params_b=5.7, other_params_b=0.13, activation_gb=14.0),
        serving_tp=2,
        source="Wan-Video/Wan2.1 wan/configs/wan_t2v_14B.py, generate.py",
        adapter_presets=_fast("T2V-14B", "T2V_14B"),
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
        adapter_presets=_fast("I2V-14B-480P", "I2V_14B"),
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
        tasks=("t2v", "ti2v", "t2i"),
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
        tasks=("t2v", "t2i"),
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
        limits=_HUNYUANVIDEO_LIMITS,
        footprint=Footprint(dit_params_b=13.0, text_encoder_params_b=8.2, other_params_b=0.25, activation_gb=20.0),
        # guidance_scale is the embedded (distilled) guidance; true CFG stays off.
        serving_tp=2,
        source="Tencent/HunyuanVideo README, hyvideo/config.py, sample_video.py; diffusers HunyuanVideoPipeline",
    ),
    ModelSpec(
        id="hunyuanvideo-community/HunyuanVideo-I2V",
        aliases=("HunyuanVideo-I2V", "tencent/HunyuanVideo-I2V"),
        family="hunyuanvideo",
        pipeline_class="HunyuanVideoImageToVideoPipeline",
        tasks=("i2v",),
        backends=("diffusers",),
        dtype="bfloat16",
        defaults=Defaults(1280, 720, 129, 24, 50, 6.0, flow_shift=7.0),
        limits=_HUNYUANVIDEO_LIMITS,
        # LLaVA-Llama-3-8B (with its CLIP-L/336 tower) reads the image within the prompt.
        footprint=Footprint(dit_params_b=13.0, text_encoder_params_b=8.8, other_params_b=0.25, activation_gb=20.0),
        # The 16-channel checkpoint: the image's latent replaces the first frame, and
        # guidance_scale is the embedded (distilled) guidance, as for text-to-video.
        source="Tencent/HunyuanVideo-I2V README (720p, 129 frames, 50 steps, --flow-shift 7 with --i2v-stability, --embedded-cfg-scale 6); diffusers HunyuanVideoImageToVideoPipeline",
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
        limits=_COGVIDEOX_LIMITS,
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
        limits=_COGVIDEOX_LIMITS,
        footprint=Footprint(dit_params_b=5.6, text_encoder_params_b=4.8, other_params_b=0.22, activation_gb=8.0),
        source="zai-org/CogVideo README (720x480 only; frames 8N+1, N <= 6; 8 fps; BF16 for 5B)",
    ),
    ModelSpec(
        id="THUDM/CogVideoX-5b-I2V",
        aliases=("zai-org/CogVideoX-5b-I2V", "CogVideoX-5b-I2V"),
        family="cogvideox",
        pipeline_class="CogVideoXImageToVideoPipeline",
        tasks=("i2v",),
        backends=("diffusers",),
        dtype="bfloat16",
        defaults=Defaults(720, 480, 49, 8, 50, 6.0),
        limits=_COGVIDEOX_LIMITS,
        footprint=Footprint(dit_params_b=5.6, text_encoder_params_b=4.8, other_params_b=0.22, activation_gb=8.0),
        source="zai-org/CogVideo README (720x480 only: learned positions; frames 8N+1, N <= 6; 8 fps)",
    ),
    ModelSpec(
        id="Lightricks/LTX-Video",
        aliases=("LTX-Video",),
        family="ltx-video",
        pipeline_class="LTXPipeline",
        # One checkpoint: LTXImageToVideoPipeline runs the same modules with an image.
        tasks=("t2v", "ti2v"),
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
        id="hunyuanvideo-community/HunyuanVideo-1.5-480p_t2v",
        aliases=("HunyuanVideo-1.5-480p_t2v", "HunyuanVideo-1.5"),
        family="hunyuanvideo-1.5",
        pipeline_class="HunyuanVideo15Pipeline",
        tasks=("t2v",),
        backends=("diffusers",),
        dtype="bfloat16",
        defaults=Defaults(848, 480, 121, 24, 50, 6.0, flow_shift=5.0),
        limits=_video_limits(4, 121, 16, 480 * 480, 848 * 480, sizes=("848x480", "480x848", "640x640")),
        # 8.3B DiT; Qwen2.5-VL-7B and a ByT5 glyph encoder.
        footprint=Footprint(dit_params_b=8.3, text_encoder_params_b=8.5, other_params_b=0.5, activation_gb=10.0),
        source="Tencent-Hunyuan/HunyuanVideo-1.5 README (480p: 121 frames at 24 fps, 50 steps); diffusers HunyuanVideo15Pipeline (guidance through its guider)",
    ),
    ModelSpec(
        id="hunyuanvideo-community/HunyuanVideo-1.5-480p_i2v",
        aliases=("HunyuanVideo-1.5-480p_i2v",),
        family="hunyuanvideo-1.5",
        pipeline_class="HunyuanVideo15ImageToVideoPipeline",
        tasks=("i2v",),
        backends=("diffusers",),
        dtype="bfloat16",
        defaults=Defaults(848, 480, 121, 24, 50, 6.0, flow_shift=5.0),
        # Its pipeline takes no size: it makes the size bucket nearest the image's aspect ratio. The
        # worker lists every bucket of the loaded pipeline; these are the published ones.
        limits=dataclasses.replace(
            _video_limits(4, 121, 16, 480 * 480, 848 * 480, sizes=("848x480", "480x848", "640x640")), only_listed_sizes=True
        ),
        footprint=Footprint(dit_params_b=8.3, text_encoder_params_b=8.5, other_params_b=0.9, activation_gb=10.0),
        source="Tencent-Hunyuan/HunyuanVideo-1.5 README; diffusers HunyuanVideo15ImageToVideoPipeline",
    ),
    ModelSpec(
        id="Lightricks/LTX-2",
        aliases=("LTX-2",),
        family="ltx-2",
        pipeline_class="LTX2Pipeline",
        tasks=("t2v", "ti2v"),
        makes_audio=True,
        backends=("diffusers",),
        dtype="bfloat16",
        defaults=Defaults(768, 512, 121, 24, 40, 4.0),
        limits=_video_limits(8, 257, 32, 256 * 256, 1280 * 720, sizes=("768x512", "512x768")),
        # 19B audio-video DiT; Gemma 3 12B text encoder.
        footprint=Footprint(dit_params_b=19.0, text_encoder_params_b=12.0, other_params_b=0.5, activation_gb=16.0),
        source="diffusers LTX2Pipeline defaults (768x512, 121 frames, 24 fps, 40 steps, guidance 4.0); Lightricks/LTX-2 README",
    ),
    ModelSpec(
        id="Skywork/SkyReels-V2-T2V-14B-540P-Diffusers",
        aliases=("SkyReels-V2-T2V-14B-540P",),
        family="skyreels-v2",
        pipeline_class="SkyReelsV2Pipeline",
        tasks=("t2v",),
        backends=("diffusers",),
        dtype="bfloat16",
        defaults=Defaults(960, 544, 97, 24, 50, 6.0, flow_shift=8.0),
        limits=_video_limits(4, 97, 16, 256 * 256, 960 * 544, sizes=("960x544", "544x960")),
        footprint=Footprint(dit_params_b=14.0, text_encoder_params_b=5.7, other_params_b=0.13, activation_gb=12.0),
        serving_tp=2,
        source="diffusers SkyReelsV2Pipeline docs (540P: 960x544, 97 frames, guidance 6.0, shift 8.0 for T2V, 24 fps)",
    ),
    ModelSpec(
        id="kandinskylab/Kandinsky-5.0-T2V-Lite-sft-5s-Diffusers",
        aliases=("Kandinsky-5.0-T2V-Lite-sft-5s", "Kandinsky-5-T2V-Lite"),
        family="kandinsky-5",
        pipeline_class="Kandinsky5T2VPipeline",
        tasks=("t2v",),
        backends=("diffusers",),
        dtype="bfloat16",
        defaults=Defaults(768, 512, 121, 24, 50, 5.0),
        limits=_video_limits(4, 121, 16, 256 * 256, 768 * 512, sizes=("768x512", "512x768", "512x512")),
        # 2B DiT; Qwen2.5-VL-7B and CLIP-L text encoders, HunyuanVideo's VAE.
        footprint=Footprint(dit_params_b=2.0, text_encoder_params_b=8.4, other_params_b=0.25, activation_gb=8.0),
        source="diffusers Kandinsky5T2VPipeline docs (768x512, 121 frames = 5 s at 24 fps, 50 steps, guidance 5.0)",
    ),
    # Step-distilled Wan (DMD / rCM): Wan's own transformer and VAE, a few fixed denoising steps
    # and no CFG. Their model_index names a DMD pipeline that diffusers does not have, so sglang
    # serves them.
    ModelSpec(
        id="FastVideo/FastWan2.1-T2V-1.3B-Diffusers",
        aliases=("FastWan2.1-T2V-1.3B",),
        family="wan2.1",
        pipeline_class="WanDMDPipeline",
        tasks=("t2v",),
        backends=("sglang",),
        dtype="bfloat16",
        defaults=Defaults(832, 480, 61, 16, 3, 1.0, flow_shift=8.0, negative_prompt=WAN_NEGATIVE_PROMPT),
        limits=_wan_limits(_WAN21_SIZES_480),
        footprint=Footprint(dit_params_b=1.3, text_encoder_params_b=5.7, other_params_b=0.13, activation_gb=5.0),
        source="sglang multimodal_gen FastWanT2V480PConfig (3 DMD steps at 1000/757/522, 61 frames, shift 8)",
    ),
    ModelSpec(
        id="FastVideo/FastWan2.2-TI2V-5B-FullAttn-Diffusers",
        aliases=("FastWan2.2-TI2V-5B-FullAttn", "FastVideo/FastWan2.2-TI2V-5B-Diffusers"),
        family="wan2.2",
        pipeline_class="WanDMDPipeline",
        tasks=("t2v", "ti2v"),
        backends=("sglang",),
        dtype="bfloat16",
        defaults=Defaults(1280, 704, 121, 24, 3, 1.0, flow_shift=5.0, negative_prompt=WAN_NEGATIVE_PROMPT),
        limits=dataclasses.replace(
            _wan_limits(("1280x704", "704x1280"), max_frames=121, size_multiple=32), max_pixels=1280 * 704
        ),
        footprint=Footprint(dit_params_b=5.0, text_encoder_params_b=5.7, other_params_b=0.7, activation_gb=12.0),
        source="sglang multimodal_gen FastWan2_2_TI2V_5B_Config (3 DMD steps at 1000/757/522, shift 5)",
    ),
    ModelSpec(
        id="IPostYellow/TurboWan2.1-T2V-1.3B-Diffusers",
        aliases=("TurboWan2.1-T2V-1.3B",),
        family="wan2.1",
        pipeline_class="WanPipeline",
        tasks=("t2v",),
        backends=("sglang",),
        dtype="bfloat16",
        defaults=Defaults(832, 480, 81, 16, 4, 1.0, flow_shift=8.0, negative_prompt=WAN_NEGATIVE_PROMPT),
        limits=_wan_limits(_WAN21_SIZES_480),
        footprint=Footprint(dit_params_b=1.3, text_encoder_params_b=5.7, other_params_b=0.13, activation_gb=5.0),
        source="sglang multimodal_gen TurboWanT2V480PConfig (4 steps at 988/932/852/608, shift 8; sparse linear attention kernels)",
    ),
    ModelSpec(
        id="IPostYellow/TurboWan2.1-T2V-14B-Diffusers",
        aliases=("TurboWan2.1-T2V-14B",),
        family="wan2.1",
        pipeline_class="WanPipeline",
        tasks=("t2v",),
        backends=("sglang",),
        dtype="bfloat16",
        defaults=Defaults(832, 480, 81, 16, 4, 1.0, flow_shift=8.0, negative_prompt=WAN_NEGATIVE_PROMPT),
        limits=_wan_limits(_WAN21_SIZES_ALL),
        footprint=Footprint(dit_params_b=14.0, text_encoder_params_b=5.7, other_params_b=0.13, activation_gb=8.0),
        serving_tp=2,
        source="sglang multimodal_gen TurboWanT2V480PConfig (4 steps, shift 8)",
    ),
    ModelSpec(
        id="black-forest-labs/FLUX.1-schnell",
        aliases=("FLUX.1-schnell",),
        family="flux",
        pipeline_class="FluxPipeline",
        tasks=("t2i",),
        backends=("sglang", "diffusers"),
        dtype="bfloat16",
        # Timestep-distilled: 4 steps, no guidance.
        defaults=Defaults(1024, 1024, 1, 1, 4, 0.0),
        limits=_image_limits(2048 * 2048),
        # 12B DiT; T5-XXL (4.7B) and CLIP-L text encoders.
        footprint=Footprint(dit_params_b=12.0, text_encoder_params_b=4.9, other_params_b=0.08, activation_gb=4.0),
        source="black-forest-labs/flux README; diffusers FluxPipeline docs (schnell: 4 steps, guidance 0)",
    ),
    ModelSpec(
        id="black-forest-labs/FLUX.1-dev",
        aliases=("FLUX.1-dev",),
        family="flux",
        pipeline_class="FluxPipeline",
        tasks=("t2i",),
        backends=("sglang", "diffusers"),
        dtype="bfloat16",
        # Guidance-distilled: the guidance scale is an input of the DiT.
        defaults=Defaults(1024, 1024, 1, 1, 50, 3.5),
        limits=_image_limits(2048 * 2048),
        footprint=Footprint(dit_params_b=12.0, text_encoder_params_b=4.9, other_params_b=0.08, activation_gb=4.0),
        source="black-forest-labs/flux README; diffusers FluxPipeline docs (dev: 50 steps, guidance 3.5)",
    ),
    ModelSpec(
        id="black-forest-labs/FLUX.1-Kontext-dev",
        aliases=("FLUX.1-Kontext-dev",),
        family="flux-kontext",
        pipeline_class="FluxKontextPipeline",
        tasks=("i2i",),
        backends=("diffusers",),
        dtype="bfloat16",
        # FLUX.1-dev's architecture, guidance-distilled; the input image's latents ride beside the noise.
        defaults=Defaults(1024, 1024, 1, 1, 28, 2.5),
        limits=_image_limits(2048 * 2048),
        footprint=Footprint(dit_params_b=12.0, text_encoder_params_b=4.9, other_params_b=0.08, activation_gb=6.0),
        source="black-forest-labs/flux README (Kontext: 28 steps, guidance 2.5, about 1 megapixel); diffusers FluxKontextPipeline",
    ),
    ModelSpec(
        id="Qwen/Qwen-Image",
        aliases=("Qwen-Image",),
        family="qwen-image",
        pipeline_class="QwenImagePipeline",
        tasks=("t2i",),
        backends=("sglang", "diffusers"),
        dtype="bfloat16",
        # 50 steps at 1328x1328; guidance is its true CFG scale (4.0).
        defaults=Defaults(1328, 1328, 1, 1, 50, 4.0),
        limits=_image_limits(1664 * 1664),
        # 20B MMDiT; Qwen2.5-VL-7B text encoder.
        footprint=Footprint(dit_params_b=20.4, text_encoder_params_b=8.3, other_params_b=0.13, activation_gb=6.0),
        source="QwenLM/Qwen-Image README (1328x1328 for 1:1, 50 steps, true_cfg_scale 4.0)",
    ),
    ModelSpec(
        id="Qwen/Qwen-Image-Edit",
        aliases=("Qwen-Image-Edit",),
        family="qwen-image-edit",
        pipeline_class="QwenImageEditPipeline",
        tasks=("i2i",),
        backends=("diffusers",),
        dtype="bfloat16",
        # Qwen-Image's modules; the input image goes to Qwen2.5-VL with the prompt and its latents
        # beside the noise (at about a megapixel, whatever the output size).
        defaults=Defaults(1024, 1024, 1, 1, 50, 4.0),
        limits=_image_limits(1664 * 1664),
        footprint=Footprint(dit_params_b=20.4, text_encoder_params_b=8.3, other_params_b=0.13, activation_gb=8.0),
        source="Qwen/Qwen-Image-Edit model card (50 steps, true_cfg_scale 4.0); diffusers QwenImageEditPipeline",
    ),
    ModelSpec(
        id="stabilityai/stable-diffusion-3.5-large",
        aliases=("stable-diffusion-3.5-large", "SD3.5-large"),
        family="sd3",
        pipeline_class="StableDiffusion3Pipeline",
        tasks=("t2i",),
        backends=("sglang", "diffusers"),
        dtype="bfloat16",
        defaults=Defaults(1024, 1024, 1, 1, 28, 3.5),
        limits=_image_limits(1536 * 1536),
        # 8.1B MMDiT; CLIP-L, CLIP-G and T5-XXL text encoders.
        footprint=Footprint(dit_params_b=8.1, text_encoder_params_b=5.6, other_params_b=0.08, activation_gb=4.0),
        source="stabilityai/stable-diffusion-3.5-large model card (28 steps, guidance 3.5)",
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
        stands_for="wan2.1",
        pipeline_class="WanPipeline",
        tasks=("t2v", "t2i", "v2v"),
        backends=("diffusers", "sglang"),
        dtype="float32",
        defaults=Defaults(64, 64, 9, 8, 4, 5.0, flow_shift=3.0),
        limits=_TINY_LIMITS,
        footprint=None,
        source="framecast.components.tiny_model (random weights, built offline)",
        # Stands for a distilled adapter in tests: `--lora fast=PATH` with a tiny random LoRA.
        adapter_presets=(AdapterPreset("fast", "", 2, 1.0, "a tiny random LoRA with few-step defaults (tests)"),),
    ),
    ModelSpec(
        id="framecast/tiny-random-flux",
        aliases=("tiny-random-t2i",),
        family="tiny",
        stands_for="flux",
        pipeline_class="FluxPipeline",
        tasks=("t2i",),
        backends=("diffusers", "sglang"),
        dtype="float32",
        defaults=Defaults(64, 64, 1, 1, 4, 3.5),
        limits=_image_limits(256 * 256, min_pixels=16 * 16),
        footprint=None,
        source="framecast.components.tiny_model --kind t2i (random weights, built offline)",
    ),
    ModelSpec(
        id="framecast/tiny-random-flux-kontext",
        aliases=("tiny-random-flux-kontext",),
        family="tiny",
        stands_for="flux-kontext",
        pipeline_class="FluxKontextPipeline",
        tasks=("i2i",),
        backends=("diffusers",),
        dtype="float32",
        defaults=Defaults(64, 64, 1, 1, 4, 2.5),
        limits=_image_limits(256 * 256, min_pixels=16 * 16),
        footprint=None,
        source="framecast.components.tiny_model --kind flux-kontext (random weights, built offline)",
    ),
    ModelSpec(
        id="framecast/tiny-random-wan2.1-i2v",
        aliases=("tiny-random-i2v",),
        family="tiny",
        stands_for="wan2.1",
        pipeline_class="WanImageToVideoPipeline",
        tasks=("i2v",),
        backends=("diffusers", "sglang"),
        dtype="float32",
        defaults=Defaults(64, 64, 9, 8, 4, 5.0, flow_shift=3.0),
        limits=_TINY_LIMITS,
        footprint=None,
        source="framecast.components.tiny_model --kind i2v (random weights, built offline)",
    ),
    ModelSpec(
        id="framecast/tiny-random-wan2.2-ti2v",
        aliases=("tiny-random-ti2v",),
        family="tiny",
        stands_for="wan2.2",
        pipeline_class="WanPipeline",
        tasks=("t2v", "ti2v", "t2i"),
        backends=("diffusers", "sglang"),
        dtype="float32",
        defaults=Defaults(64, 64, 9, 8, 4, 5.0, flow_shift=5.0),
        # The Wan2.2 VAE compresses 16x and the DiT patches 2x2.
        limits=dataclasses.replace(_TINY_LIMITS, size_multiple=32, min_pixels=32 * 32),
        footprint=None,
        source="framecast.components.tiny_model --kind ti2v (random weights, built offline)",
    ),
    ModelSpec(
        id="framecast/tiny-random-wan2.2-a14b",
        aliases=("tiny-random-a14b",),
        family="tiny",
        stands_for="wan2.2",
        pipeline_class="WanPipeline",
        tasks=("t2v", "t2i"),
        backends=("diffusers", "sglang"),
        dtype="float32",
        defaults=Defaults(64, 64, 9, 8, 4, 4.0, flow_shift=12.0, guidance_scale_2=3.0),
        limits=dataclasses.replace(_TINY_LIMITS, max_steps=200),
        footprint=None,
        source="framecast.components.tiny_model --kind a14b (random weights, built offline)",
    ),
    ModelSpec(
        id="framecast/tiny-random-wan2.2-i2v-a14b",
        aliases=("tiny-random-i2v-a14b",),
        family="tiny",
        stands_for="wan2.2",
        pipeline_class="WanImageToVideoPipeline",
        tasks=("i2v",),
        backends=("diffusers",),
        dtype="float32",
        defaults=Defaults(64, 64, 9, 16, 4, 3.5, flow_shift=5.0, guidance_scale_2=3.5),
        limits=dataclasses.replace(_TINY_LIMITS, max_steps=200),
        footprint=None,
        source="framecast.components.tiny_model --kind i2v-a14b (random weights, built offline)",
    ),
    ModelSpec(
        id="framecast/tiny-random-cogvideox",
        aliases=("tiny-random-cogvideox",),
        family="tiny",
        stands_for="cogvideox",
        pipeline_class="CogVideoXPipeline",
        tasks=("t2v",),
        backends=("diffusers",),
        dtype="float32",
        defaults=Defaults(64, 64, 9, 8, 4, 6.0),
        limits=_tiny_video_limits(8, 49, 16),
        footprint=None,
        source="framecast.components.tiny_model --kind cogvideox (random weights, built offline)",
    ),
    ModelSpec(
        id="framecast/tiny-random-cogvideox-i2v",
        aliases=("tiny-random-cogvideox-i2v",),
        family="tiny",
        stands_for="cogvideox",
        pipeline_class="CogVideoXImageToVideoPipeline",
        tasks=("i2v",),
        backends=("diffusers",),
        dtype="float32",
        defaults=Defaults(64, 64, 9, 8, 4, 6.0),
        limits=_tiny_video_limits(8, 49, 16),
        footprint=None,
        source="framecast.components.tiny_model --kind cogvideox-i2v (random weights, built offline)",
    ),
    ModelSpec(
        id="framecast/tiny-random-ltx-video",
        aliases=("tiny-random-ltx-video",),
        family="tiny",
        stands_for="ltx-video",
        pipeline_class="LTXPipeline",
        tasks=("t2v", "ti2v"),
        backends=("diffusers",),
        dtype="float32",
        defaults=Defaults(64, 64, 9, 25, 4, 3.0),
        limits=_tiny_video_limits(8, 257, 32),
        footprint=None,
        source="framecast.components.tiny_model --kind ltx-video (random weights, built offline)",
    ),
    ModelSpec(
        id="framecast/tiny-random-hunyuanvideo-1.5",
        aliases=("tiny-random-hunyuanvideo-1.5",),
        family="tiny",
        stands_for="hunyuanvideo-1.5",
        pipeline_class="HunyuanVideo15Pipeline",
        tasks=("t2v",),
        backends=("diffusers",),
        dtype="float32",
        defaults=Defaults(64, 64, 9, 24, 4, 6.0, flow_shift=5.0),
        limits=_HUNYUANVIDEO_15_TINY_LIMITS,
        footprint=None,
        source="framecast.components.tiny_model --kind hunyuanvideo-1.5 (random weights, built offline)",
    ),
    ModelSpec(
        id="framecast/tiny-random-hunyuanvideo-1.5-i2v",
        aliases=("tiny-random-hunyuanvideo-1.5-i2v",),
        family="tiny",
        stands_for="hunyuanvideo-1.5",
        pipeline_class="HunyuanVideo15ImageToVideoPipeline",
        tasks=("i2v",),
        backends=("diffusers",),
        dtype="float32",
        defaults=Defaults(64, 64, 9, 24, 4, 6.0, flow_shift=5.0),
        limits=dataclasses.replace(_HUNYUANVIDEO_15_TINY_LIMITS, sizes=("64x64",), only_listed_sizes=True),
        footprint=None,
        source="framecast.components.tiny_model --kind hunyuanvideo-1.5-i2v (random weights, built offline)",
    ),
    ModelSpec(
        id="framecast/tiny-random-skyreels-v2",
        aliases=("tiny-random-skyreels-v2",),
        family="tiny",
        stands_for="skyreels-v2",
        pipeline_class="SkyReelsV2Pipeline",
        tasks=("t2v",),
        backends=("diffusers",),
        dtype="float32",
        defaults=Defaults(64, 64, 9, 24, 4, 6.0, flow_shift=8.0),
        limits=_tiny_video_limits(4, 125, 16),
        footprint=None,
        source="framecast.components.tiny_model --kind skyreels-v2 (random weights, built offline)",
    ),
    ModelSpec(
        id="framecast/tiny-random-kandinsky-5",
        aliases=("tiny-random-kandinsky-5",),
        family="tiny",
        stands_for="kandinsky-5",
        pipeline_class="Kandinsky5T2VPipeline",
        tasks=("t2v",),
        backends=("diffusers",),
        dtype="float32",
        defaults=Defaults(64, 64, 9, 24, 4, 5.0),
        limits=_tiny_video_limits(4, 121, 16),
        footprint=None,
        source="framecast.components.tiny_model --kind kandinsky-5 (random weights, built offline)",
    ),
    ModelSpec(
        id="framecast/tiny-random-ltx2",
        aliases=("tiny-random-ltx2",),
        family="tiny",
        stands_for="ltx-2",
        pipeline_class="LTX2Pipeline",
        tasks=("t2v", "ti2v"),
        makes_audio=True,
        backends=("diffusers",),
        dtype="float32",
        defaults=Defaults(64, 64, 9, 25, 4, 4.0),
        limits=_tiny_video_limits(8, 257, 32),
        footprint=None,
        source="framecast.components.tiny_model --kind ltx2 (random weights, built offline)",
    ),
    ModelSpec(
        id="framecast/tiny-random-hunyuanvideo",
        aliases=("tiny-random-hunyuanvideo",),
        family="tiny",
        stands_for="hunyuanvideo",
        pipeline_class="HunyuanVideoPipeline",
        tasks=("t2v",),
        backends=("diffusers",),
        dtype="float32",
        defaults=Defaults(64, 64, 9, 24, 4, 6.0, flow_shift=7.0),
        limits=_tiny_video_limits(4, 129, 16),
        footprint=None,
        source="framecast.components.tiny_model --kind hunyuanvideo (random weights, built offline)",
    ),
    ModelSpec(
        id="framecast/tiny-random-hunyuanvideo-i2v",
        aliases=("tiny-random-hunyuanvideo-i2v",),
        family="tiny",
        stands_for="hunyuanvideo",
        pipeline_class="HunyuanVideoImageToVideoPipeline",
        tasks=("i2v",),
        backends=("diffusers",),
        dtype="float32",
        defaults=Defaults(64, 64, 9, 24, 4, 6.0, flow_shift=7.0),
        limits=_tiny_video_limits(4, 129, 16),
        footprint=None,
        source="framecast.components.tiny_model --kind hunyuanvideo-i2v (random weights, built offline)",
    ),
    ModelSpec(
        id="framecast/tiny-random-qwen-image",
        aliases=("tiny-random-qwen-image",),
        family="tiny",
        stands_for="qwen-image",
        pipeline_class="QwenImagePipeline",
        tasks=("t2i",),
        backends=("diffusers",),
        dtype="float32",
        defaults=Defaults(64, 64, 1, 1, 4, 4.0),
        limits=_image_limits(256 * 256, min_pixels=16 * 16),
        footprint=None,
        source="framecast.components.tiny_model --kind qwen-image (random weights, built offline)",
    ),
    ModelSpec(
        id="framecast/tiny-random-qwen-image-edit",
        aliases=("tiny-random-qwen-image-edit",),
        family="tiny",
        stands_for="qwen-image-edit",
        pipeline_class="QwenImageEditPipeline",
        tasks=("i2i",),
        backends=("diffusers",),
        dtype="float32",
        defaults=Defaults(64, 64, 1, 1, 4, 4.0),
        limits=_image_limits(256 * 256, min_pixels=16 * 16),
        footprint=None,
        source="framecast.components.tiny_model --kind qwen-image-edit (random weights, built offline)",
    ),
    ModelSpec(
        id="framecast/tiny-random-sd3.5",
        aliases=("tiny-random-sd3.5",),
        family="tiny",
        stands_for="sd3",
        pipeline_class="StableDiffusion3Pipeline",
        tasks=("t2i",),
        backends=("diffusers",),
        dtype="float32",
        defaults=Defaults(64, 64, 1, 1, 4, 3.5),
        limits=_image_limits(256 * 256, min_pixels=16 * 16),
        footprint=None,
        source="framecast.components.tiny_model --kind sd3.5 (random weights, built offline)",
    ),
)

# diffusers' SD3 transformer has no cache hooks; Kandinsky 5's pipeline calls its transformer
# outside the cache context the hooks keep their state in.
# Pipelines that call their transformer outside a cache context: no step cache can run there.
_NO_STEP_CACHE = ("StableDiffusion3Pipeline", "Kandinsky5T2VPipeline", "HunyuanVideoImageToVideoPipeline")

REGISTRY: tuple[ModelSpec, ...] = tuple(
    dataclasses.replace(
        spec, recommended_cache=RECOMMENDED_CACHE.get(spec.family) if spec.pipeline_class not in _NO_STEP_CACHE else None
    )
    for spec in _ENTRIES
)
