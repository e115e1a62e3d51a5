"""etcd (discovery and job records) stopped and started again under a running job."""

from __future__ import annotations

import time

import httpx
import pytest

from helpers import Discovery, EtcdServer, stack_env, start_frontend, start_worker, wait_for_workers

MODEL = "tiny-random-t2v"
pytestmark = pytest.mark.faults


def test_jobs_survive_an_etcd_restart_and_the_outage_is_answered_with_codes(tiny_model, tmp_path):
    etcd = EtcdServer(tmp_path / "etcd-data", tmp_path)
    discovery = Discovery("etcd", stack_env("etcd", etcd.url, None))
    worker = start_worker(discovery, tiny_model, "fc-etcd", (tmp_path / "out").as_uri(), tmp_path, "worker")
    frontend, base_url = start_frontend(discovery, "fc-etcd", tmp_path, "frontend", "--job-store", "etcd")
    try:
        wait_for_workers(base_url, MODEL, 1, processes=[worker, frontend])
        running = httpx.post(f"{base_url}/v1/videos", json={"prompt": "through the outage", "num_inference_steps": 120}).json()
        while httpx.get(f"{base_url}/v1/videos/{running['id']}").json()["status"] != "in_progress":
            time.sleep(0.05)

        etcd.stop()
        during = httpx.post(f"{base_url}/v1/videos", json={"prompt": "during the outage"}, timeout=30)
        assert during.status_code == 503 and during.json()["error"]["code"] == "unavailable", during.text
        assert httpx.get(f"{base_url}/health", timeout=10).status_code == 200
        # The job in hand is answered from this replica while the store is away.
        assert httpx.get(f"{base_url}/v1/videos/{running['id']}", timeout=10).status_code == 200
        time.sleep(2)
        etcd.start()

        deadline = time.monotonic() + 90
        while True:
            response = httpx.get(f"{base_url}/v1/videos/{running['id']}", timeout=10)
            if response.status_code == 200 and response.json()["status"] in ("completed", "failed"):
                break
            assert time.monotonic() < deadline, f"job left hanging after the etcd restart: {response.text}"
            time.sleep(0.2)
        assert response.json()["status"] == "completed", response.text

        # The store has caught up (its record is what every replica reads), and new work runs.
        deadline = time.monotonic() + 30
        while True:
            listed = httpx.get(f"{base_url}/v1/videos?limit=100", timeout=10)
            if listed.status_code == 200 and listed.json()["data"][0]["status"] == "completed":
                break
            assert time.monotonic() < deadline, f"the finished job never reached etcd: {listed.text}"
            time.sleep(0.2)
        wait_for_workers(base_url, MODEL, 1, timeout=60)
        after = httpx.post(f"{base_url}/v1/videos", json={"prompt": "after the outage", "num_inference_steps": 2}).json()
        deadline = time.monotonic() + 60
        while (video := httpx.get(f"{base_url}/v1/videos/{after['id']}").json())["status"] not in ("completed", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert video["status"] == "completed", video
    finally:
        frontend.stop()
        worker.stop()
        etcd.stop()
