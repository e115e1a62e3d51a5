"""Faults of workers: a worker killed mid-job, workers restarted one by one under load.

Each scenario checks what a client sees: no request left hanging, no admitted job lost, every
failure answered with an error code."""

from __future__ import annotations

import concurrent.futures
import time

import httpx
import pytest

from helpers import (
    Discovery,
    stack_env,
    start_frontend,
    start_worker,
    wait_done,
    wait_for_workers,
    worker_instance,
)

MODEL = "tiny-random-t2v"
pytestmark = pytest.mark.faults


@pytest.fixture
def two_workers(tiny_model, tmp_path):
    discovery = Discovery("file", stack_env("file", None, tmp_path / "kv"))
    out = (tmp_path / "out").as_uri()
    workers = [start_worker(discovery, tiny_model, "fc-faults", out, tmp_path, f"worker-{index}") for index in range(2)]
    frontend, base_url = start_frontend(discovery, "fc-faults", tmp_path, "frontend", "--no-worker-timeout", "10")
    try:
        wait_for_workers(base_url, MODEL, 2, processes=[*workers, frontend])
        yield discovery, base_url, workers, frontend, tmp_path
    finally:
        for process in [frontend, *workers]:
            process.stop()


def test_a_job_on_a_worker_killed_mid_generation_runs_again_on_another(two_workers):
    _, base_url, workers, _, _ = two_workers
    by_instance = {worker_instance(worker): worker for worker in workers}
    video = httpx.post(f"{base_url}/v1/videos", json={"prompt": "survivor", "num_inference_steps": 150}).json()
    while httpx.get(f"{base_url}/v1/videos/{video['id']}").json()["progress"] < 10:
        time.sleep(0.05)
    victim = by_instance[_worker_of(video["id"], by_instance)]
    victim.kill()
    done = wait_done(base_url, video["id"])
    assert done["status"] == "completed", done
    survivor = next(worker for worker in workers if worker is not victim)
    assert f"request {video['id']} generating" in survivor.log_text()


def _worker_of(video_id: str, by_instance: dict) -> str:
    """The instance running a job: the one of the two whose log says it is generating it."""
    for instance, worker in by_instance.items():
        if f"request {video_id} generating" in worker.log_text():
            return instance
    raise AssertionError(f"no worker is generating {video_id}")


def test_a_synchronous_request_survives_its_worker_being_killed(two_workers):
    _, base_url, workers, _, _ = two_workers
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(
            httpx.post,
            f"{base_url}/v1/videos/generations",
            json={"model": MODEL, "prompt": "sync survivor", "num_inference_steps": 150, "response_format": "b64_json"},
            timeout=120,
        )
        deadline = time.monotonic() + 60
        while not any("150 steps" in worker.log_text() for worker in workers):
            assert time.monotonic() < deadline, "the synchronous request never started"
            time.sleep(0.05)
        time.sleep(0.3)  # some steps into it
        victim = next(worker for worker in workers if "150 steps" in worker.log_text())
        victim.kill()
        response = pending.result(timeout=120)
    assert response.status_code == 200, response.text
    assert response.json()["data"][0]["b64_json"]


def test_with_no_worker_left_a_job_fails_with_a_code_instead_of_hanging(two_workers):
    _, base_url, workers, _, _ = two_workers
    video = httpx.post(f"{base_url}/v1/videos", json={"prompt": "orphan", "num_inference_steps": 150}).json()
    while httpx.get(f"{base_url}/v1/videos/{video['id']}").json()["progress"] < 5:
        time.sleep(0.05)
    for worker in workers:
        worker.kill()
    done = wait_done(base_url, video["id"], timeout=60)
    assert done["status"] == "failed" and done["error"]["code"] in ("no_live_worker", "worker_failed"), done
    # New work is refused at once with a code, not queued forever.
    deadline = time.monotonic() + 30
    while True:
        response = httpx.post(f"{base_url}/v1/videos", json={"prompt": "nobody"})
        if response.status_code == 503 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert response.status_code in (502, 503) and response.json()["error"]["code"] in ("no_live_worker", "worker_failed")


def test_a_rolling_restart_under_steady_load_loses_no_request(two_workers):
    discovery, base_url, workers, frontend, log_dir = two_workers
    submitted: list[str] = []
    sync_answers: list[httpx.Response] = []
    refused: list[httpx.Response] = []
    stop = False

    def admitted(response: httpx.Response) -> bool:
        """A 429 is a refusal, not a loss: the client comes back after Retry-After."""
        if response.status_code == 429:
            refused.append(response)
            time.sleep(int(response.headers["retry-after"]))
            return False
        return True

    def steady_async_load():
        while not stop:
            response = httpx.post(f"{base_url}/v1/videos", json={"prompt": "steady", "num_inference_steps": 8}, timeout=60)
            if admitted(response):
                assert response.status_code == 200, response.text
                submitted.append(response.json()["id"])
            time.sleep(0.15)

    def steady_sync_load():
        while not stop:
            response = httpx.post(
                f"{base_url}/v1/videos/generations",
                json={"model": MODEL, "prompt": "steady sync", "num_inference_steps": 8},
                timeout=120,
            )
            if admitted(response):
                sync_answers.append(response)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        loads = [pool.submit(steady_async_load), pool.submit(steady_sync_load)]
        time.sleep(2)
        out = log_dir / "out"
        for index in range(2):
            old = workers[index]
            old.stop(timeout=60)
            assert old.process.returncode == 0, old.tail()
            workers[index] = start_worker(discovery, _model_of(old), "fc-faults", out.as_uri(), log_dir, f"worker-{index}-new")
            wait_for_workers(base_url, MODEL, 2, processes=[workers[index]])
        time.sleep(2)
        stop = True
        for load in loads:
            load.result(timeout=180)
    assert len(submitted) > 10 and len(sync_answers) > 3
    outcomes = [wait_done(base_url, video_id)["status"] for video_id in submitted]
    assert outcomes == ["completed"] * len(outcomes), outcomes
    assert [answer.status_code for answer in sync_answers] == [200] * len(sync_answers), [a.text for a in sync_answers if a.status_code != 200]
    assert all(answer.json()["error"]["code"] == "queue_full" for answer in refused)


def _model_of(worker) -> str:
    argv = worker.process.args
    return argv[argv.index("--model-path") + 1]
