"""Every model family of the registry, on its tiny model, through the stack: a worker (with a
tiny LoRA and its recommended step cache) behind a frontend; a synchronous request whose
output holds the frames, size and frame rate asked (and the sound track, for a model that
makes one); a job's progress step by step; and the limits sweep, where every corner of the request check either completes with the output it
asked for or is refused at creation with a 400 naming the field, never failing after admission."""

from __future__ import annotations

import base64
import json
from fractions import Fraction

import httpx
import pytest

from framecast.components.backends.diffusers_backend import takes_adapters
from framecast.components.registry import spec_for_model
from framecast.protocol import parse_size
from framecast.components.tiny_model import build_tiny_lora, build_tiny_model
from framecast.testing.stack import decode_mp4, wait_done
from framecast.testing.sweep import (
    ADAPTER,
    check_case,
    check_output,
    check_sound,
    limit_cases,
    progress_of_a_job,
    request,
    start_family_stack,
)

# One tiny model per family (the kind's registry entry says which family it stands for).
KINDS = ("t2v", "i2v", "ti2v", "a14b", "i2v-a14b", "cogvideox", "cogvideox-i2v", "ltx-video", "ltx2", "hunyuanvideo", "hunyuanvideo-i2v", "hunyuanvideo-1.5", "hunyuanvideo-1.5-i2v", "skyreels-v2", "kandinsky-5", "t2i", "qwen-image", "sd3.5")


def adapters_run_on(model) -> bool:
    import diffusers

    index = json.loads((model / "model_index.json").read_text())
    return takes_adapters(getattr(diffusers, index["_class_name"]), index["transformer"][1])


@pytest.fixture(scope="module", params=KINDS)
def family(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"family-{request.param}")
    # Built here rather than by the command (the t2v model's tests run that): one torch import.
    model = build_tiny_model(root / f"tiny-random-{request.param}", kind=request.param)
    # Where diffusers cannot load or scale adapters (HunyuanVideo 1.5, SkyReels-V2) it runs without.
    adapter = build_tiny_lora(model, root / "adapter") if adapters_run_on(model) else None
    stack = start_family_stack(model, root, adapter, cache=spec_for_model(str(model)).recommended_cache is not None)
    yield stack
    stack.stop()


def test_a_request_at_the_defaults_makes_what_the_model_publishes(family):
    defaults = family.card["defaults"]
    response = request(family, "a lighthouse at night", {})
    width, height = (int(side) for side in defaults["size"].split("x"))
    if family.needs_image and family.card["limits"]["sizes"]:
        # No size asked: the listed size whose aspect ratio is nearest the input image's (64x48).
        listed = [parse_size(size) for size in family.card["limits"]["sizes"]]
        width, height = min(listed, key=lambda size: abs(size[0] / size[1] - 64 / 48))
    frames = defaults["num_frames"] if family.makes_video else 1
    assert check_output(family, response, frames, (width, height)) is None, check_output(family, response, frames, (width, height))
    if family.makes_video:
        video = decode_mp4(base64.b64decode(response.json()["data"][0]["b64_json"]))
        assert video.fps == Fraction(defaults["fps"])


def test_a_model_that_also_takes_an_image_makes_a_video_from_one(family):
    if "ti2v" not in family.card["tasks"]:
        pytest.skip("the model takes no optional image")
    # The image is 64x48; with no size asked, the video takes the model's default size.
    response = request(family, "the picture comes alive", {"num_inference_steps": 2, "size": "64x64"}, with_image=True)
    assert check_output(family, response, family.card["defaults"]["num_frames"], (64, 64)) is None, response.text[:300]


def test_a_job_reports_every_denoising_step(family):
    if not family.makes_video:
        pytest.skip("image models answer image requests at once; the job API is for videos")
    steps = 6
    events = progress_of_a_job(family, steps)
    assert events[-1]["status"] == "completed", events[-1]
    denoising = [event["progress"] for event in events if event["stage"] == "denoising"]
    # Held after the first step until the stream was open: every later step is seen.
    assert len(set(denoising)) >= steps - 1, denoising
    progress = [event["progress"] for event in events]
    assert progress == sorted(progress) and progress[-1] == 100


def test_every_corner_of_the_request_check_completes_or_is_refused_naming_the_field(family):
    problems = {}
    for case in limit_cases(family.card, adapter=ADAPTER if family.card["adapters"] else None):
        problem = check_case(family, case)
        if problem is not None:
            problems[case.name] = problem
    assert not problems, "\n".join(f"{name}: {problem}" for name, problem in problems.items())


def test_a_model_that_makes_sound_puts_it_in_the_mp4_unless_the_request_drops_it(family):
    if not family.makes_video:
        pytest.skip("an image has no sound")
    if not family.card["audio"]:
        response = request(family, "a drum solo", {"num_inference_steps": 2, "audio": True})
        assert response.status_code == 400 and response.json()["error"]["param"] == "audio", response.text
        return
    body = {"model": family.model, "prompt": "a drum solo", "num_inference_steps": 2, "audio": False}
    created = httpx.post(f"{family.base_url}/v1/videos", json=body, timeout=60)
    assert created.status_code == 200, created.text
    job = wait_done(family.base_url, created.json()["id"], timeout=300)
    assert job["status"] == "completed" and job["has_audio"] is False, job
    content = httpx.get(f"{family.base_url}/v1/videos/{job['id']}/content", timeout=60)
    video = decode_mp4(content.content)
    assert check_sound(family, job, video, wanted=False) is None, check_sound(family, job, video, wanted=False)
    assert video.count == family.card["defaults"]["num_frames"]
