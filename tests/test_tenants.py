"""Tenants: each API key belongs to one, and a job is seen only through keys of its tenant (or
admin keys), on either of two frontends sharing a job store, SQLite or etcd. Another tenant's
job is "not found", exactly like a job that does not exist. The job quota counts a tenant's jobs
of each model: a second model (the synthetic backend) beside the tiny one shows it."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from framecast.testing.stack import Discovery, EtcdServer, StageHold, decode_mp4, stack_env, start_frontend, start_worker

MODEL, OTHER_MODEL = "tiny-random-t2v", "synthetic"
ACME_1, ACME_2, GLOBEX, LONE, ADMIN = "k-acme-one", "k-acme-two", "k-globex", "k-lone-key", "k-ops-admin"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class Tenants:
    def __init__(self, urls: list[str], worker, hold: StageHold):
        self.urls, self.worker, self.hold = urls, worker, hold

    def create(self, url: str, key: str, **body) -> httpx.Response:
        body = {"model": MODEL, "prompt": "tenant job", "num_inference_steps": 2, **body}
        return httpx.post(f"{url}/v1/videos", json=body, headers=auth(key), timeout=60)

    def wait_done(self, url: str, key: str, video_id: str) -> dict:
        deadline = time.monotonic() + 120
        while (video := httpx.get(f"{url}/v1/videos/{video_id}", headers=auth(key)).json())["status"] not in ("completed", "failed"):
            assert time.monotonic() < deadline, video
            time.sleep(0.05)
        return video


@pytest.fixture(scope="module", params=["sqlite", "etcd"])
def tenants(request, tiny_model, tmp_path_factory):
    log_dir = tmp_path_factory.mktemp(f"tenants-{request.param}")
    (log_dir / "keys.txt").write_text(f"# tenant: key\nacme: {ACME_1}\nacme:{ACME_2}\nglobex: {GLOBEX}\n{LONE}\n")
    (log_dir / "admin-keys.txt").write_text(f"ops: {ADMIN}\n")
    etcd = EtcdServer(log_dir / "etcd-data", log_dir) if request.param == "etcd" else None
    discovery = Discovery("file", stack_env("file", etcd.url if etcd else None, log_dir / "kv"))
    hold = StageHold(log_dir / "hold")
    worker = start_worker(discovery, tiny_model, "fc-tenants", (log_dir / "out").as_uri(), log_dir, "worker", *hold.args())
    other = start_worker(discovery, "synthetic", "fc-tenants", (log_dir / "out").as_uri(), log_dir, "worker-synthetic", "--backend", "synthetic")
    store = ["--job-store", "etcd"] if etcd else ["--job-db", str(log_dir / "shared-jobs.sqlite3")]
    keys = ["--api-key-file", str(log_dir / "keys.txt"), "--admin-key-file", str(log_dir / "admin-keys.txt")]
    frontends = [
        start_frontend(discovery, "fc-tenants", log_dir, name, *store, *keys, "--max-jobs-per-key", "2") for name in ("a", "b")
    ]
    try:
        for _, url in frontends:
            deadline = time.monotonic() + 180
            while len([model for model in httpx.get(f"{url}/v1/models", headers=auth(ADMIN)).json()["data"] if model["workers"]]) < 2:
                assert time.monotonic() < deadline, "the workers never appeared"
                time.sleep(0.1)
        yield Tenants([url for _, url in frontends], worker, hold)
    finally:
        hold.release()
        for process, _ in frontends:
            process.stop()
        worker.stop()
        other.stop()
        if etcd:
            etcd.stop()


def assert_not_found(response: httpx.Response) -> None:
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "video_not_found", response.text


def test_no_read_list_event_download_or_delete_crosses_tenants(tenants):
    url_a, url_b = tenants.urls
    made = tenants.create(url_a, ACME_1, seed=3)
    assert made.status_code == 200, made.text
    video_id = made.json()["id"]
    # The same tenant, through its other key and the other frontend.
    done = tenants.wait_done(url_b, ACME_2, video_id)
    assert done["status"] == "completed", done
    assert video_id in [item["id"] for item in httpx.get(f"{url_b}/v1/videos?limit=100", headers=auth(ACME_2)).json()["data"]]

    for url in tenants.urls:
        for key in (GLOBEX, LONE):
            assert_not_found(httpx.get(f"{url}/v1/videos/{video_id}", headers=auth(key)))
            assert_not_found(httpx.get(f"{url}/v1/videos/{video_id}/content", headers=auth(key)))
            assert_not_found(httpx.get(f"{url}/v1/videos/{video_id}/content?variant=thumbnail", headers=auth(key)))
            assert_not_found(httpx.get(f"{url}/v1/videos/{video_id}/events", headers=auth(key)))
            assert_not_found(httpx.delete(f"{url}/v1/videos/{video_id}", headers=auth(key)))
            listed = httpx.get(f"{url}/v1/videos?limit=100", headers=auth(key)).json()
            assert video_id not in [item["id"] for item in listed["data"]]
            assert "tenant job" not in json.dumps(listed)
    # Nothing the other tenants did touched it.
    mp4 = httpx.get(f"{url_a}/v1/videos/{video_id}/content", headers=auth(ACME_2))
    assert mp4.status_code == 200 and decode_mp4(mp4.content).count == 9

    # An admin key sees and may delete every tenant's jobs.
    admin_list = httpx.get(f"{url_b}/v1/videos?limit=100", headers=auth(ADMIN)).json()["data"]
    assert video_id in [item["id"] for item in admin_list]
    assert httpx.get(f"{url_b}/v1/videos/{video_id}", headers=auth(ADMIN)).json()["status"] == "completed"
    assert httpx.delete(f"{url_a}/v1/videos/{video_id}", headers=auth(ADMIN)).json()["deleted"] is True
    assert_not_found(httpx.get(f"{url_b}/v1/videos/{video_id}", headers=auth(ACME_1)))


def test_a_tenant_sees_its_own_jobs_made_with_any_of_its_keys(tenants):
    url_a, url_b = tenants.urls
    mine = [tenants.create(url_a, ACME_1).json()["id"], tenants.create(url_b, ACME_2).json()["id"]]
    theirs = tenants.create(url_b, GLOBEX).json()["id"]
    for video_id, key in ((mine[0], ACME_1), (mine[1], ACME_2), (theirs, GLOBEX)):
        tenants.wait_done(url_a, key, video_id)
    for url in tenants.urls:
        acme = [item["id"] for item in httpx.get(f"{url}/v1/videos?limit=100", headers=auth(ACME_1)).json()["data"]]
        globex = [item["id"] for item in httpx.get(f"{url}/v1/videos?limit=100", headers=auth(GLOBEX)).json()["data"]]
        assert set(mine) <= set(acme) and theirs not in acme
        assert theirs in globex and not set(mine) & set(globex)


def test_the_job_quota_is_per_tenant_across_both_frontends(tenants):
    url_a, url_b = tenants.urls
    tenants.hold.hold("denoising")
    try:
        first = tenants.create(url_a, ACME_1, num_inference_steps=4)
        assert first.status_code == 200, first.text
        StageHold.wait_held([tenants.worker], first.json()["id"], "denoising")
        second = tenants.create(url_b, ACME_2)
        assert second.status_code == 200, second.text
        # Two unfinished jobs, one made on each frontend: the tenant's third is refused on both.
        for url, key in ((url_a, ACME_2), (url_b, ACME_1)):
            refused = tenants.create(url, key)
            assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_jobs", refused.text
        # Another tenant is not counted against it, nor are its jobs of another model.
        other = tenants.create(url_a, GLOBEX)
        assert other.status_code == 200, other.text
        another_model = tenants.create(url_b, ACME_1, model=OTHER_MODEL)
        assert another_model.status_code == 200, another_model.text
    finally:
        tenants.hold.release()
    for url, key, response in ((url_a, ACME_1, first), (url_b, ACME_2, second), (url_a, GLOBEX, other), (url_b, ACME_1, another_model)):
        assert tenants.wait_done(url, key, response.json()["id"])["status"] == "completed"
    assert tenants.create(url_b, ACME_1).status_code == 200
