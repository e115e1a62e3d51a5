"""Outputs on S3 (a real S3-compatible server, moto's, started by the test): links a client can
open, Range requests, expiry, and a 64 MB video that crosses no request-plane message."""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path
from urllib.parse import urlparse

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from framecast.testing.stack import Discovery, decode_mp4, stack_env, start_frontend, start_worker, wait_done, wait_for_workers

MODEL = "tiny-random-t2v"
BUCKET = "framecast-test"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    credentials = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}
    client = boto3.client("s3", endpoint_url=endpoint, **{
        "aws_access_key_id": "test", "aws_secret_access_key": "test", "region_name": "us-east-1"})  # fmt: skip
    client.create_bucket(Bucket=BUCKET)
    # fsspec reads FSSPEC_S3_<ARG> as an s3fs argument: the endpoint of an S3-compatible store.
    env = credentials | {"FSSPEC_S3_ENDPOINT_URL": endpoint}
    yield client, env
    server.stop()


@pytest.fixture(scope="module")
def stack(s3, tiny_model, tmp_path_factory):
    client, s3_env = s3
    log_dir = tmp_path_factory.mktemp("s3-stack")
    discovery = Discovery("file", stack_env("file", None, log_dir / "kv") | s3_env)
    worker = start_worker(discovery, tiny_model, "fc-s3", f"s3://{BUCKET}/videos", log_dir, "worker")
    frontend, base_url = start_frontend(discovery, "fc-s3", log_dir, "frontend")
    try:
        wait_for_workers(base_url, MODEL, 1, processes=[worker, frontend])
        yield discovery, base_url, client, log_dir
    finally:
        frontend.stop()
        worker.stop()


def object_key(video_id: str, suffix: str = ".mp4") -> str:
    return f"videos/{video_id}{suffix}"


def stored(client, key: str) -> bytes | None:
    try:
        return client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    except ClientError:
        return None


def test_a_video_lands_in_the_bucket_and_the_link_returned_opens_over_plain_http(stack):
    _, base_url, client, _ = stack
    response = httpx.post(
        f"{base_url}/v1/videos/generations",
        json={"model": MODEL, "prompt": "to the bucket", "size": "80x48", "num_frames": 13, "fps": 12},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    url = body["data"][0]["url"]
    assert urlparse(url).scheme == "http" and "Expires=" in url, url  # presigned, with an expiry
    downloaded = httpx.get(url)
    assert downloaded.status_code == 200
    assert downloaded.content == stored(client, object_key(body["id"]))
    video = decode_mp4(downloaded.content)
    assert (video.count, video.width, video.height, video.fps) == (13, 80, 48, 12)


def test_content_answers_range_requests_with_exactly_the_bytes_asked_for(stack):
    _, base_url, client, _ = stack
    video = httpx.post(f"{base_url}/v1/videos", json={"prompt": "seekable", "num_inference_steps": 2}).json()
    assert wait_done(base_url, video["id"])["status"] == "completed"
    whole = stored(client, object_key(video["id"]))
    content = f"{base_url}/v1/videos/{video['id']}/content"
    for header, expected in [
        ("bytes=100-199", whole[100:200]),
        ("bytes=0-0", whole[:1]),
        (f"bytes={len(whole) - 10}-", whole[-10:]),
        ("bytes=-50", whole[-50:]),
        (f"bytes=10-{len(whole) + 500}", whole[10:]),
    ]:
        response = httpx.get(content, headers={"Range": header})
        assert response.status_code == 206, (header, response.text)
        assert response.content == expected, header
        assert response.headers["content-length"] == str(len(expected))
        start = len(whole) - len(expected) if header.startswith("bytes=-") else int(header[6:].split("-")[0])
        assert response.headers["content-range"] == f"bytes {start}-{start + len(expected) - 1}/{len(whole)}"
    full = httpx.get(content)
    assert full.status_code == 200 and full.content == whole and full.headers["accept-ranges"] == "bytes"
    assert full.headers["content-type"] == "video/mp4" and full.headers["content-length"] == str(len(whole))
    head = httpx.head(content)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(whole)) and head.content == b""
    outside = httpx.get(content, headers={"Range": f"bytes={len(whole)}-"})
    assert outside.status_code == 416 and outside.headers["content-range"] == f"bytes */{len(whole)}"


def test_the_sweeper_removes_expired_outputs_from_the_bucket(stack, tmp_path):
    discovery, _, client, _ = stack
    frontend, base_url = start_frontend(discovery, "fc-s3", tmp_path, "frontend-ttl", "--job-ttl", "1", "--sweep-interval", "0.5")
    try:
        video = httpx.post(f"{base_url}/v1/videos", json={"prompt": "short lived", "num_inference_steps": 2}).json()
        assert wait_done(base_url, video["id"])["status"] == "completed"
        keys = [object_key(video["id"], suffix) for suffix in (".mp4", ".thumbnail.jpg", ".spritesheet.jpg")]
        assert all(stored(client, key) for key in keys)
        deadline = time.monotonic() + 20
        while any(stored(client, key) for key in keys):
            assert time.monotonic() < deadline, "the sweeper left expired outputs in the bucket"
            time.sleep(0.2)
        assert httpx.get(f"{base_url}/v1/videos/{video['id']}/content").json()["error"]["code"] == "video_expired"
        assert f"job {video['id']} expired: deleted s3://{BUCKET}/videos/{video['id']}.mp4" in frontend.log_text()
    finally:
        frontend.stop()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--output-urls", "raw"), "s3://framecast-test/videos/{id}.mp4"),
        (("--public-base-url", "https://cdn.invalid/clips/"), "https://cdn.invalid/clips/{id}.mp4"),
        (("--output-urls", "content"), "{base}/v1/videos/{id}/content"),
    ],
)
def test_other_url_policies_on_request(stack, tmp_path, args, expected):
    discovery, _, _, _ = stack
    frontend, base_url = start_frontend(discovery, "fc-s3", tmp_path, "frontend-urls", *args)
    try:
        response = httpx.post(
            f"{base_url}/v1/videos/generations", json={"model": MODEL, "prompt": "urls", "num_inference_steps": 1}, timeout=60
        )
        body = response.json()
        assert body["data"][0]["url"] == expected.format(id=body["id"], base=base_url)
    finally:
        frontend.stop()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):  # peak resident memory
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_a_64_mb_video_round_trips_as_b64_json(s3, tmp_path):
    """The synthetic backend (no model) stands in for a GPU's large output: 720p noise, encoded
    losslessly, is over 64 MB. It crosses the request plane only as a reference."""
    client, s3_env = s3
    discovery = Discovery("file", stack_env("file", None, tmp_path / "kv") | s3_env)
    worker = start_worker(
        discovery, "synthetic", "fc-big", f"s3://{BUCKET}/big", tmp_path, "worker",
        "--backend", "synthetic", "--synthetic-content", "noise", "--video-crf", "0", "--video-preset", "ultrafast",
    )  # fmt: skip
    frontend, base_url = start_frontend(discovery, "fc-big", tmp_path, "frontend")
    try:
        wait_for_workers(base_url, "synthetic", 1, processes=[worker, frontend])
        before = rss_mb(frontend.pid)
        body = {"model": "synthetic", "prompt": "large", "size": "1280x720", "num_frames": 65, "fps": 16,
                "num_inference_steps": 1, "response_format": "b64_json"}  # fmt: skip
        response = httpx.post(f"{base_url}/v1/videos/generations", json=body, timeout=300)
        assert response.status_code == 200, response.text[:500]
        answer = json.loads(response.content)
        video = base64.b64decode(answer["data"][0]["b64_json"], validate=True)
        assert len(video) > 64 * 2**20, len(video)
        assert video == stored(client, f"big/{answer['id']}.mp4")
        decoded_header = decode_mp4(video)
        assert (decoded_header.count, decoded_header.width, decoded_header.height) == (65, 1280, 720)
        growth = rss_mb(frontend.pid) - before
        print(f"64 MB b64_json: video {len(video) / 2**20:.1f} MB, frontend peak RSS grew {growth:.0f} MB")
        assert growth < 3 * len(video) / 2**20
        assert "too_large" not in worker.log_text()
    finally:
        frontend.stop()
        worker.stop()


def test_a_worker_refuses_to_send_a_large_video_inline_on_the_request_plane(s3, tmp_path):
    """Asked directly for base64 (as NVIDIA Dynamo's frontend would), a video over the inline
    limit is refused with the field named, not sent as one huge message."""
    import asyncio

    from dynamo.runtime import DistributedRuntime

    from framecast.protocol import generate_endpoint_path

    _, s3_env = s3
    discovery = Discovery("file", stack_env("file", None, tmp_path / "kv") | s3_env)
    worker = start_worker(
        discovery, "synthetic", "fc-inline", f"s3://{BUCKET}/inline", tmp_path, "worker",
        "--backend", "synthetic", "--synthetic-content", "noise", "--max-inline-bytes", "100000",
    )  # fmt: skip
    try:
        worker.wait_for_log("framecast worker ready")

        async def ask() -> list[dict]:
            for key in ("DYN_FILE_KV", "DYN_TCP_RPC_HOST", "DYN_TCP_RESPONSE_STREAM_HOST", "DYN_EVENT_PLANE_HOST"):
                os.environ[key] = discovery.env[key]
            runtime = DistributedRuntime(asyncio.get_running_loop(), "file", "tcp")
            client = await runtime.endpoint(generate_endpoint_path("fc-inline", "synthetic")).client()
            await asyncio.wait_for(client.wait_for_instances(), timeout=60)
            request = {"model": "synthetic", "prompt": "x", "size": "640x480", "num_frames": 17, "response_format": "b64_json"}
            answer = [item.data() async for item in await client.round_robin(request)]
            runtime.shutdown()
            return answer

        (message,) = asyncio.run(ask())
        assert message["status"] == "failed" and message["error_detail"]["param"] == "response_format"
        assert "response_format url" in message["error"]
    finally:
        worker.stop()
