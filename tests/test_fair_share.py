"""Fair share between tenants across replicas: etcd discovery, two frontends on the etcd job
store with API keys, one synthetic worker held at its first step while the queues fill. One
tenant floods both replicas; the other's single job, sent after the flood, starts within the
next turns instead of behind the whole flood. With --queue-policy fifo it waits behind it."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from framecast.testing.stack import (
    Discovery,
    EtcdServer,
    StageHold,
    stack_env,
    start_frontend,
    start_worker,
    wait_done,
    wait_for_workers,
)

MODEL = "synthetic"
FLOOD, LIGHT = "k-flood", "k-light"
FLOOD_PER_REPLICA = 8


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module", params=["fair", "fifo"])
def replicas(request, tmp_path_factory):
    log_dir = tmp_path_factory.mktemp(f"fair-{request.param}")
    (log_dir / "keys.txt").write_text(f"flood: {FLOOD}\nlight: {LIGHT}\n")
    etcd = EtcdServer(log_dir / "etcd-data", log_dir)
    discovery = Discovery("etcd", stack_env("etcd", etcd.url, None))
    hold = StageHold(log_dir / "hold")
    worker = start_worker(
        discovery, "synthetic", "fc-fair", (log_dir / "out").as_uri(), log_dir, "worker", "--backend", "synthetic", *hold.args()
    )
    shared = [
        "--job-store", "etcd", "--api-key-file", str(log_dir / "keys.txt"), "--queue-policy", request.param, "--queue-per-worker", "30",
    ]  # fmt: skip
    frontends = [start_frontend(discovery, "fc-fair", log_dir, name, *shared) for name in ("a", "b")]
    try:
        for _, url in frontends:
            wait_for_workers(url, MODEL, 1, processes=[worker], headers=auth(FLOOD))
        yield request.param, [url for _, url in frontends], hold, worker
    finally:
        hold.release()
        for process, _ in frontends:
            process.stop()
        worker.stop()
        etcd.stop()


def submit(url: str, key: str, prompt: str) -> str:
    body = {"model": MODEL, "prompt": prompt, "size": "64x64", "num_frames": 5, "num_inference_steps": 2}
    created = httpx.post(f"{url}/v1/videos", json=body, headers=auth(key), timeout=60)
    assert created.status_code == 200, created.text
    return created.json()["id"]


def test_a_light_tenant_is_not_queued_behind_a_flood_on_either_replica(replicas):
    policy, (url_a, url_b), hold, worker = replicas
    hold.hold("denoising")
    try:
        flood = [submit(url_a, FLOOD, "flood a0")]
        # The worker holds the first job; everything after waits in the replicas' queues.
        deadline = time.monotonic() + 60
        while httpx.get(f"{url_a}/v1/videos/{flood[0]}", headers=auth(FLOOD)).json()["status"] != "in_progress":
            assert time.monotonic() < deadline, "the first job never started"
            time.sleep(0.05)
        for index in range(FLOOD_PER_REPLICA):
            flood += [submit(url_a, FLOOD, f"flood a{index + 1}"), submit(url_b, FLOOD, f"flood b{index}")]
        light = submit(url_a, LIGHT, "light")
    finally:
        hold.release()
    jobs = {video_id: wait_done(url_b, video_id, timeout=240, headers=auth(FLOOD if video_id != light else LIGHT)) for video_id in [*flood, light]}
    assert all(job["status"] == "completed" for job in jobs.values()), jobs
    # The order the worker generated them in, as it logs it.
    generated = re.findall(r"request (video_[0-9a-f]{32}) generating", worker.log_text())
    assert set(generated) >= set(jobs), generated
    place = [video_id for video_id in generated if video_id in jobs].index(light)
    labels = {video_id: f"flood-{index}" for index, video_id in enumerate(flood)} | {light: "light"}
    order = [labels[video_id] for video_id in generated if video_id in labels]
    if policy == "fair":
        # Its replica gives it the next turn. Before it go only the jobs already sent to the
        # worker: the held one, and the one each replica sends ahead to wait there (the next
        # job leaves when the one before it reaches its last step), and the other replica's
        # next, which does not know of it.
        assert place <= 5, (place, order)
    else:
        # In arrival order it waits behind every flood job of its replica (and the first of the
        # other, sent to the worker at once).
        assert place >= FLOOD_PER_REPLICA + 2, (place, order)
