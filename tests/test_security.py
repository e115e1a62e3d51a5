"""API keys, request limits, and ids that cannot reach a storage path."""

from __future__ import annotations

import time

import httpx
import pytest

from framecast.testing.stack import Discovery, StageHold, stack_env, start_frontend, start_worker

MODEL = "tiny-random-t2v"
KEY_IN_FILE, KEY_IN_ENV = "sk-file-0123456789", "sk-env-abcdefghij"


@pytest.fixture(scope="module")
def guarded(tiny_model, tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("security")
    discovery = Discovery("file", stack_env("file", None, log_dir / "kv"))
    key_file = log_dir / "keys.txt"
    key_file.write_text(f"# operators' keys\n{KEY_IN_FILE}\n\n")
    discovery.env["FRAMECAST_API_KEYS"] = f"{KEY_IN_ENV}, "
    hold = StageHold(log_dir / "hold")
    worker = start_worker(discovery, tiny_model, "fc-sec", (log_dir / "out").as_uri(), log_dir, "worker", *hold.args())
    frontend, base_url = start_frontend(
        discovery, "fc-sec", log_dir, "frontend", "--api-key-file", str(key_file), "--max-body-bytes", "4096",
        "--max-prompt-chars", "100", "--max-steps", "6", "--max-frames", "13", "--max-pixels", "9216",
        "--max-jobs-per-key", "1",
    )  # fmt: skip
    try:
        wait_for_workers_with_key(base_url)
        guarded = GuardedUrl(base_url)
        guarded.hold, guarded.worker = hold, worker
        yield guarded
    finally:
        hold.release()
        frontend.stop()
        worker.stop()


class GuardedUrl(str):
    """The frontend's base URL, with the workers' hold file and the worker beside it."""

    hold: StageHold
    worker: object


def wait_for_workers_with_key(base_url: str) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        models = httpx.get(f"{base_url}/v1/models", headers=auth(KEY_IN_FILE)).json()["data"]
        if models and models[0]["workers"] == 1:
            return
        time.sleep(0.1)
    raise AssertionError("the worker never appeared")


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def every_route(base_url: str) -> list[tuple[str, str]]:
    spec = httpx.get(f"{base_url}/openapi.json", headers=auth(KEY_IN_FILE)).json()
    routes = [(method.upper(), path.replace("{video_id}", "video_" + "0" * 32)) for path, item in spec["paths"].items() for method in item]
    return routes + [("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/metrics"), ("GET", "/no/such/route")]


def test_every_route_but_the_probes_refuses_a_missing_or_wrong_key(guarded):
    """/health and /ready stay open for load balancers and Kubernetes probes."""
    routes = every_route(guarded)
    assert ("POST", "/v1/videos") in routes and ("GET", "/v1/models") in routes and len(routes) > 8
    for method, path in routes:
        if path in ("/health", "/ready"):
            continue
        for headers in ({}, auth("sk-wrong"), {"Authorization": KEY_IN_FILE}, auth(KEY_IN_FILE + "x")):
            response = httpx.request(method, f"{guarded}{path}", headers=headers, json={})
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
            if method != "HEAD":
                assert response.json()["error"]["code"] == "invalid_api_key"
    assert httpx.get(f"{guarded}/health").status_code == 200
    assert httpx.get(f"{guarded}/ready").json() == {"status": "ready"}
    # A scraper with a key reads the metrics, refusals included.
    metrics = httpx.get(f"{guarded}/metrics", headers=auth(KEY_IN_FILE)).text
    assert 'framecast_http_requests_total{handler="/v1/videos",method="POST",status="401"}' in metrics


def test_keys_from_the_file_and_the_environment_both_open_the_api(guarded):
    for key in (KEY_IN_FILE, KEY_IN_ENV):
        assert httpx.get(f"{guarded}/v1/models", headers=auth(key)).status_code == 200


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"prompt": "x" * 101}, "prompt"),
        ({"prompt": "x", "num_inference_steps": 7}, "num_inference_steps"),
        ({"prompt": "x", "num_frames": 17}, "num_frames"),
        ({"prompt": "x", "size": "128x96"}, "size"),
    ],
)
def test_deployment_limits_name_the_field(guarded, body, param):
    response = httpx.post(f"{guarded}/v1/videos", json=body, headers=auth(KEY_IN_ENV))
    assert response.status_code == 400 and response.json()["error"]["param"] == param, response.text


def test_a_body_over_the_size_limit_is_413_declared_or_streamed(guarded):
    big = {"prompt": "x", "negative_prompt": "y" * 5000}
    assert httpx.post(f"{guarded}/v1/videos", json=big, headers=auth(KEY_IN_ENV)).status_code == 413

    def chunks():
        yield b'{"prompt": "x", "negative_prompt": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}'

    streamed = httpx.post(
        f"{guarded}/v1/videos", content=chunks(), headers={**auth(KEY_IN_ENV), "content-type": "application/json"}
    )
    assert streamed.status_code == 413 and streamed.json()["error"]["code"] == "body_too_large"


def test_one_key_holds_at_most_its_share_of_unfinished_jobs(guarded):
    # Another key's job is held in denoising, so this key's first job stays unfinished.
    guarded.hold.hold("denoising")
    try:
        busy = httpx.post(f"{guarded}/v1/videos", json={"prompt": "busy", "num_inference_steps": 6}, headers=auth(KEY_IN_ENV))
        assert busy.status_code == 200, busy.text
        StageHold.wait_held([guarded.worker], busy.json()["id"], "denoising")
        first = httpx.post(f"{guarded}/v1/videos", json={"prompt": "one"}, headers=auth(KEY_IN_FILE))
        assert first.status_code == 200, first.text
        second = httpx.post(f"{guarded}/v1/videos", json={"prompt": "two"}, headers=auth(KEY_IN_FILE))
        assert second.status_code == 429 and second.json()["error"]["code"] == "too_many_jobs", second.text
        assert int(second.headers["retry-after"]) >= 1
    finally:
        guarded.hold.release()


@pytest.mark.parametrize("video_id", ["..%2F..%2Fetc%2Fpasswd", "video_../../x", "video_" + "g" * 32, "%00", "a" * 300])
def test_ids_that_are_not_video_ids_never_reach_the_store(guarded, video_id):
    for path in (f"/v1/videos/{video_id}", f"/v1/videos/{video_id}/content", f"/v1/videos/{video_id}/events"):
        response = httpx.get(f"{guarded}{path}", headers=auth(KEY_IN_FILE))
        assert response.status_code == 404, (path, response.text)
        assert "Traceback" not in response.text
