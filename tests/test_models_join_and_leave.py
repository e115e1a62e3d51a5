"""Models come and go while one frontend serves a namespace, under etcd and file discovery: a
worker of a new model joins while jobs run and serves at once; the last worker of a model is
SIGKILLed and the model leaves /v1/models, its jobs ending with a code; the other models' jobs
go on undisturbed. The workers' hold file keeps the jobs in denoising meanwhile, so nothing
depends on the machine's speed."""

from __future__ import annotations

import base64
import time
import uuid

import httpx
import pytest

from framecast.testing.stack import (
    StageHold,
    decode_mp4,
    served_workers,
    start_frontend,
    start_worker,
    wait_done,
    wait_for_workers,
)

pytestmark = pytest.mark.faults

T2V, I2V, LATE = "tiny-random-t2v", "tiny-random-i2v", "synthetic"
FAST = {"num_inference_steps": 2, "num_frames": 5, "size": "64x64"}
# Held jobs: a worker takes its next job from the last denoising step on, so a job held in
# denoising must have steps after the one it is held in.
HELD = FAST | {"num_inference_steps": 6}
# What the acceptance asks of a model's first worker: listed within this long of registering.
JOIN_WITHIN_S = 2.0


def test_a_model_joins_and_the_last_worker_of_another_leaves(discovery, tiny_models, tmp_path):
    namespace = f"fc-join-{uuid.uuid4().hex[:8]}"
    hold = StageHold(tmp_path / "hold")
    out = (tmp_path / "out").as_uri()
    shared = ("--input-store", (tmp_path / "inputs").as_uri())
    processes = []

    def worker(name: str, path, *extra: str):
        process = start_worker(discovery, path, namespace, out, tmp_path, name, *shared, *extra)
        processes.append(process)
        return process

    try:
        worker("worker-t2v", tiny_models("t2v"), *hold.args())
        i2v = worker("worker-i2v", tiny_models("i2v"), *hold.args())
        frontend, base_url = start_frontend(discovery, namespace, tmp_path, "frontend", *shared, "--no-worker-timeout", "3")
        processes.append(frontend)
        for model in (T2V, I2V):
            wait_for_workers(base_url, model, 1, processes=processes)

        # Jobs in denoising on both models, and a second i2v job queued behind the first.
        hold.hold("denoising")
        image = "data:image/png;base64," + base64.b64encode(_png()).decode()

        def create(model: str, **body) -> dict:
            response = httpx.post(f"{base_url}/v1/videos", json={"model": model, "prompt": "a cat", **HELD, **body}, timeout=60)
            assert response.status_code == 200, response.text
            return response.json()

        t2v_job = create(T2V)
        i2v_running = create(I2V, input_reference=image)
        StageHold.wait_held(processes, t2v_job["id"], "denoising")
        StageHold.wait_held(processes, i2v_running["id"], "denoising")
        i2v_queued = create(I2V, input_reference=image)

        # A worker of a model never served here joins, and serves at once (it has no hold).
        late = worker("worker-late", "synthetic", "--backend", "synthetic")
        late.wait_for_log("framecast worker ready")
        registered = time.monotonic()
        while LATE not in served_workers(base_url):
            assert time.monotonic() - registered < JOIN_WITHIN_S, f"{LATE} not listed {JOIN_WITHIN_S}s after it registered"
            time.sleep(0.02)
        print(f"{LATE} listed {time.monotonic() - registered:.2f}s after it registered ({discovery.backend} discovery)")
        answer = httpx.post(
            f"{base_url}/v1/videos/generations",
            json={"model": LATE, "prompt": "late", **FAST, "response_format": "b64_json"},
            timeout=120,
        )
        assert answer.status_code == 200, answer.text
        assert decode_mp4(base64.b64decode(answer.json()["data"][0]["b64_json"])).count == 5

        # The last i2v worker dies: its running job ends worker_lost, the queued one
        # no_live_worker after --no-worker-timeout, and i2v leaves /v1/models.
        i2v.kill()
        running = wait_done(base_url, i2v_running["id"], timeout=60)
        assert running["status"] == "failed" and running["error"]["code"] == "worker_lost", running
        queued = wait_done(base_url, i2v_queued["id"], timeout=60)
        assert queued["status"] == "failed" and queued["error"]["code"] == "no_live_worker", queued
        assert served_workers(base_url) == {T2V: 1, LATE: 1}
        refused = httpx.post(f"{base_url}/v1/videos", json={"model": I2V, "prompt": "a cat", "input_reference": image}, timeout=60)
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "no_live_worker", refused.text

        # The text-to-video job held all along completes, undisturbed.
        assert httpx.get(f"{base_url}/v1/videos/{t2v_job['id']}", timeout=10).json()["status"] == "in_progress"
        hold.release()
        done = wait_done(base_url, t2v_job["id"], timeout=120)
        assert done["status"] == "completed" and done["error"] is None, done
        video = decode_mp4(httpx.get(f"{base_url}/v1/videos/{t2v_job['id']}/content", timeout=30).content)
        assert (video.count, video.width, video.height) == (5, 64, 64)
    finally:
        hold.release()
        for process in reversed(processes):
            process.stop()


def _png() -> bytes:
    import io

    import numpy as np
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), 120, np.uint8)).save(out, format="PNG")
    return out.getvalue()
