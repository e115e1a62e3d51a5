"""The whole path for real: HTTP -> frontend -> Dynamo request plane -> worker -> diffusers
WanPipeline (tiny random model) -> MP4 -> storage or base64 -> HTTP, with file discovery and
with a real etcd server."""

from __future__ import annotations

import base64
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest

from framecast.testing.stack import LOSSLESS_VIDEO, StageHold, decode_mp4, served_workers, start_frontend, start_worker, wait_for_workers

MODEL = "tiny-random-t2v"


@dataclass
class Stack:
    base_url: str
    output_dir: Path
    workers: list
    log_dir: Path


@pytest.fixture(scope="module")
def stack(discovery, tiny_model, tmp_path_factory):
    log_dir = tmp_path_factory.mktemp(f"stack-{discovery.backend}")
    output_dir = log_dir / "outputs"
    frontend, base_url = start_frontend(discovery, "fc-main", log_dir, "frontend")
    workers = [
        start_worker(discovery, tiny_model, "fc-main", output_dir.as_uri(), log_dir, f"worker-{index}", *LOSSLESS_VIDEO)
        for index in range(2)
    ]
    try:
        wait_for_workers(base_url, MODEL, 2, processes=workers + [frontend])
        yield Stack(base_url, output_dir, workers, log_dir)
    finally:
        for process in workers + [frontend]:
            process.stop()


def generate(base_url: str, body: dict, timeout: float = 120) -> httpx.Response:
    return httpx.post(f"{base_url}/v1/videos/generations", json=body, timeout=timeout)


def assert_error(response: httpx.Response, status: int, param: str | None, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param, error
    if code is not None:
        assert error["code"] == code, error
    return error


def test_url_response_is_a_stored_mp4_with_the_requested_shape(stack):
    response = generate(
        stack.base_url,
        {"model": MODEL, "prompt": "a red fox running", "size": "96x64", "num_frames": 13, "fps": 12, "seed": 7},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "video" and body["status"] == "completed" and body["progress"] == 100
    assert body["model"] == MODEL and body["id"].startswith("video_") and body["error"] is None
    assert body["inference_time_s"] > 0 and body["seed"] == 7
    (item,) = body["data"]
    assert item["output_format"] == "mp4" and item["fps"] == 12 and "b64_json" not in item
    # Stored on local disk, so the URL a client gets is the frontend's own content route.
    assert item["url"] == f"{stack.base_url}/v1/videos/{body['id']}/content"
    downloaded = httpx.get(item["url"])
    assert downloaded.status_code == 200 and downloaded.headers["content-type"] == "video/mp4"
    path = stack.output_dir / f"{body['id']}.mp4"
    assert downloaded.content == path.read_bytes()
    video = decode_mp4(downloaded.content)
    assert (video.count, video.width, video.height, video.fps) == (13, 96, 64, 12)
    assert (video.codec, video.pix_fmt) == ("h264", "yuv420p")
    assert not list(stack.output_dir.glob("*.partial"))


def test_b64_json_response_carries_the_video_inline(stack):
    response = generate(
        stack.base_url,
        {"model": MODEL, "prompt": "a boat on the ocean", "size": "64x80", "seconds": "1", "fps": 8,
         "response_format": "b64_json"},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    (item,) = response.json()["data"]
    assert "url" not in item and item["fps"] == 8
    video = decode_mp4(base64.b64decode(item["b64_json"]))
    # One second at 8 fps, rounded up to the model's 4k+1 frame counts.
    assert (video.count, video.width, video.height, video.fps) == (9, 64, 80, 8)


def test_omitted_knobs_take_the_model_defaults(stack):
    response = generate(stack.base_url, {"prompt": "a bird", "response_format": "b64_json"})
    assert response.status_code == 200, response.text
    video = decode_mp4(base64.b64decode(response.json()["data"][0]["b64_json"]))
    assert (video.count, video.width, video.height, video.fps) == (9, 64, 64, 8)


def test_two_workers_take_turns(stack):
    served_by = []
    for index in range(4):
        response = generate(stack.base_url, {"model": MODEL, "prompt": f"turn {index}", "num_inference_steps": 1})
        assert response.status_code == 200, response.text
        served_by.append(response.headers["x-framecast-worker"])
    assert served_by[0] != served_by[1]
    assert served_by[0::2] == [served_by[0]] * 2 and served_by[1::2] == [served_by[1]] * 2


def test_nvext_and_top_level_shapes_make_the_same_video(stack):
    top_level = {
        "model": MODEL, "prompt": "a golden sunset over the sea", "negative_prompt": "rain", "size": "64x64",
        "num_frames": 9, "fps": 8, "num_inference_steps": 3, "guidance_scale": 4.0, "seed": 1234,
        "response_format": "b64_json",
    }  # fmt: skip
    nvext = {
        "model": MODEL, "prompt": "a golden sunset over the sea", "size": "64x64", "response_format": "b64_json",
        "nvext": {"negative_prompt": "rain", "num_frames": 9, "fps": 8, "num_inference_steps": 3,
                  "guidance_scale": 4.0, "seed": 1234},
    }  # fmt: skip
    videos = []
    for body in (top_level, nvext, top_level | {"seed": 4321}):
        response = generate(stack.base_url, body)
        assert response.status_code == 200, response.text
        videos.append(decode_mp4(base64.b64decode(response.json()["data"][0]["b64_json"])))
    same_seed_a, same_seed_b, other_seed = videos
    assert same_seed_a.frames.shape == (9, 64, 64, 3)
    assert np.array_equal(same_seed_a.frames, same_seed_b.frames)
    assert not np.array_equal(same_seed_a.frames, other_seed.frames)


@pytest.mark.parametrize(
    ("body", "status", "param", "code"),
    [
        ({"model": "Wan-AI/not-served", "prompt": "x"}, 404, "model", "model_not_found"),
        ({"model": MODEL}, 400, "prompt", "missing_field"),
        ({"model": MODEL, "prompt": "x", "num_frame": 9}, 400, "num_frame", "unknown_field"),
        ({"model": MODEL, "prompt": "x", "size": "64by64"}, 400, "size", None),
        ({"model": MODEL, "prompt": "x", "nvext": {"num_inference_steps": 0}}, 400, "nvext.num_inference_steps", None),
        ({"model": MODEL, "prompt": "x", "response_format": "gif"}, 400, "response_format", None),
        ({"model": MODEL, "prompt": "x", "fps": 8, "nvext": {"fps": 16}}, 400, "nvext.fps", "conflicting_value"),
        ({"model": MODEL, "prompt": "x", "num_frames": 10}, 400, "num_frames", None),
        ({"model": MODEL, "prompt": "x", "size": "72x64"}, 400, "size", None),
        ({"model": MODEL, "prompt": "x", "input_reference": "data:image/png;base64,AAAA"}, 400, "input_reference", None),
    ],
)
def test_bad_requests_get_4xx_naming_the_field(stack, body, status, param, code):
    assert_error(generate(stack.base_url, body), status, param, code)


def test_worker_rejection_says_what_is_allowed(stack):
    error = assert_error(generate(stack.base_url, {"model": MODEL, "prompt": "x", "num_frames": 10}), 400, "num_frames")
    assert "4k+1" in error["message"] and "nearest: 9" in error["message"]


def test_body_that_is_not_json_is_a_400(stack):
    response = httpx.post(
        f"{stack.base_url}/v1/videos/generations", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_error(response, 400, None, "invalid_json")


def test_models_lists_the_served_model_with_its_workers(stack):
    (model,) = httpx.get(f"{stack.base_url}/v1/models").json()["data"]
    assert model["id"] == MODEL and model["object"] == "model" and model["workers"] == 2
    assert model["defaults"]["num_frames"] == 9 and model["defaults"]["size"] == "64x64"
    # The registry says up to 129 frames; the tiny transformer's rotary table numbers 32 latent
    # frames, so the worker publishes what its pipeline can run.
    assert model["limits"]["num_frames"] == "4k+1, 1 to 125" and model["limits"]["size_multiple"] == 16
    assert model["limits"]["max_side"] == 512 and model["limits"]["max_prompt_tokens"] == 512
    assert model["tasks"] == ["t2v", "t2i", "v2v"] and model["support"] == "ready" and model["backends"] == ["diffusers"]
    assert model["spec_id"] == "framecast/tiny-random-wan2.1-t2v"
    health = httpx.get(f"{stack.base_url}/health")
    assert health.status_code == 200 and health.json()["workers"] == 2


def test_sigterm_unregisters_at_once_finishes_the_request_in_hand_and_exits(discovery, tiny_model, tmp_path):
    """A new worker appears in a running frontend; on SIGTERM it leaves /v1/models while the
    request it holds is still running, answers that request, exits cleanly; then the model is
    503, not 404."""
    hold = StageHold(tmp_path / "hold")
    frontend, base_url = start_frontend(discovery, "fc-drain", tmp_path, "frontend")
    worker = start_worker(discovery, tiny_model, "fc-drain", (tmp_path / "out").as_uri(), tmp_path, "worker", *hold.args())
    try:
        assert served_workers(base_url) == {}
        wait_for_workers(base_url, MODEL, 1, processes=[worker, frontend])

        in_hand: dict[str, httpx.Response] = {}
        request = threading.Thread(
            target=lambda: in_hand.setdefault(
                "response", generate(base_url, {"model": MODEL, "prompt": "slow", "num_inference_steps": 60})
            )
        )
        hold.hold("denoising")
        request.start()
        worker.wait_for_log(r"held at denoising", timeout=120)

        worker.signal(signal.SIGTERM)
        signalled = time.monotonic()
        # Unregistered at once: well before a crashed worker's lease (about 30 s) would expire.
        while served_workers(base_url).get(MODEL, 0) != 0:
            assert time.monotonic() - signalled < 20, "stopped worker still listed after 20 s"
            time.sleep(0.02)
        gone_after = time.monotonic() - signalled
        hold.release()

        request.join(timeout=120)
        response = in_hand["response"]
        assert response.status_code == 200, response.text
        video = decode_mp4(httpx.get(response.json()["data"][0]["url"]).content)
        assert video.count == 9
        assert worker.process.wait(timeout=60) == 0
        assert "stopping: unregistering, then finishing 1 request(s) in hand" in worker.log_text()

        assert_error(generate(base_url, {"model": MODEL, "prompt": "x"}), 503, "model", "no_live_worker")
        print(f"worker left /v1/models {gone_after:.3f}s after SIGTERM ({discovery.backend} discovery)")
    finally:
        hold.release()
        worker.stop()
        frontend.stop()
