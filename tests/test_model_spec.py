"""How a request resolves against a model's defaults and constraints."""

from __future__ import annotations

import pytest

from framecast.components.model_spec import ModelSpec
from framecast.protocol import GenerationKnobs, RequestFieldError

WAN = ModelSpec()  # Wan2.1 T2V defaults


def resolve(**knobs):
    return WAN.resolve(GenerationKnobs(prompt="p", **knobs), "Wan2.1-T2V-1.3B")


def test_omitted_knobs_take_the_defaults():
    params = resolve()
    assert (params.width, params.height, params.num_frames, params.fps) == (832, 480, 81, 16)
    assert (params.num_inference_steps, params.guidance_scale) == (50, 5.0)
    assert 0 <= params.seed < 2**31


def test_num_frames_overrides_seconds_times_fps():
    assert resolve(num_frames=33, seconds=5, fps=16).num_frames == 33


@pytest.mark.parametrize(("seconds", "fps", "frames"), [(5, 16, 81), (4, 16, 65), (1, 8, 9), (0.1, 16, 5), (2.5, 24, 61)])
def test_seconds_round_up_to_a_valid_frame_count(seconds, fps, frames):
    assert resolve(seconds=seconds, fps=fps).num_frames == frames


def test_invalid_frame_count_names_the_field_and_the_nearest_valid_one():
    with pytest.raises(RequestFieldError) as raised:
        resolve(num_frames=80)
    assert raised.value.param == "num_frames"
    assert "4k+1 for Wan2.1-T2V-1.3B" in raised.value.message and "nearest: 81" in raised.value.message


def test_size_must_be_a_multiple_of_16():
    with pytest.raises(RequestFieldError) as raised:
        resolve(width=840, height=480)
    assert raised.value.param == "size" and "nearest: 832x480" in raised.value.message


def test_spec_file_overrides_the_defaults(tmp_path):
    spec = ModelSpec(width=64, height=64, num_frames=9, fps=8, num_inference_steps=4)
    (tmp_path / "framecast_model.json").write_text(__import__("json").dumps(spec.to_json()))
    assert ModelSpec.for_model_path(str(tmp_path)) == spec
    assert ModelSpec.for_model_path(str(tmp_path / "missing")) == ModelSpec()
