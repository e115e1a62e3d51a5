"""Wan2.2 A14B's two experts, text-to-video and image-to-video, on tiny models in the diffusers
backend: the high-noise expert denoises every step at or above the boundary timestep, the
low-noise one every step below it, as the real checkpoints split them."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PIL import Image

from framecast.components.backends.diffusers_backend import DiffusersBackend
from framecast.components.backends.options import BackendOptions
from framecast.components.registry import spec_for_model
from framecast.components.tiny_model import build_tiny_model
from framecast.protocol import GenerationKnobs


@pytest.mark.parametrize("kind, boundary_ratio", [("a14b", 0.875), ("i2v-a14b", 0.9)])
def test_each_expert_denoises_its_side_of_the_boundary(kind, boundary_ratio, tmp_path):
    path = build_tiny_model(tmp_path / f"tiny-random-{kind}", kind=kind)
    spec = spec_for_model(str(path))
    backend = DiffusersBackend(BackendOptions(str(path), spec))
    pipeline = backend.pipeline
    assert pipeline.config.boundary_ratio == boundary_ratio
    boundary = boundary_ratio * pipeline.scheduler.config.num_train_timesteps
    seen: dict[str, list[float]] = {"transformer": [], "transformer_2": []}
    for name, timesteps in seen.items():
        getattr(pipeline, name).register_forward_pre_hook(
            lambda module, args, kwargs, timesteps=timesteps: timesteps.append(float(kwargs["timestep"].flatten()[0])),
            with_kwargs=True,
        )
    params = spec.resolve(GenerationKnobs(prompt="a red cat", seed=1, num_inference_steps=12), kind)
    if spec.needs_image:
        params = replace(params, image=Image.new("RGB", (params.width, params.height), (200, 90, 10)))
    frames = backend.generate(params, lambda *progress: None).frames
    assert frames.shape == (params.num_frames, params.height, params.width, 3)
    assert seen["transformer"] and seen["transformer_2"], seen
    assert min(seen["transformer"]) >= boundary > max(seen["transformer_2"]), (boundary, seen)
    # Every step ran one expert or the other (twice: both CFG branches).
    assert len(seen["transformer"]) + len(seen["transformer_2"]) == 2 * params.num_inference_steps
    backend.close()
