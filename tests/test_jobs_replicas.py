"""Two frontend replicas on one etcd job store, under etcd discovery and under file discovery:
either answers for every job, and a replica killed mid-job leaves no job hanging."""

from __future__ import annotations

import json
import signal
import time

import httpx
import pytest

from framecast.testing.stack import Discovery, EtcdServer, StageHold, decode_mp4, stack_env, start_frontend, start_worker, wait_done, wait_for_workers

MODEL = "tiny-random-t2v"


class Cluster:
    def __init__(self, replicas, worker, hold: StageHold):
        (self.process_a, self.url_a), (self.process_b, self.url_b) = replicas
        self.worker, self.hold = worker, hold

    def create(self, **body) -> dict:
        response = httpx.post(f"{self.url_a}/v1/videos", json={"model": MODEL, **body}, timeout=60)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module", params=["etcd", "file"])
def cluster(request, tiny_model, tmp_path_factory):
    log_dir = tmp_path_factory.mktemp(f"replicas-{request.param}")
    etcd = EtcdServer(log_dir / "etcd-data", log_dir)
    discovery = Discovery(request.param, stack_env(request.param, etcd.url, log_dir / "kv"))
    hold = StageHold(log_dir / "hold")
    worker = start_worker(discovery, tiny_model, "fc-replicas", (log_dir / "out").as_uri(), log_dir, "worker", *hold.args())
    replicas = [start_frontend(discovery, "fc-replicas", log_dir, name, "--job-store", "etcd") for name in ("a", "b")]
    try:
        for _, url in replicas:
            wait_for_workers(url, MODEL, 1, processes=[worker])
        yield Cluster(replicas, worker, hold)
    finally:
        hold.release()
        for process, _ in replicas:
            process.stop()
        worker.stop()
        etcd.stop()


def test_a_job_made_on_one_replica_is_retrieved_streamed_and_downloaded_on_the_other(cluster):
    # The job waits in denoising, then in encoding, until the other replica has seen each:
    # live progress reaches it through the store, however fast the machine.
    cluster.hold.hold("denoising")
    video = cluster.create(prompt="shared", num_inference_steps=8)
    assert httpx.get(f"{cluster.url_b}/v1/videos/{video['id']}").json()["id"] == video["id"]
    events = []
    with httpx.stream("GET", f"{cluster.url_b}/v1/videos/{video['id']}/events", timeout=120) as response:
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue
            events.append(json.loads(line.removeprefix("data:")))
            stage = events[-1]["stage"]
            if stage == "denoising" and 0 < events[-1]["progress"]:
                cluster.hold.hold("encoding")
            elif stage == "encoding":
                cluster.hold.release()
    progress = [event["progress"] for event in events]
    assert events[-1]["status"] == "completed" and progress == sorted(progress)
    assert len({value for value in progress if 0 < value < 100}) >= 2, f"no live progress seen from the other replica: {progress}"
    mp4 = httpx.get(f"{cluster.url_b}/v1/videos/{video['id']}/content")
    assert mp4.status_code == 200 and decode_mp4(mp4.content).count == 9
    assert video["id"] in [item["id"] for item in httpx.get(f"{cluster.url_b}/v1/videos?limit=100").json()["data"]]


def test_a_job_deleted_on_one_replica_stops_on_the_other(cluster):
    cluster.hold.hold("denoising")
    video = cluster.create(prompt="stop me", num_inference_steps=8)
    StageHold.wait_held([cluster.worker], video["id"], "denoising")
    try:
        assert httpx.delete(f"{cluster.url_b}/v1/videos/{video['id']}").json()["deleted"] is True
        deadline = time.monotonic() + 30
        while f"request {video['id']} cancelled" not in cluster.worker.log_text():
            assert time.monotonic() < deadline, "the owning replica did not stop the deleted job"
            time.sleep(0.05)
    finally:
        cluster.hold.release()
    assert httpx.get(f"{cluster.url_a}/v1/videos/{video['id']}").status_code == 404


@pytest.mark.faults
def test_killing_the_owning_replica_mid_job_leaves_the_job_finished_on_the_other(cluster):
    cluster.hold.hold("denoising")
    video = cluster.create(prompt="orphan", num_inference_steps=8)
    StageHold.wait_held([cluster.worker], video["id"], "denoising")
    cluster.process_a.process.send_signal(signal.SIGKILL)
    cluster.process_a.process.wait()
    killed_at = time.monotonic()
    cluster.hold.release()
    final = wait_done(cluster.url_b, video["id"], timeout=120)
    took = time.monotonic() - killed_at
    assert final["status"] == "completed", final
    assert "took over job" in cluster.process_b.log_text()
    assert decode_mp4(httpx.get(f"{cluster.url_b}/v1/videos/{video['id']}/content").content).count == 9
    print(f"job of a killed replica completed through the other {took:.1f}s later")
