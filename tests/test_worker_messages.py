"""A worker answers over the Dynamo request plane with exactly one message, unless the request
asks for a stream: then per-step progress comes first. (NVIDIA Dynamo's own frontend keeps
the first message's status, so an unrequested progress message would corrupt its answer.)"""

from __future__ import annotations

import asyncio

import pytest
from dynamo.runtime import DistributedRuntime

from framecast.protocol import generate_endpoint_path
from framecast.testing.stack import Discovery, stack_env, start_worker

MODEL = "tiny-random-t2v"


@pytest.fixture(scope="module")
def file_discovery(tmp_path_factory) -> Discovery:
    return Discovery("file", stack_env("file", None, tmp_path_factory.mktemp("kv")))


@pytest.fixture(scope="module")
def worker(file_discovery, tiny_model, tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("worker-messages")
    process = start_worker(file_discovery, tiny_model, "fc-wire", (log_dir / "out").as_uri(), log_dir, "worker")
    try:
        process.wait_for_log("framecast worker ready")
        yield process
    finally:
        process.stop()


@pytest.fixture
async def client(file_discovery, worker, tiny_model, monkeypatch):
    for key in ("DYN_FILE_KV", "DYN_TCP_RPC_HOST", "DYN_TCP_RESPONSE_STREAM_HOST", "DYN_EVENT_PLANE_HOST"):
        monkeypatch.setenv(key, file_discovery.env[key])
    runtime = DistributedRuntime(asyncio.get_running_loop(), "file", "tcp")
    client = await runtime.endpoint(generate_endpoint_path("fc-wire", tiny_model.name)).client()
    await asyncio.wait_for(client.wait_for_instances(), timeout=60)
    yield client
    runtime.shutdown()


async def collect(client, request: dict) -> list[dict]:
    return [item.data() async for item in await client.round_robin(request)]


async def test_one_message_without_stream(client):
    messages = await collect(client, {"model": MODEL, "prompt": "a cat", "num_inference_steps": 5})
    assert len(messages) == 1
    assert messages[0]["status"] == "completed" and messages[0]["progress"] == 100
    assert messages[0]["data"][0]["url"].endswith(".mp4")


async def test_stream_sends_progress_per_step_then_the_result(client):
    messages = await collect(client, {"model": MODEL, "prompt": "a cat", "num_inference_steps": 5, "stream": True})
    *progress, final = messages
    assert final["status"] == "completed" and final["progress"] == 100
    assert all(message["status"] == "in_progress" for message in progress)
    steps = [message["step"] for message in progress if message.get("stage") == "denoising"]
    assert steps == [0, 1, 2, 3, 4, 5]  # 0: denoising starts (text encoding ends)
    assert set(final["timings"]) >= {"text_encoding", "denoising", "decoding", "encoding"}
    percents = [message["progress"] for message in progress] + [final["progress"]]
    assert percents == sorted(percents)


async def test_dynamo_shaped_request_is_accepted(client):
    """The NvCreateVideoRequest shape NVIDIA Dynamo's frontend sends, with fields framecast ignores."""
    request = {
        "model": MODEL, "prompt": "a dog", "size": "64x64", "response_format": "b64_json",
        "nvext": {"num_frames": 5, "fps": 4, "num_inference_steps": 2, "seed": 3}, "some_future_field": 1,
    }  # fmt: skip
    (message,) = await collect(client, request)
    assert message["status"] == "completed" and message["data"][0]["fps"] == 4 and message["seed"] == 3


async def test_invalid_request_is_one_failed_message_naming_the_field(client):
    (message,) = await collect(client, {"model": MODEL, "prompt": "x", "nvext": {"num_frames": 6}})
    assert message["status"] == "failed"
    assert message["error_detail"]["param"] == "num_frames" and "nearest: 5" in message["error"]
    # The worker stays in service after refusing a request.
    (message,) = await collect(client, {"model": MODEL, "prompt": "x", "num_inference_steps": 1})
    assert message["status"] == "completed"


async def test_a_step_count_the_check_admits_completes(client):
    """340 steps at the tiny model's flow shift 3 (Wan 480p's): diffusers' UniPC scheduler alone
    fails its last step there; the worker's fixed scheduler runs every step (one small frame, so
    the steps are quick)."""
    request = {"model": MODEL, "prompt": "a long run", "size": "16x16", "num_frames": 1, "num_inference_steps": 340, "stream": True}
    *progress, final = await collect(client, request)
    assert final["status"] == "completed", final
    assert max(message.get("step") or 0 for message in progress) == 340
