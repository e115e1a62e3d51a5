"""etcd (the job store, and discovery too under etcd discovery) SIGKILLed while a job runs, and
started again on the same data dir."""

from __future__ import annotations

import time

import httpx
import pytest

from framecast.testing.stack import Discovery, EtcdServer, StageHold, stack_env, start_frontend, start_worker, wait_done, wait_for_workers

MODEL = "tiny-random-t2v"
pytestmark = pytest.mark.faults


@pytest.mark.parametrize("discovery_backend", ["etcd", "file"])
def test_a_job_survives_etcd_being_killed_and_the_outage_is_answered_with_codes(tiny_model, tmp_path, discovery_backend):
    etcd = EtcdServer(tmp_path / "etcd-data", tmp_path)
    discovery = Discovery(discovery_backend, stack_env(discovery_backend, etcd.url, tmp_path / "kv"))
    hold = StageHold(tmp_path / "hold")
    worker = start_worker(discovery, tiny_model, "fc-etcd", (tmp_path / "out").as_uri(), tmp_path, "worker", *hold.args())
    frontend, base_url = start_frontend(discovery, "fc-etcd", tmp_path, "frontend", "--job-store", "etcd")
    try:
        wait_for_workers(base_url, MODEL, 1, processes=[worker, frontend])
        hold.hold("denoising")
        running = httpx.post(f"{base_url}/v1/videos", json={"prompt": "through the outage", "num_inference_steps": 4}).json()
        StageHold.wait_held([worker], running["id"], "denoising")

        etcd.kill()
        during = httpx.post(f"{base_url}/v1/videos", json={"prompt": "during the outage"}, timeout=30)
        assert during.status_code == 503 and during.json()["error"]["code"] == "unavailable", during.text
        assert httpx.get(f"{base_url}/health", timeout=10).status_code == 200
        # The job in hand is answered from this replica while the store is away.
        assert httpx.get(f"{base_url}/v1/videos/{running['id']}", timeout=10).json()["status"] == "in_progress"
        etcd.start()
        hold.release()

        deadline = time.monotonic() + 120
        while True:
            response = httpx.get(f"{base_url}/v1/videos/{running['id']}", timeout=10)
            if response.status_code == 200 and response.json()["status"] in ("completed", "failed"):
                break
            assert time.monotonic() < deadline, f"job left hanging after the etcd restart: {response.text}"
            time.sleep(0.2)
        assert response.json()["status"] == "completed", response.text

        # The store has caught up (its record is what every replica reads), and new work runs.
        deadline = time.monotonic() + 60
        while True:
            listed = httpx.get(f"{base_url}/v1/videos?limit=100", timeout=10)
            if listed.status_code == 200 and listed.json()["data"][0]["status"] == "completed":
                break
            assert time.monotonic() < deadline, f"the finished job never reached etcd: {listed.text}"
            time.sleep(0.2)
        wait_for_workers(base_url, MODEL, 1, timeout=90)
        after = httpx.post(f"{base_url}/v1/videos", json={"prompt": "after the outage", "num_inference_steps": 2}, timeout=60)
        assert after.status_code == 200, after.text
        assert wait_done(base_url, after.json()["id"], timeout=120)["status"] == "completed"
    finally:
        hold.release()
        frontend.stop()
        worker.stop()
        etcd.stop()
