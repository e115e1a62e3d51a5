"""The OpenAI Videos job API on one frontend (SQLite job store): the official openai client,
live progress over server-sent events, cancellation that frees the worker, expiry, and a
restarted frontend that loses no job."""

from __future__ import annotations

import io
import json
import re
import signal
import socket
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx
import openai
import pytest
from PIL import Image

from framecast.testing.stack import StageHold, decode_mp4, start_frontend, start_held_stack, wait_done

MODEL = "tiny-random-t2v"


class Stack:
    def __init__(self, discovery, base_url, worker, frontend, log_dir, hold):
        self.discovery, self.base_url, self.worker, self.frontend, self.log_dir = discovery, base_url, worker, frontend, log_dir
        # Tests that cancel or kill mid-job hold the job in a stage first (and release it after).
        self.hold: StageHold = hold

    def held(self, video_id: str, stage: str = "denoising") -> None:
        StageHold.wait_held([self.worker], video_id, stage)

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.base_url}/v1", api_key="unused", max_retries=0)


@pytest.fixture(scope="module")
def stack(tiny_model, tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("jobs")
    held = start_held_stack(tiny_model, log_dir, "fc-jobs")
    try:
        yield Stack(held.discovery, held.base_url, held.worker, held.frontend, log_dir, held.hold)
    finally:
        held.stop()


@pytest.fixture
def hold(stack):
    """Hold jobs in denoising for one test."""
    stack.hold.hold("denoising")
    try:
        yield stack.hold
    finally:
        stack.hold.release()


def create(base_url: str, **body) -> dict:
    response = httpx.post(f"{base_url}/v1/videos", json={"prompt": "a fox", **body}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def follow_events(base_url: str, video_id: str, until=lambda video: False) -> list[dict]:
    events = []
    with httpx.stream("GET", f"{base_url}/v1/videos/{video_id}/events", timeout=120) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line.removeprefix("data:")))
                if until(events[-1]):
                    break
    return events


def test_the_official_openai_client_drives_the_whole_lifecycle(stack):
    client = stack.client()
    video = client.videos.create_and_poll(
        model=MODEL, prompt="a red fox in snow", seconds="1", size="64x48",
        extra_body={"fps": 8, "num_inference_steps": 3, "seed": 5},
    )  # fmt: skip
    assert (video.status, video.progress, video.object, video.model) == ("completed", 100, "video", MODEL)
    assert (video.seconds, video.size, video.prompt, video.error) == ("1", "64x48", "a red fox in snow", None)
    assert video.completed_at >= video.created_at and video.expires_at > video.completed_at

    assert client.videos.retrieve(video.id).status == "completed"
    assert video.id in [item.id for item in client.videos.list(limit=100)]

    mp4 = client.videos.download_content(video.id).read()
    decoded = decode_mp4(mp4)
    # One second at 8 fps, rounded up to the model's 4k+1 frame counts.
    assert (decoded.count, decoded.width, decoded.height, decoded.fps) == (9, 64, 48, 8)
    thumbnail = Image.open(io.BytesIO(client.videos.download_content(video.id, variant="thumbnail").read()))
    assert (thumbnail.format, thumbnail.size) == ("JPEG", (64, 48))
    sheet = Image.open(io.BytesIO(client.videos.download_content(video.id, variant="spritesheet").read()))
    assert (sheet.format, sheet.size) == ("JPEG", (4 * 64, 3 * 48))  # 9 frames, 4 to a row

    stored = list((stack.log_dir / "out").glob(f"{video.id}*"))
    assert len(stored) == 3
    deleted = client.videos.delete(video.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (video.id, True, "video.deleted")
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)
    assert not any(path.exists() for path in stored)


def test_json_and_multipart_bodies_take_framecast_knobs_and_name_bad_fields(stack):
    video = create(stack.base_url, model=MODEL, num_frames=13, size="80x64", fps=12, num_inference_steps=2)
    assert (video["status"], video["num_frames"], video["size"], video["seconds"]) == ("queued", 13, "80x64", "1.08")
    # Form fields sent as multipart parts, the way the openai client sends them.
    fields = {"prompt": "a boat", "model": MODEL, "seconds": "1", "nvext[num_frames]": "5", "nvext[fps]": "4"}
    multipart = httpx.post(f"{stack.base_url}/v1/videos", files={key: (None, value) for key, value in fields.items()})
    assert multipart.request.headers["content-type"].startswith("multipart/form-data")
    assert multipart.status_code == 200, multipart.text
    assert (multipart.json()["num_frames"], multipart.json()["fps"]) == (5, 4)
    for body, status, param, code in [
        ({"prompt": "x", "num_frames": 10}, 400, "num_frames", "invalid_value"),
        ({"prompt": "x", "num_frame": 9}, 400, "num_frame", "unknown_field"),
        ({"prompt": "x", "size": "65x64"}, 400, "size", "invalid_value"),
        ({"model": MODEL}, 400, "prompt", "missing_field"),
        ({"prompt": "x", "model": "elsewhere/model"}, 404, "model", "model_not_found"),
    ]:
        response = httpx.post(f"{stack.base_url}/v1/videos", json=body)
        error = response.json()["error"]
        assert (response.status_code, error["param"], error["code"]) == (status, param, code), response.text
    upload = httpx.post(
        f"{stack.base_url}/v1/videos", data={"prompt": "x"}, files={"input_reference": ("cat.png", b"png", "image/png")}
    )
    assert upload.status_code == 400 and upload.json()["error"]["param"] == "input_reference"
    for job in (video, multipart.json()):
        assert wait_done(stack.base_url, job["id"])["status"] == "completed"


def test_events_carry_every_denoising_step_rising_to_100(stack, hold):
    steps = 12
    video = create(stack.base_url, num_inference_steps=steps)
    # Held after its first step until the stream is open, however fast the machine: no later
    # step can pass unseen.
    stack.held(video["id"])

    def release_once_open(event: dict) -> bool:
        hold.release()
        return False

    events = follow_events(stack.base_url, video["id"], until=release_once_open)
    progress = [event["progress"] for event in events]
    denoising = [event for event in events if event["stage"] == "denoising"]
    assert len({event["progress"] for event in denoising}) >= steps - 1
    assert len(denoising) >= steps - 1
    assert progress == sorted(progress)
    assert events[-1]["status"] == "completed" and progress[-1] == 100


def test_polling_clients_are_told_when_to_come_back(stack, hold):
    video = create(stack.base_url, num_inference_steps=4)
    stack.held(video["id"])
    response = httpx.get(f"{stack.base_url}/v1/videos/{video['id']}")
    assert response.json()["status"] == "in_progress" and response.headers["openai-poll-after-ms"] == "1000"
    hold.release()
    done = wait_done(stack.base_url, video["id"])
    assert "openai-poll-after-ms" not in httpx.get(f"{stack.base_url}/v1/videos/{done['id']}").headers


def _wait_log(stack, pattern: str, after: int = 0, timeout: float = 120) -> re.Match:
    """The first match of `pattern` in the worker's log past offset `after`."""
    deadline = time.monotonic() + timeout
    while (match := re.compile(pattern).search(stack.worker.log_text(), after)) is None:
        assert time.monotonic() < deadline, f"the worker never logged {pattern!r}"
        time.sleep(0.02)
    return match


def worker_lines(stack, pattern: str) -> list[re.Match]:
    return list(re.finditer(pattern, stack.worker.log_text()))


def test_delete_of_a_running_job_frees_the_worker_within_one_step(stack, hold):
    long = create(stack.base_url, num_inference_steps=200)
    stack.held(long["id"])
    assert httpx.delete(f"{stack.base_url}/v1/videos/{long['id']}").json()["deleted"] is True
    hold.release()
    following = create(stack.base_url, num_inference_steps=2)
    assert wait_done(stack.base_url, following["id"])["status"] == "completed"

    (stopped,) = worker_lines(
        stack, rf"request {long['id']} cancelled by its client after step (\d+) of 200 \((\d+) step\(s\) after the stop signal\)"
    )
    assert int(stopped.group(1)) < 200 and int(stopped.group(2)) <= 1
    (started_next,) = worker_lines(stack, rf"request {following['id']} generating")
    assert stopped.start() < started_next.start()
    assert httpx.get(f"{stack.base_url}/v1/videos/{long['id']}").status_code == 404


def test_delete_of_a_queued_job_removes_it_before_it_reaches_a_worker(stack, hold):
    running = create(stack.base_url, num_inference_steps=200)
    queued = create(stack.base_url, num_inference_steps=2)
    stack.held(running["id"])
    assert httpx.get(f"{stack.base_url}/v1/videos/{queued['id']}").json()["status"] == "queued"
    assert httpx.delete(f"{stack.base_url}/v1/videos/{queued['id']}").status_code == 200
    httpx.delete(f"{stack.base_url}/v1/videos/{running['id']}")
    hold.release()
    after = create(stack.base_url, num_inference_steps=2)
    assert wait_done(stack.base_url, after["id"])["status"] == "completed"
    assert queued["id"] not in stack.worker.log_text()


def test_a_client_that_disconnects_from_the_synchronous_route_cancels_its_work(stack, hold):
    seen = len(stack.worker.log_text())
    body = json.dumps({"model": MODEL, "prompt": "abandoned", "num_inference_steps": 1000}).encode()
    address = urlparse(stack.base_url)
    with socket.create_connection((address.hostname, address.port), timeout=60) as connection:
        connection.sendall(
            b"POST /v1/videos/generations HTTP/1.1\r\nhost: framecast\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(body)}\r\n\r\n".encode() + body
        )
        # The answer comes only when the video is done; the client leaves while it is held.
        abandoned_id = _wait_log(stack, r"request (video_\w+) held at denoising", after=seen).group(1)
    hold.release()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        abandoned = [video for video in httpx.get(f"{stack.base_url}/v1/videos?limit=100").json()["data"] if video["prompt"] == "abandoned"]
        if abandoned and abandoned[0]["status"] == "failed":
            break
        time.sleep(0.1)
    (video,) = abandoned
    assert video["id"] == abandoned_id
    assert video["error"]["code"] == "cancelled" and "disconnected" in video["error"]["message"]
    (stopped,) = worker_lines(stack, rf"request {video['id']} cancelled by its client after step (\d+) of 1000 \((\d+) step")
    assert int(stopped.group(1)) < 1000 and int(stopped.group(2)) <= 1


def test_content_is_refused_until_the_video_is_done(stack, hold):
    video = create(stack.base_url, num_inference_steps=100)
    stack.held(video["id"])
    early = httpx.get(f"{stack.base_url}/v1/videos/{video['id']}/content")
    assert early.status_code == 409 and early.json()["error"]["code"] == "video_not_ready"
    assert "completed" in early.json()["error"]["message"]
    bad_variant = httpx.get(f"{stack.base_url}/v1/videos/{video['id']}/content?variant=gif")
    assert bad_variant.status_code == 400, bad_variant.text
    assert (bad_variant.json()["error"]["code"], bad_variant.json()["error"]["param"]) == ("invalid_value", "variant")
    httpx.delete(f"{stack.base_url}/v1/videos/{video['id']}")
    missing = httpx.get(f"{stack.base_url}/v1/videos/video_nope/content")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "video_not_found"


def test_list_pages_through_jobs_in_order(stack):
    made = [create(stack.base_url, num_inference_steps=1, prompt=f"page {index}")["id"] for index in range(3)]
    for video_id in made:
        wait_done(stack.base_url, video_id)
    newest_first = httpx.get(f"{stack.base_url}/v1/videos", params={"limit": 2}).json()
    assert [item["id"] for item in newest_first["data"]] == made[::-1][:2] and newest_first["has_more"]
    assert newest_first["first_id"] == made[2] and newest_first["last_id"] == made[1]
    rest = httpx.get(f"{stack.base_url}/v1/videos", params={"limit": 1, "after": made[1]}).json()
    assert [item["id"] for item in rest["data"]] == [made[0]]
    ascending = httpx.get(f"{stack.base_url}/v1/videos", params={"order": "asc", "limit": 100}).json()["data"]
    created = [item["created_at"] for item in ascending]
    assert created == sorted(created)


def test_outputs_expire_and_their_bytes_are_deleted(stack, tmp_path):
    frontend, base_url = start_frontend(
        stack.discovery, "fc-jobs", tmp_path, "frontend-ttl", "--job-ttl", "1", "--sweep-interval", "0.5"
    )
    try:
        video = create(base_url, num_inference_steps=2)
        done = wait_done(base_url, video["id"])
        assert done["expires_at"] - done["completed_at"] <= 1
        path = Path(urlparse(next((stack.log_dir / "out").glob(f"{video['id']}.mp4")).as_uri()).path)
        assert httpx.get(f"{base_url}/v1/videos/{video['id']}/content").status_code == 200
        deadline = time.monotonic() + 15
        while path.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not path.exists(), "the sweeper did not delete the expired video"
        gone = httpx.get(f"{base_url}/v1/videos/{video['id']}/content")
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "video_expired"
        assert httpx.get(f"{base_url}/v1/videos/{video['id']}").json()["status"] == "completed"
    finally:
        frontend.stop()


def test_a_restarted_frontend_loses_no_job(stack, tmp_path):
    """A frontend killed with jobs queued and running: the next one on the same database takes
    them over once the dead one's heartbeat is stale, and finishes them."""
    args = ("--job-db", str(tmp_path / "jobs.sqlite3"), "--replica-timeout", "3")
    frontend, base_url = start_frontend(stack.discovery, "fc-jobs", tmp_path, "frontend-a", *args)
    stack.hold.hold("denoising")
    running = create(base_url, num_inference_steps=150)
    queued = create(base_url, num_inference_steps=2)
    stack.held(running["id"])
    frontend.process.send_signal(signal.SIGKILL)
    frontend.process.wait()
    frontend.stop()
    stack.hold.release()
    restarted, base_url = start_frontend(stack.discovery, "fc-jobs", tmp_path, "frontend-b", *args)
    try:
        for video_id in (running["id"], queued["id"]):
            assert wait_done(base_url, video_id, timeout=60)["status"] == "completed"
        assert "took over job" in restarted.log_text()
        mp4 = httpx.get(f"{base_url}/v1/videos/{queued['id']}/content").content
        assert decode_mp4(mp4).count == 9
    finally:
        restarted.stop()
