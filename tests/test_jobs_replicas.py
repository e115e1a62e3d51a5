"""Two frontend replicas on one etcd (discovery and job records): either answers for every job,
and a replica killed mid-job leaves no job hanging."""

from __future__ import annotations

import json
import signal
import time

import httpx
import pytest

from helpers import Discovery, EtcdServer, decode_mp4, stack_env, start_frontend, start_worker, wait_for_workers

MODEL = "tiny-random-t2v"
TAKEOVER_BOUND_S = 30


@pytest.fixture(scope="module")
def cluster(tiny_model, tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("replicas")
    etcd = EtcdServer(log_dir / "etcd-data", log_dir)
    discovery = Discovery("etcd", stack_env("etcd", etcd.url, None))
    worker = start_worker(discovery, tiny_model, "fc-replicas", (log_dir / "out").as_uri(), log_dir, "worker")
    replicas = [start_frontend(discovery, "fc-replicas", log_dir, name, "--job-store", "etcd") for name in ("a", "b")]
    try:
        for _, url in replicas:
            wait_for_workers(url, MODEL, 1, processes=[worker])
        yield replicas, worker
    finally:
        for process, _ in replicas:
            process.stop()
        worker.stop()
        etcd.stop()


def wait_done(base_url: str, video_id: str, timeout: float) -> tuple[dict, float]:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        video = httpx.get(f"{base_url}/v1/videos/{video_id}").json()
        if video["status"] in ("completed", "failed"):
            return video, time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"{video_id} still {video['status']} after {timeout}s")


def test_a_job_made_on_one_replica_is_retrieved_streamed_and_downloaded_on_the_other(cluster):
    (_, url_a), (_, url_b) = cluster[0]
    video = httpx.post(f"{url_a}/v1/videos", json={"model": MODEL, "prompt": "shared", "num_inference_steps": 40}).json()
    assert httpx.get(f"{url_b}/v1/videos/{video['id']}").json()["id"] == video["id"]
    events = []
    with httpx.stream("GET", f"{url_b}/v1/videos/{video['id']}/events", timeout=120) as response:
        for line in response.iter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line.removeprefix("data:")))
    progress = [event["progress"] for event in events]
    assert events[-1]["status"] == "completed" and progress == sorted(progress)
    assert len({value for value in progress if 0 < value < 100}) >= 2, "no live progress seen from the other replica"
    mp4 = httpx.get(f"{url_b}/v1/videos/{video['id']}/content")
    assert mp4.status_code == 200 and decode_mp4(mp4.content).count == 9
    assert video["id"] in [item["id"] for item in httpx.get(f"{url_b}/v1/videos?limit=100").json()["data"]]


def test_a_job_deleted_on_one_replica_stops_on_the_other(cluster):
    (_, url_a), (_, url_b) = cluster[0]
    worker = cluster[1]
    video = httpx.post(f"{url_a}/v1/videos", json={"model": MODEL, "prompt": "stop me", "num_inference_steps": 200}).json()
    while httpx.get(f"{url_b}/v1/videos/{video['id']}").json()["progress"] < 5:
        time.sleep(0.05)
    assert httpx.delete(f"{url_b}/v1/videos/{video['id']}").json()["deleted"] is True
    deadline = time.monotonic() + 20
    while f"request {video['id']} cancelled" not in worker.log_text():
        assert time.monotonic() < deadline, "the owning replica did not stop the deleted job"
        time.sleep(0.05)
    assert httpx.get(f"{url_a}/v1/videos/{video['id']}").status_code == 404


@pytest.mark.faults
def test_killing_the_owning_replica_mid_job_leaves_the_job_finished_within_30_s(cluster):
    (process_a, url_a), (_, url_b) = cluster[0]
    video = httpx.post(f"{url_a}/v1/videos", json={"model": MODEL, "prompt": "orphan", "num_inference_steps": 150}).json()
    while httpx.get(f"{url_b}/v1/videos/{video['id']}").json()["status"] != "in_progress":
        time.sleep(0.05)
    process_a.process.send_signal(signal.SIGKILL)
    process_a.process.wait()
    final, took = wait_done(url_b, video["id"], timeout=TAKEOVER_BOUND_S)
    assert final["status"] == "completed" or final["error"]["code"] in ("owner_lost", "worker_failed"), final
    print(f"job left by a killed replica was {final['status']} {took:.1f}s later, as seen from the other")
    if final["status"] == "completed":
        assert decode_mp4(httpx.get(f"{url_b}/v1/videos/{video['id']}/content").content).count == 9
