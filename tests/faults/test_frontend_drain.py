"""SIGTERM on a frontend: it stops accepting, answers the requests in flight, lets its running
jobs finish, and exits."""

from __future__ import annotations

import concurrent.futures
import signal
import time

import httpx
import pytest

from framecast.testing.stack import StageHold, generate_in_background, start_frontend, start_held_stack

MODEL = "tiny-random-t2v"
pytestmark = pytest.mark.faults


def test_sigterm_on_a_frontend_answers_what_is_in_flight_then_exits(tiny_model, tmp_path):
    held = start_held_stack(tiny_model, tmp_path, "fc-drain-fe")
    discovery, hold, worker, frontend, base_url = held.discovery, held.hold, held.worker, held.frontend, held.base_url
    try:
        # Both jobs are in the frontend's hands, the first held in denoising, when the signal comes.
        hold.hold("denoising")
        job = httpx.post(f"{base_url}/v1/videos", json={"prompt": "background", "num_inference_steps": 6}).json()
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            in_flight = generate_in_background(pool, base_url, MODEL, "in flight")
            StageHold.wait_held([worker], job["id"], "denoising")
            # The synchronous request is in the frontend's hands (its job is recorded) before the signal.
            deadline = time.monotonic() + 30
            while len(httpx.get(f"{base_url}/v1/videos").json()["data"]) < 2:
                assert time.monotonic() < deadline, "the synchronous request never reached the frontend"
                time.sleep(0.05)
            frontend.signal(signal.SIGTERM)
            signalled = time.monotonic()
            deadline = signalled + 60
            while True:  # it stops accepting
                try:
                    httpx.get(f"{base_url}/health", timeout=5)
                except httpx.ConnectError:
                    break
                assert time.monotonic() < deadline, "the frontend kept accepting after SIGTERM"
                time.sleep(0.05)
            assert not in_flight.done()
            hold.release()
            response = in_flight.result(timeout=180)
        assert response.status_code == 200, response.text
        assert response.json()["data"][0]["b64_json"]
        assert frontend.process.wait(timeout=90) == 0
        print(f"frontend exited {time.monotonic() - signalled:.1f}s after SIGTERM")
        # The background job ran to its end before the exit: the next frontend sees it done.
        restarted, base_url = start_frontend(discovery, "fc-drain-fe", tmp_path, "frontend")
        try:
            video = httpx.get(f"{base_url}/v1/videos/{job['id']}").json()
            assert video["status"] == "completed", video
        finally:
            restarted.stop()
    finally:
        held.stop()
