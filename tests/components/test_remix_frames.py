"""A remix in the diffusers backend, on the tiny Wan2.1 model: the source's frames, in order,
are what its VAE encodes, and the pipeline runs the part of the schedule the strength leaves.
(Its random VAE maps any picture to nearly one latent, so the output cannot show the source.)"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from PIL import Image

from framecast.components.backends.diffusers_backend import DiffusersBackend
from framecast.components.backends.options import BackendOptions
from framecast.components.registry import spec_for_model
from framecast.protocol import GenerationKnobs


def test_the_source_frames_are_encoded_in_order_and_strength_sets_the_steps(tiny_model):
    spec = spec_for_model(str(tiny_model))
    backend = DiffusersBackend(BackendOptions(str(tiny_model), spec))
    assert backend.takes_video
    colours = [(index * 28, 255 - index * 28, 128) for index in range(9)]
    source = [Image.new("RGB", (64, 64), colour) for colour in colours]
    encoded = []
    encode = backend.video_pipeline.vae.encode

    def recording(video, *args, **kwargs):
        encoded.append(video.detach().clone())
        return encode(video, *args, **kwargs)

    backend.video_pipeline.vae.encode = recording
    steps = []
    knobs = GenerationKnobs(prompt="a blue bird", seed=7, num_inference_steps=8, width=64, height=64, num_frames=9)
    params = replace(spec.resolve(knobs, "tiny"), video=source, strength=0.5)
    frames = backend.generate(params, lambda stage, step, total: steps.append((step, total))).frames
    assert frames.shape == (9, 64, 64, 3)
    (video,) = encoded
    assert tuple(video.shape) == (1, 3, 9, 64, 64)
    # The pipeline takes pixels to [-1, 1]: each frame's colour, in order.
    seen = ((video[0].mean(dim=(2, 3)).T.numpy() + 1) * 127.5).round()
    assert np.abs(seen - np.array(colours)).max() <= 1
    assert max(total for _, total in steps if total) == 4
    backend.close()
