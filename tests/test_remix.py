"""Remix (`POST /v1/videos/{id}/remix`) in the production shape: etcd discovery, two frontends on
the etcd job store with API keys of two tenants, a tiny Wan2.1 worker (video-to-video) and a
synthetic one (no video-to-video). The official openai client remixes a completed video on the
other replica; every refusal says why with the field it is about."""

from __future__ import annotations

import time

import httpx
import numpy as np
import pytest
from openai import OpenAI

from framecast.testing.stack import (
    Discovery,
    EtcdServer,
    StageHold,
    decode_mp4,
    stack_env,
    start_frontend,
    start_worker,
    wait_done,
    wait_for_workers,
)

MODEL, NO_V2V_MODEL = "tiny-random-t2v", "synthetic"
ACME, GLOBEX = "k-acme-remix", "k-globex-remix"
# Frontend b keeps outputs this long: a source made there expires while the test watches.
TTL_B_S = 4


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class Remixing:
    def __init__(self, urls: list[str], hold: StageHold):
        self.urls, self.hold = urls, hold

    def made(self, url: str, key: str = ACME, model: str = MODEL, **body) -> dict:
        """A completed job of `model`, made on `url`."""
        body = {"model": model, "prompt": "a red fox in snow", "size": "64x64", "num_inference_steps": 4, **body}
        created = httpx.post(f"{url}/v1/videos", json=body, headers=auth(key), timeout=60)
        assert created.status_code == 200, created.text
        video = wait_done(url, created.json()["id"], timeout=180, headers=auth(key))
        assert video["status"] == "completed", video
        return video

    def remix(self, url: str, video_id: str, key: str = ACME, **body) -> httpx.Response:
        body = {"prompt": "a blue bird over the sea", "num_inference_steps": 4, **body}
        return httpx.post(f"{url}/v1/videos/{video_id}/remix", json=body, headers=auth(key), timeout=60)

    def frames(self, url: str, video_id: str) -> np.ndarray:
        content = httpx.get(f"{url}/v1/videos/{video_id}/content", headers=auth(ACME), timeout=60)
        assert content.status_code == 200, content.text
        return decode_mp4(content.content).frames.astype(np.float32)


@pytest.fixture(scope="module")
def remixing(tiny_model, tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("remix")
    (log_dir / "keys.txt").write_text(f"acme: {ACME}\nglobex: {GLOBEX}\n")
    etcd = EtcdServer(log_dir / "etcd-data", log_dir)
    discovery = Discovery("etcd", stack_env("etcd", etcd.url, None))
    hold = StageHold(log_dir / "hold")
    outputs = (log_dir / "out").as_uri()
    workers = [
        start_worker(discovery, tiny_model, "fc-remix", outputs, log_dir, "worker", *hold.args()),
        start_worker(discovery, "synthetic", "fc-remix", outputs, log_dir, "worker-synthetic", "--backend", "synthetic"),
    ]
    shared = ["--job-store", "etcd", "--api-key-file", str(log_dir / "keys.txt")]
    frontends = [
        start_frontend(discovery, "fc-remix", log_dir, "a", *shared),
        start_frontend(discovery, "fc-remix", log_dir, "b", *shared, "--job-ttl", str(TTL_B_S)),
    ]
    try:
        for _, url in frontends:
            for model in (MODEL, NO_V2V_MODEL):
                wait_for_workers(url, model, 1, processes=workers, headers=auth(ACME))
        yield Remixing([url for _, url in frontends], hold)
    finally:
        hold.release()
        for process, _ in frontends:
            process.stop()
        for worker in workers:
            worker.stop()
        etcd.stop()


def test_the_openai_client_remixes_a_completed_video_on_the_other_replica(remixing):
    url_a, url_b = remixing.urls
    source = OpenAI(base_url=f"{url_a}/v1", api_key=ACME).videos.create_and_poll(
        model=MODEL, prompt="a red fox in snow", size="64x64",
        extra_body={"num_inference_steps": 4, "num_frames": 9, "fps": 12, "seed": 5},
    )  # fmt: skip
    assert source.status == "completed", source
    remix = OpenAI(base_url=f"{url_b}/v1", api_key=ACME).videos.remix(
        source.id, prompt="a blue bird over the sea", extra_body={"num_inference_steps": 4}
    )
    assert remix.remixed_from_video_id == source.id and remix.id != source.id
    done = wait_done(url_a, remix.id, timeout=180, headers=auth(ACME))
    assert done["status"] == "completed", done
    # The source's size, frames, fps and seed, as it did not ask for others.
    assert (done["size"], done["num_frames"], done["fps"], done["seed"]) == ("64x64", 9, 12, 5)
    assert done["remixed_from_video_id"] == source.id
    before, after = remixing.frames(url_a, source.id), remixing.frames(url_b, remix.id)
    assert after.shape == before.shape == (9, 64, 64, 3)
    assert np.abs(after - before).mean() > 1.0, "the remix is the source again"
    # It ran the part of the schedule its strength leaves (the default, 0.6, of 4 steps: 2).
    assert (done["step"], done["total_steps"]) == (2, 2), done
    half = remixing.remix(url_a, source.id, strength=0.5, num_inference_steps=8)
    assert half.status_code == 200, half.text
    done = wait_done(url_a, half.json()["id"], timeout=180, headers=auth(ACME))
    assert (done["status"], done["total_steps"]) == ("completed", 4), done


def test_a_remix_may_set_its_own_frames_size_and_seed_and_come_as_a_form(remixing):
    url_a, _ = remixing.urls
    source = remixing.made(url_a, num_frames=9, seed=2)
    form = {"prompt": (None, "the fox runs"), "num_frames": (None, "13"), "size": (None, "48x32"), "seed": (None, "9")}
    created = httpx.post(f"{url_a}/v1/videos/{source['id']}/remix", files=form, headers=auth(ACME), timeout=60)
    assert created.status_code == 200, created.text
    done = wait_done(url_a, created.json()["id"], timeout=180, headers=auth(ACME))
    assert (done["status"], done["num_frames"], done["size"], done["seed"]) == ("completed", 13, "48x32", 9), done
    assert remixing.frames(url_a, done["id"]).shape == (13, 32, 48, 3)


def refused(response: httpx.Response, status: int, code: str, param: str | None) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param), error


def test_each_remix_refusal_names_its_reason(remixing):
    url_a, url_b = remixing.urls
    source = remixing.made(url_a)
    # Another tenant's video is not found, as one that does not exist.
    refused(remixing.remix(url_b, source["id"], key=GLOBEX), 404, "video_not_found", "video_id")
    refused(remixing.remix(url_b, "video_" + "0" * 32), 404, "video_not_found", "video_id")
    # The model is the source's, the starting frames too.
    refused(remixing.remix(url_a, source["id"], model=MODEL), 400, "invalid_value", "model")
    refused(remixing.remix(url_a, source["id"], input_reference="data:image/png;base64,AA=="), 400, "invalid_value", "input_reference")
    refused(remixing.remix(url_a, source["id"], strength=0), 400, "invalid_value", "strength")
    refused(remixing.remix(url_a, source["id"], strength=1.5), 400, "invalid_value", "strength")
    # 10% of 4 steps is no step at all.
    refused(remixing.remix(url_a, source["id"], strength=0.1), 400, "invalid_value", "strength")
    refused(remixing.remix(url_a, source["id"], num_frames=10), 400, "invalid_value", "num_frames")
    # A model without video-to-video cannot remix its own videos.
    synthetic = remixing.made(url_a, model=NO_V2V_MODEL)
    refused(remixing.remix(url_b, synthetic["id"]), 400, "unsupported_value", "model")
    # A video still being made is not ready.
    remixing.hold.hold("denoising")
    try:
        running = httpx.post(
            f"{url_a}/v1/videos", json={"model": MODEL, "prompt": "held", "num_inference_steps": 4}, headers=auth(ACME), timeout=60
        ).json()
        refused(remixing.remix(url_b, running["id"]), 409, "video_not_ready", "video_id")
    finally:
        remixing.hold.release()
    assert wait_done(url_a, running["id"], timeout=180, headers=auth(ACME))["status"] == "completed"


def test_an_expired_source_is_gone(remixing):
    url_a, url_b = remixing.urls
    source = remixing.made(url_b)
    deadline = time.monotonic() + 60
    # The job object counts whole seconds: the true expiry is within a second after it.
    while time.time() < source["expires_at"] + 1.5:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    refused(remixing.remix(url_a, source["id"]), 404, "video_expired", "video_id")
