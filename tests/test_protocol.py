"""The wire models: both request shapes, field-naming errors, the response shape."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from framecast.protocol import (
    RequestFieldError,
    VideoGenerationRequest,
    VideoGenerationResponse,
    WorkerVideoRequest,
    parse_size,
)


def error_location(error: ValidationError) -> str:
    return ".".join(str(part) for part in error.errors()[0]["loc"])


def test_top_level_and_nvext_shapes_merge_to_the_same_knobs():
    top = VideoGenerationRequest(
        model="m", prompt="p", fps=16, num_frames=81, num_inference_steps=30, guidance_scale=4.5,
        negative_prompt="blur", seed=9, size="832x480",
    )  # fmt: skip
    nested = VideoGenerationRequest.model_validate(
        {"model": "m", "prompt": "p", "size": "832x480",
         "nvext": {"fps": 16, "num_frames": 81, "num_inference_steps": 30, "guidance_scale": 4.5,
                   "negative_prompt": "blur", "seed": 9}}
    )  # fmt: skip
    assert top.knobs() == nested.knobs()
    knobs = top.knobs()
    assert (knobs.width, knobs.height, knobs.num_frames, knobs.fps, knobs.seed) == (832, 480, 81, 16, 9)


def test_same_knob_in_both_places_must_agree():
    agreeing = VideoGenerationRequest.model_validate({"prompt": "p", "seed": 3, "nvext": {"seed": 3}})
    assert agreeing.knobs().seed == 3
    with pytest.raises(RequestFieldError) as raised:
        VideoGenerationRequest.model_validate({"prompt": "p", "seed": 3, "nvext": {"seed": 4}}).knobs()
    assert raised.value.param == "nvext.seed"


def test_seconds_accepts_the_openai_string_form():
    assert VideoGenerationRequest(prompt="p", seconds="4").seconds == 4.0
    assert VideoGenerationRequest(prompt="p", seconds=2.5).seconds == 2.5
    with pytest.raises(ValidationError) as raised:
        VideoGenerationRequest(prompt="p", seconds="four")
    assert error_location(raised.value) == "seconds"


@pytest.mark.parametrize(
    ("body", "location"),
    [
        ({"prompt": ""}, "prompt"),
        ({}, "prompt"),
        ({"prompt": "p", "size": "832*480"}, "size"),
        ({"prompt": "p", "size": "0x480"}, "size"),
        ({"prompt": "p", "size": "99999x480"}, "size"),
        ({"prompt": "p", "fps": 0}, "fps"),
        ({"prompt": "p", "num_frames": -1}, "num_frames"),
        ({"prompt": "p", "seconds": 0}, "seconds"),
        ({"prompt": "p", "seed": -1}, "seed"),
        ({"prompt": "p", "response_format": "gif"}, "response_format"),
        ({"prompt": "p", "output_format": "webm"}, "output_format"),
        ({"prompt": "p", "nvext": {"num_frames": 0}}, "nvext.num_frames"),
        ({"prompt": "p", "nvext": {"typo": 1}}, "nvext.typo"),
        ({"prompt": "p", "typo": 1}, "typo"),
    ],
)
def test_invalid_fields_are_named(body, location):
    with pytest.raises(ValidationError) as raised:
        VideoGenerationRequest.model_validate(body)
    assert error_location(raised.value) == location


def test_parse_size():
    assert parse_size("832x480") == (832, 480)
    assert parse_size(" 64 X 96 ") == (64, 96)
    with pytest.raises(RequestFieldError) as raised:
        parse_size("wide")
    assert raised.value.param == "size"


def test_worker_request_ignores_fields_of_other_frontends_but_keeps_its_own():
    request = WorkerVideoRequest.model_validate({"prompt": "p", "request_id": "video_1", "annotations": ["x"]})
    assert request.request_id == "video_1"
    with pytest.raises(ValidationError):
        VideoGenerationRequest.model_validate({"prompt": "p", "request_id": "video_1"})


def test_response_defaults_to_a_completed_video_object():
    response = VideoGenerationResponse(id="video_1", model="m", created=1)
    assert response.model_dump() == {
        "id": "video_1", "object": "video", "model": "m", "status": "completed", "progress": 100, "created": 1,
        "data": [], "inference_time_s": None, "error": None, "seed": None, "has_audio": None,
    }  # fmt: skip
