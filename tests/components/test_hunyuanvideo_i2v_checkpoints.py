"""Both HunyuanVideo-I2V checkpoints in the diffusers backend, on tiny models: the 16-channel one
(the registry's; its guidance is embedded) and the first, 33-channel one, whose pipeline cuts the
image's own decoded frames from the video and whose guidance is true CFG. Either way the video
holds the frames asked, and the guidance scale steers the picture."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from framecast.components.backends.diffusers_backend import DiffusersBackend
from framecast.components.backends.options import BackendOptions
from framecast.components.registry import SPEC_FILE, spec_for_model
from framecast.components.tiny_model import hunyuan_video
from framecast.protocol import GenerationKnobs


@pytest.mark.parametrize("latent_concat", [False, True], ids=["16-channel", "33-channel"])
def test_the_video_holds_the_frames_asked_and_guidance_steers_it(latent_concat, tmp_path):
    folder = tmp_path / "tiny-random-hunyuanvideo-i2v"
    hunyuan_video.build_i2v(0, latent_concat=latent_concat).save_pretrained(folder)
    (folder / SPEC_FILE).write_text(json.dumps({"registry_id": "framecast/tiny-random-hunyuanvideo-i2v"}))
    spec = spec_for_model(str(folder))
    backend = DiffusersBackend(BackendOptions(str(folder), spec))
    image = Image.new("RGB", (64, 48), (200, 90, 10))

    def frames(num_frames: int, guidance: float) -> np.ndarray:
        knobs = GenerationKnobs(prompt="a red cat", seed=3, num_inference_steps=2, num_frames=num_frames, guidance_scale=guidance)
        params = replace(spec.resolve(knobs, "i2v"), image=image)
        return backend.generate(params, lambda *progress: None).frames

    for num_frames in (5, 13):
        assert frames(num_frames, 6.0).shape == (num_frames, 64, 64, 3)
    # Guidance that reached the model changes the picture (true CFG needs the negative prompt,
    # which defaults to an empty one).
    assert not np.array_equal(frames(5, 1.0), frames(5, 6.0))
    backend.close()
