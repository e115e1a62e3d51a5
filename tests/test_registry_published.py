"""Every registry entry against what its authors publish.

The table below restates the published values independently of the registry, with where
each comes from, so a typo in either place fails here. Then, for every entry, a request
breaking each of its constraints is refused naming the field, with the allowed values.
"""

from __future__ import annotations

import pytest

from framecast.components.registry import REGISTRY, lookup
from framecast.protocol import GenerationKnobs, RequestFieldError

# id: (pipeline, tasks, WxH, frames, fps, steps, guidance, guidance_2, flow_shift, frame rule k, size multiple, dtype)
PUBLISHED = {
    # Wan-Video/Wan2.1 generate.py, configs (t2v-1.3B: 480P sizes only); diffusers WanPipeline docs:
    # flow_shift 3.0 for 480P.
    "Wan-AI/Wan2.1-T2V-1.3B-Diffusers": ("WanPipeline", ("t2v", "t2i", "v2v"), "832x480", 81, 16, 50, 5.0, None, 3.0, 4, 16, "bfloat16"),
    # Same sources; 720P default, shift 5.0 at 720P.
    "Wan-AI/Wan2.1-T2V-14B-Diffusers": ("WanPipeline", ("t2v", "t2i", "v2v"), "1280x720", 81, 16, 50, 5.0, None, 5.0, 4, 16, "bfloat16"),
    # generate.py: 40 steps for i2v; shift 3.0 at 480P, 5.0 otherwise.
    "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers": ("WanImageToVideoPipeline", ("i2v",), "832x480", 81, 16, 40, 5.0, None, 3.0, 4, 16, "bfloat16"),
    "Wan-AI/Wan2.1-I2V-14B-720P-Diffusers": ("WanImageToVideoPipeline", ("i2v",), "1280x720", 81, 16, 40, 5.0, None, 5.0, 4, 16, "bfloat16"),
    # Wan2.2 wan_ti2v_5B.py: 121 frames at 24 fps, 50 steps, shift 5.0; VAE 4x16x16 with patch 2.
    "Wan-AI/Wan2.2-TI2V-5B-Diffusers": ("WanPipeline", ("t2v", "ti2v", "t2i"), "1280x704", 121, 24, 50, 5.0, None, 5.0, 4, 32, "bfloat16"),
    # wan_t2v_A14B.py: sample_guide_scale (3.0 low noise, 4.0 high noise), shift 12.0, 40 steps.
    "Wan-AI/Wan2.2-T2V-A14B-Diffusers": ("WanPipeline", ("t2v", "t2i"), "1280x720", 81, 16, 40, 4.0, 3.0, 12.0, 4, 16, "bfloat16"),
    # wan_i2v_A14B.py: guide (3.5, 3.5), shift 5.0, 40 steps.
    "Wan-AI/Wan2.2-I2V-A14B-Diffusers": ("WanImageToVideoPipeline", ("i2v",), "1280x720", 81, 16, 40, 3.5, 3.5, 5.0, 4, 16, "bfloat16"),
    # Tencent/HunyuanVideo: 720x1280, 129 frames (4n+1), 50 steps, embedded cfg 6.0, flow shift 7.0, 24 fps.
    "hunyuanvideo-community/HunyuanVideo": ("HunyuanVideoPipeline", ("t2v",), "1280x720", 129, 24, 50, 6.0, None, 7.0, 4, 16, "bfloat16"),
    # Tencent/HunyuanVideo-I2V README: 720p, 129 frames, 50 steps, embedded cfg 6.0; flow shift 7.0
    # with --i2v-stability (token replace: the 16-channel checkpoint).
    "hunyuanvideo-community/HunyuanVideo-I2V": ("HunyuanVideoImageToVideoPipeline", ("i2v",), "1280x720", 129, 24, 50, 6.0, None, 7.0, 4, 16, "bfloat16"),
    # zai-org/CogVideo README: 720x480 only, 8N+1 frames (N <= 6, default 49), 8 fps; 50 steps, guidance 6.
    "THUDM/CogVideoX-2b": ("CogVideoXPipeline", ("t2v",), "720x480", 49, 8, 50, 6.0, None, None, 8, 16, "float16"),
    "THUDM/CogVideoX-5b": ("CogVideoXPipeline", ("t2v",), "720x480", 49, 8, 50, 6.0, None, None, 8, 16, "bfloat16"),
    # diffusers LTXPipeline: 704x512, 161 frames at 25 fps, 50 steps, guidance 3; Lightricks: sizes /32, 8k+1.
    "THUDM/CogVideoX-5b-I2V": ("CogVideoXImageToVideoPipeline", ("i2v",), "720x480", 49, 8, 50, 6.0, None, None, 8, 16, "bfloat16"),
    # diffusers LTXPipeline: 704x512, 161 frames at 25 fps, 50 steps, guidance 3; Lightricks: sizes /32, 8k+1;
    # LTXImageToVideoPipeline runs the same checkpoint with an image.
    "Lightricks/LTX-Video": ("LTXPipeline", ("t2v", "ti2v"), "704x512", 161, 25, 50, 3.0, None, None, 8, 32, "bfloat16"),
    # Tencent-Hunyuan/HunyuanVideo-1.5 README: 480p, 121 frames at 24 fps, 50 steps; shift 5 at 480p.
    "hunyuanvideo-community/HunyuanVideo-1.5-480p_t2v": ("HunyuanVideo15Pipeline", ("t2v",), "848x480", 121, 24, 50, 6.0, None, 5.0, 4, 16, "bfloat16"),
    "hunyuanvideo-community/HunyuanVideo-1.5-480p_i2v": ("HunyuanVideo15ImageToVideoPipeline", ("i2v",), "848x480", 121, 24, 50, 6.0, None, 5.0, 4, 16, "bfloat16"),
    # diffusers LTX2Pipeline defaults: 768x512, 121 frames, frame_rate 24, 40 steps, guidance 4.
    "Lightricks/LTX-2": ("LTX2Pipeline", ("t2v", "ti2v"), "768x512", 121, 24, 40, 4.0, None, None, 8, 32, "bfloat16"),
    # diffusers SkyReelsV2Pipeline docs: 540P 960x544, 97 frames, 24 fps, 50 steps, guidance 6, shift 8 (T2V).
    "Skywork/SkyReels-V2-T2V-14B-540P-Diffusers": ("SkyReelsV2Pipeline", ("t2v",), "960x544", 97, 24, 50, 6.0, None, 8.0, 4, 16, "bfloat16"),
    # diffusers Kandinsky5T2VPipeline docs: 768x512, 121 frames (5 s at 24 fps), 50 steps, guidance 5.
    "kandinskylab/Kandinsky-5.0-T2V-Lite-sft-5s-Diffusers": ("Kandinsky5T2VPipeline", ("t2v",), "768x512", 121, 24, 50, 5.0, None, None, 4, 16, "bfloat16"),
    # sglang's configs for the step-distilled Wan: FastWan 3 DMD steps (shift 8 for 2.1, 5 for 2.2,
    # 61 frames for 2.1); TurboWan 4 steps, shift 8. No CFG.
    "FastVideo/FastWan2.1-T2V-1.3B-Diffusers": ("WanDMDPipeline", ("t2v",), "832x480", 61, 16, 3, 1.0, None, 8.0, 4, 16, "bfloat16"),
    "FastVideo/FastWan2.2-TI2V-5B-FullAttn-Diffusers": ("WanDMDPipeline", ("t2v", "ti2v"), "1280x704", 121, 24, 3, 1.0, None, 5.0, 4, 32, "bfloat16"),
    "IPostYellow/TurboWan2.1-T2V-1.3B-Diffusers": ("WanPipeline", ("t2v",), "832x480", 81, 16, 4, 1.0, None, 8.0, 4, 16, "bfloat16"),
    "IPostYellow/TurboWan2.1-T2V-14B-Diffusers": ("WanPipeline", ("t2v",), "832x480", 81, 16, 4, 1.0, None, 8.0, 4, 16, "bfloat16"),
    # Text-to-image. black-forest-labs/flux README, diffusers FluxPipeline docs: schnell 4 steps, guidance 0;
    # dev 50 steps, guidance 3.5; 1024x1024; VAE 8x with 2x2 patches (sizes /16).
    "black-forest-labs/FLUX.1-schnell": ("FluxPipeline", ("t2i",), "1024x1024", 1, 1, 4, 0.0, None, None, 1, 16, "bfloat16"),
    "black-forest-labs/FLUX.1-dev": ("FluxPipeline", ("t2i",), "1024x1024", 1, 1, 50, 3.5, None, None, 1, 16, "bfloat16"),
    # black-forest-labs/flux README and diffusers FluxKontextPipeline docs: Kontext-dev, 28 steps,
    # guidance 2.5, about a megapixel (1024x1024).
    "black-forest-labs/FLUX.1-Kontext-dev": ("FluxKontextPipeline", ("i2i",), "1024x1024", 1, 1, 28, 2.5, None, None, 1, 16, "bfloat16"),
    # QwenLM/Qwen-Image README: 1328x1328 (1:1), 50 steps, true_cfg_scale 4.0.
    "Qwen/Qwen-Image": ("QwenImagePipeline", ("t2i",), "1328x1328", 1, 1, 50, 4.0, None, None, 1, 16, "bfloat16"),
    # Qwen/Qwen-Image-Edit model card and diffusers QwenImageEditPipeline: 50 steps, true_cfg_scale
    # 4.0; the input image at about a megapixel (1024x1024 for 1:1).
    "Qwen/Qwen-Image-Edit": ("QwenImageEditPipeline", ("i2i",), "1024x1024", 1, 1, 50, 4.0, None, None, 1, 16, "bfloat16"),
    # stabilityai/stable-diffusion-3.5-large model card: 28 steps, guidance 3.5, 1024x1024.
    "stabilityai/stable-diffusion-3.5-large": ("StableDiffusion3Pipeline", ("t2i",), "1024x1024", 1, 1, 28, 3.5, None, None, 1, 16, "bfloat16"),
    "framecast/tiny-random-flux": ("FluxPipeline", ("t2i",), "64x64", 1, 1, 4, 3.5, None, None, 1, 16, "float32"),
    "framecast/tiny-random-flux-kontext": ("FluxKontextPipeline", ("i2i",), "64x64", 1, 1, 4, 2.5, None, None, 1, 16, "float32"),
    # framecast's no-model backend for measurements (components/backends/synthetic_backend.py).
    "framecast/synthetic": ("", ("t2v",), "832x480", 81, 16, 4, 5.0, None, None, 4, 16, "float32"),
    # framecast's own test models (components/tiny_model/).
    "framecast/tiny-random-wan2.1-t2v": ("WanPipeline", ("t2v", "t2i", "v2v"), "64x64", 9, 8, 4, 5.0, None, 3.0, 4, 16, "float32"),
    "framecast/tiny-random-wan2.1-i2v": ("WanImageToVideoPipeline", ("i2v",), "64x64", 9, 8, 4, 5.0, None, 3.0, 4, 16, "float32"),
    "framecast/tiny-random-wan2.2-ti2v": ("WanPipeline", ("t2v", "ti2v", "t2i"), "64x64", 9, 8, 4, 5.0, None, 5.0, 4, 32, "float32"),
    # The other tiny models follow their families' rules (frames, size multiple, guidance, shift).
    "framecast/tiny-random-wan2.2-a14b": ("WanPipeline", ("t2v", "t2i"), "64x64", 9, 8, 4, 4.0, 3.0, 12.0, 4, 16, "float32"),
    "framecast/tiny-random-wan2.2-i2v-a14b": ("WanImageToVideoPipeline", ("i2v",), "64x64", 9, 16, 4, 3.5, 3.5, 5.0, 4, 16, "float32"),
    "framecast/tiny-random-cogvideox": ("CogVideoXPipeline", ("t2v",), "64x64", 9, 8, 4, 6.0, None, None, 8, 16, "float32"),
    "framecast/tiny-random-cogvideox-i2v": ("CogVideoXImageToVideoPipeline", ("i2v",), "64x64", 9, 8, 4, 6.0, None, None, 8, 16, "float32"),
    "framecast/tiny-random-ltx-video": ("LTXPipeline", ("t2v", "ti2v"), "64x64", 9, 25, 4, 3.0, None, None, 8, 32, "float32"),
    "framecast/tiny-random-ltx2": ("LTX2Pipeline", ("t2v", "ti2v"), "64x64", 9, 25, 4, 4.0, None, None, 8, 32, "float32"),
    "framecast/tiny-random-hunyuanvideo-1.5": ("HunyuanVideo15Pipeline", ("t2v",), "64x64", 9, 24, 4, 6.0, None, 5.0, 4, 16, "float32"),
    "framecast/tiny-random-hunyuanvideo-1.5-i2v": ("HunyuanVideo15ImageToVideoPipeline", ("i2v",), "64x64", 9, 24, 4, 6.0, None, 5.0, 4, 16, "float32"),
    "framecast/tiny-random-skyreels-v2": ("SkyReelsV2Pipeline", ("t2v",), "64x64", 9, 24, 4, 6.0, None, 8.0, 4, 16, "float32"),
    "framecast/tiny-random-kandinsky-5": ("Kandinsky5T2VPipeline", ("t2v",), "64x64", 9, 24, 4, 5.0, None, None, 4, 16, "float32"),
    "framecast/tiny-random-hunyuanvideo": ("HunyuanVideoPipeline", ("t2v",), "64x64", 9, 24, 4, 6.0, None, 7.0, 4, 16, "float32"),
    "framecast/tiny-random-hunyuanvideo-i2v": ("HunyuanVideoImageToVideoPipeline", ("i2v",), "64x64", 9, 24, 4, 6.0, None, 7.0, 4, 16, "float32"),
    "framecast/tiny-random-qwen-image": ("QwenImagePipeline", ("t2i",), "64x64", 1, 1, 4, 4.0, None, None, 1, 16, "float32"),
    "framecast/tiny-random-qwen-image-edit": ("QwenImageEditPipeline", ("i2i",), "64x64", 1, 1, 4, 4.0, None, None, 1, 16, "float32"),
    "framecast/tiny-random-sd3.5": ("StableDiffusion3Pipeline", ("t2i",), "64x64", 1, 1, 4, 3.5, None, None, 1, 16, "float32"),
}

# Published sizes and lengths where the authors limit them.
PUBLISHED_SIZES = {
    "Wan-AI/Wan2.1-T2V-1.3B-Diffusers": {"832x480", "480x832"},
    "Wan-AI/Wan2.1-T2V-14B-Diffusers": {"1280x720", "720x1280", "832x480", "480x832"},
    "Wan-AI/Wan2.2-TI2V-5B-Diffusers": {"1280x704", "704x1280"},
    "Wan-AI/Wan2.2-T2V-A14B-Diffusers": {"1280x720", "720x1280", "832x480", "480x832"},
    "THUDM/CogVideoX-2b": {"720x480"},
    "THUDM/CogVideoX-5b": {"720x480"},
    "THUDM/CogVideoX-5b-I2V": {"720x480"},
}
PUBLISHED_MAX_FRAMES = {"THUDM/CogVideoX-2b": 49, "THUDM/CogVideoX-5b": 49, "THUDM/CogVideoX-5b-I2V": 49, "Lightricks/LTX-Video": 257, "Wan-AI/Wan2.2-TI2V-5B-Diffusers": 121}

WAN_NEGATIVE_PROMPT_START = "色调艳丽，过曝，静态，细节模糊不清"
NAMES = [spec.id for spec in REGISTRY]


def test_the_table_covers_every_entry():
    assert set(PUBLISHED) == set(NAMES)


@pytest.mark.parametrize("model_id", NAMES)
def test_defaults_and_constraints_match_what_is_published(model_id):
    spec = lookup(model_id)
    pipeline, tasks, size, frames, fps, steps, guidance, guidance_2, shift, frame_step, multiple, dtype = PUBLISHED[model_id]
    d, lim = spec.defaults, spec.limits
    assert (spec.pipeline_class, spec.tasks, spec.dtype) == (pipeline, tasks, dtype)
    assert (f"{d.width}x{d.height}", d.num_frames, d.fps, d.num_inference_steps) == (size, frames, fps, steps)
    assert (d.guidance_scale, d.guidance_scale_2, d.flow_shift) == (guidance, guidance_2, shift)
    assert (lim.frame_step, lim.size_multiple) == (frame_step, multiple)
    # The defaults themselves satisfy the constraints.
    assert (d.num_frames - 1) % lim.frame_step == 0 and lim.min_frames <= d.num_frames <= lim.max_frames
    assert d.width % lim.size_multiple == 0 and d.height % lim.size_multiple == 0
    assert lim.min_pixels <= d.width * d.height <= lim.max_pixels and d.num_inference_steps <= lim.max_steps
    if model_id in PUBLISHED_SIZES:
        assert set(lim.sizes) == PUBLISHED_SIZES[model_id]
    if model_id in PUBLISHED_MAX_FRAMES:
        assert lim.max_frames == PUBLISHED_MAX_FRAMES[model_id]
    if spec.family.startswith("wan"):
        assert d.negative_prompt.startswith(WAN_NEGATIVE_PROMPT_START)


def violations(spec):
    """One request per constraint of the spec: (knobs, field it must name, text the message must hold)."""
    d, lim = spec.defaults, spec.limits
    bad_step = d.num_frames + 1 if lim.frame_step > 1 else None
    cases = [
        ({"num_frames": bad_step}, "num_frames", f"{lim.frame_step}k+1"),
        ({"num_frames": lim.max_frames + lim.frame_step}, "num_frames", f"and {lim.max_frames}"),
        ({"width": d.width + 8, "height": d.height}, "size", f"multiples of {lim.size_multiple}" if not lim.only_listed_sizes else "must be one of"),
        ({"num_inference_steps": lim.max_steps + 1}, "num_inference_steps", f"at most {lim.max_steps}"),
        ({"seconds": (lim.max_frames + lim.frame_step) / d.fps, "fps": d.fps}, "seconds", f"at most {lim.max_frames}"),
    ]
    if not spec.makes_video:  # images: one frame, whatever the request says of frames
        cases = [case for case in cases if case[1] not in ("num_frames", "seconds")]
    if lim.min_frames > 1:
        cases.append(({"num_frames": lim.min_frames - lim.frame_step}, "num_frames", f"between {lim.min_frames}"))
    side = lim.size_multiple * (int((lim.max_pixels ** 0.5) / lim.size_multiple) + 2)
    cases.append(({"width": side, "height": side}, "size", str(lim.max_pixels) if not lim.only_listed_sizes else "must be one of"))
    if lim.min_pixels > lim.size_multiple**2 and not lim.only_listed_sizes:
        cases.append(({"width": lim.size_multiple, "height": lim.size_multiple}, "size", str(lim.min_pixels)))
    return cases


@pytest.mark.parametrize("model_id", NAMES)
def test_each_constraint_is_refused_naming_the_field_and_what_is_allowed(model_id):
    spec = lookup(model_id)
    for knobs, field, allowed in violations(spec):
        with pytest.raises(RequestFieldError) as raised:
            spec.resolve(GenerationKnobs(prompt="p", **knobs), model_id, single_frame=not spec.makes_video)
        assert raised.value.param == field, (knobs, raised.value.message)
        assert allowed in raised.value.message and model_id in raised.value.message, (knobs, raised.value.message)
    # And the defaults themselves pass.
    params = spec.resolve(GenerationKnobs(prompt="p"), model_id, single_frame=not spec.makes_video)
    assert (params.width, params.height, params.num_frames) == (spec.defaults.width, spec.defaults.height, spec.defaults.num_frames)
