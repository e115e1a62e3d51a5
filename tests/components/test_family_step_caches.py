"""Every step-cache mode on every family's tiny model, in the diffusers backend: a mode either
runs (the video holds the frames asked, with a finite picture) or is refused when the worker
starts, naming --cache and the reason; never a failure at a user's request."""

from __future__ import annotations

import pytest

from framecast.components.backends.diffusers_backend import DiffusersBackend
from framecast.components.backends.options import BackendOptions, ModelOptions
from framecast.components.registry import CACHE_MODES, spec_for_model
from framecast.components.tiny_model import build_tiny_model
from framecast.protocol import GenerationKnobs

KINDS = (
    "t2v", "i2v", "ti2v", "a14b", "i2v-a14b", "cogvideox", "cogvideox-i2v", "ltx-video", "ltx2", "hunyuanvideo", "hunyuanvideo-i2v", "hunyuanvideo-1.5",
    "hunyuanvideo-1.5-i2v", "skyreels-v2", "kandinsky-5", "t2i", "qwen-image", "sd3.5",
)  # fmt: skip
# Pipelines whose transformer blocks diffusers 0.37's block hooks (first-block, MagCache) do not know.
BLOCKS_UNKNOWN_TO_HOOKS = ("LTX2Pipeline", "HunyuanVideo15Pipeline", "HunyuanVideo15ImageToVideoPipeline", "SkyReelsV2Pipeline")


@pytest.mark.parametrize("kind", KINDS)
def test_every_cache_mode_runs_or_is_refused_at_start(kind, tmp_path):
    from dataclasses import replace

    from PIL import Image

    path = build_tiny_model(tmp_path / f"tiny-random-{kind}", kind=kind)
    spec = spec_for_model(str(path))
    params = spec.resolve(GenerationKnobs(prompt="a red cat", seed=3, num_inference_steps=6), kind, single_frame=not spec.makes_video)
    if spec.needs_image:
        params = replace(params, image=Image.new("RGB", (params.width, params.height), (200, 90, 10)))
    outcomes = {}
    for mode in CACHE_MODES:
        try:
            backend = DiffusersBackend(BackendOptions(str(path), spec, ModelOptions(cache=mode)))
        except ValueError as refused:
            assert "--cache" in str(refused), refused
            outcomes[mode] = "refused"
            continue
        for exact in (False, True):
            frames = backend.generate(replace(params, step_cache=not exact), lambda *progress: None).frames
            assert frames.shape == (params.num_frames, params.height, params.width, 3), (mode, frames.shape)
            assert frames.min() < frames.max(), f"{mode}: a flat picture"
        outcomes[mode] = "ran"
        backend.close()
    if spec.pipeline_class in ("StableDiffusion3Pipeline", "Kandinsky5T2VPipeline", "HunyuanVideoImageToVideoPipeline"):
        # diffusers' SD3 transformer has no cache hooks, and Kandinsky 5's and HunyuanVideo-I2V's
        # pipelines no cache context for them: every mode is refused at start.
        assert set(outcomes.values()) == {"refused"}, outcomes
    else:
        # Every other family runs TaylorSeer; first-block caching where diffusers' block hooks know
        # its transformer blocks.
        assert outcomes["taylorseer"] == "ran", outcomes
        assert outcomes["first-block"] == ("refused" if spec.pipeline_class in BLOCKS_UNKNOWN_TO_HOOKS else "ran"), outcomes
