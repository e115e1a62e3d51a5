"""Webhooks in the production shape: etcd discovery, two frontends on the etcd job store with
API keys, a tiny Wan2.1 worker and a synthetic one held at a stage where a test needs the job to
wait. A local receiver verifies every signature with the `standardwebhooks` package. Events
arrive on completion, failure, cancellation and start; a receiver that answers 500 twice gets
the event at the third attempt; a frontend SIGKILLed with a delivery pending leaves it to the
other replica; an endpoint the guard refuses makes the request a 400 naming `webhook`."""

from __future__ import annotations

import base64
import collections
import itertools
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from openai import OpenAI
from standardwebhooks import Webhook

from framecast.frontend.security import load_api_keys, tenant_webhook_secrets
from framecast.frontend.webhooks import WebhookSettings
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

MODEL, HELD_MODEL = "tiny-random-t2v", "synthetic"
ACME, GLOBEX = "k-acme-hooks", "k-globex-hooks"
# acme signs with its own secret; globex with the server's, and has a default endpoint.
ACME_SECRET = "whsec_" + base64.b64encode(b"acme-secret-of-32-bytes-exactly!").decode()
SERVER_SECRET = "whsec_" + base64.b64encode(b"server-secret-of-32-bytes-long!!").decode()
RETRY_DELAYS = "0.5,1,1,2,2,2,2,2"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class Attempt:
    path: str
    webhook_id: str
    verified: bool
    event: dict | None
    answered: int
    at: float = field(default_factory=time.monotonic)


class Receiver:
    """An HTTP endpoint that verifies every attempt's signature (the secret by path: /acme/...
    with acme's, anything else with the server's) and answers as the test says."""

    def __init__(self) -> None:
        self.attempts: list[Attempt] = []
        self.lock = threading.Lock()
        # path -> statuses answered to its next attempts (then 200).
        self.plan: dict[str, list[int]] = {}
        # path -> an event its attempts wait for before they are answered (a hanging endpoint).
        self.holds: dict[str, threading.Event] = {}
        self.waiting: collections.Counter[str] = collections.Counter()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                secret = ACME_SECRET if self.path.startswith("/acme/") else SERVER_SECRET
                try:
                    event, verified = Webhook(secret).verify(body, dict(self.headers)), True
                except Exception:
                    event, verified = None, False
                hold = receiver.holds.get(self.path)
                if hold is not None:
                    with receiver.lock:
                        receiver.waiting[self.path] += 1
                    hold.wait(timeout=120)
                    with receiver.lock:
                        receiver.waiting[self.path] -= 1
                with receiver.lock:
                    planned = receiver.plan.get(self.path, [])
                    status = planned.pop(0) if planned else 200
                    receiver.attempts.append(Attempt(self.path, self.headers.get("webhook-id", ""), verified, event, status))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def at(self, path: str) -> list[Attempt]:
        with self.lock:
            return [attempt for attempt in self.attempts if attempt.path == path]

    def wait(self, path: str, predicate, timeout: float = 120) -> list[Attempt]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            attempts = self.at(path)
            if predicate(attempts):
                return attempts
            time.sleep(0.05)
        raise AssertionError(f"{path}: the attempts never came as expected; got {self.at(path)}")

    def delivered(self, path: str, event_type: str, timeout: float = 120) -> Attempt:
        """The first attempt at `path` of the event type that the receiver took (2xx)."""
        attempts = self.wait(
            path, lambda got: any(a.answered == 200 and a.event and a.event["type"] == event_type for a in got), timeout
        )
        return next(a for a in attempts if a.answered == 200 and a.event and a.event["type"] == event_type)


@dataclass
class Hooks:
    discovery: Discovery
    urls: list[str]
    frontends: list
    hold: StageHold
    receiver: Receiver
    log_dir: object
    outputs: str

    def create(self, url: str, key: str = ACME, model: str = MODEL, **body) -> httpx.Response:
        body = {"model": model, "prompt": "a red fox in snow", "size": "64x64", "num_frames": 5, "num_inference_steps": 2, **body}
        return httpx.post(f"{url}/v1/videos", json=body, headers=auth(key), timeout=60)

    def job(self, url: str, key: str = ACME, **body) -> str:
        created = self.create(url, key, **body)
        assert created.status_code == 200, created.text
        return created.json()["id"]


@pytest.fixture(scope="module")
def hooks(tiny_model, tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("webhooks")
    receiver = Receiver()
    (log_dir / "keys.txt").write_text(
        f"acme: {ACME} webhook_secret={ACME_SECRET}\nglobex: {GLOBEX} webhook={receiver.url}/globex/default\n"
    )
    etcd = EtcdServer(log_dir / "etcd-data", log_dir)
    discovery = Discovery("etcd", stack_env("etcd", etcd.url, None))
    hold = StageHold(log_dir / "hold")
    outputs = (log_dir / "out").as_uri()
    workers = [
        start_worker(discovery, tiny_model, "fc-hooks", outputs, log_dir, "worker"),
        start_worker(discovery, "synthetic", "fc-hooks", outputs, log_dir, "worker-held", "--backend", "synthetic", *hold.args()),
    ]
    shared = [
        "--job-store", "etcd", "--api-key-file", str(log_dir / "keys.txt"), "--fetch-allow", "127.0.0.1",
        "--webhook-secret", SERVER_SECRET, "--webhook-retry-delays", RETRY_DELAYS, "--replica-timeout", "3",
    ]  # fmt: skip
    frontends = [start_frontend(discovery, "fc-hooks", log_dir, name, *shared) for name in ("a", "b")]
    try:
        for _, url in frontends:
            for model in (MODEL, HELD_MODEL):
                wait_for_workers(url, model, 1, processes=workers, headers=auth(ACME))
        yield Hooks(discovery, [url for _, url in frontends], frontends, hold, receiver, log_dir, outputs)
    finally:
        hold.release()
        for process, _ in frontends:
            process.stop()
        for worker in workers:
            worker.stop()
        etcd.stop()
        receiver.server.shutdown()


def test_the_completed_event_carries_the_job_and_is_signed(hooks):
    url_a, _ = hooks.urls
    video = OpenAI(base_url=f"{url_a}/v1", api_key=ACME).videos.create(
        model=MODEL, prompt="a red fox in snow", size="64x64",
        extra_body={"num_inference_steps": 2, "num_frames": 5, "webhook": f"{hooks.receiver.url}/acme/completed"},
    )  # fmt: skip
    attempt = hooks.receiver.delivered("/acme/completed", "video.completed")
    assert attempt.verified, "the signature did not verify with the tenant's secret"
    event = attempt.event
    assert event["object"] == "event" and event["id"] == attempt.webhook_id
    assert event["data"]["id"] == video.id and event["data"]["status"] == "completed"
    assert (event["data"]["num_frames"], event["data"]["size"]) == (5, "64x64")
    # What the client reads of the job is what the event said.
    assert wait_done(url_a, video.id, headers=auth(ACME))["status"] == "completed"
    # Only the events asked for (by default, how the job ended): no start event.
    time.sleep(1)
    assert [a.event["type"] for a in hooks.receiver.at("/acme/completed")] == ["video.completed"]


def test_an_endpoint_that_fails_twice_gets_the_event_at_the_third_attempt(hooks):
    url_a, url_b = hooks.urls
    path = "/acme/flaky"
    hooks.receiver.plan[path] = [500, 500]
    video_id = hooks.job(url_b, webhook=f"{hooks.receiver.url}{path}")
    attempt = hooks.receiver.delivered(path, "video.completed")
    attempts = hooks.receiver.at(path)
    assert [a.answered for a in attempts] == [500, 500, 200]
    assert all(a.verified for a in attempts)
    # One event, one id on every attempt: a receiver drops repeats by it.
    assert {a.webhook_id for a in attempts} == {attempt.webhook_id}
    assert attempt.event["data"]["id"] == video_id
    # The first retry waited its delay (0.5 s), the second the next one (1 s).
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(attempts)]
    assert gaps[0] >= 0.4 and gaps[1] >= 0.9, gaps
    metrics = httpx.get(f"{url_b}/metrics", headers=auth(ACME)).text
    assert 'framecast_webhook_deliveries_total{event="completed",outcome="retrying"} 2.0' in metrics
    assert 'framecast_webhook_deliveries_total{event="completed",outcome="delivered"}' in metrics


def test_failed_started_and_cancelled_events_arrive(hooks):
    url_a, url_b = hooks.urls
    receiver, hold = hooks.receiver, hooks.hold
    hold.hold("denoising")
    try:
        # Started, then cancelled by a delete on the other replica while its worker holds it.
        started = hooks.job(
            url_a, model=HELD_MODEL, webhook=f"{receiver.url}/acme/cancel", webhook_events=["started", "cancelled"]
        )
        assert receiver.delivered("/acme/cancel", "video.started").event["data"]["status"] == "in_progress"
        assert httpx.delete(f"{url_b}/v1/videos/{started}", headers=auth(ACME)).status_code == 200
        cancelled = receiver.delivered("/acme/cancel", "video.cancelled").event["data"]
        assert (cancelled["id"], cancelled["status"], cancelled["error"]["code"]) == (started, "failed", "cancelled")
    finally:
        hold.release()
    # Failed: the only worker of a model dies while it runs the job.
    doomed_hold = StageHold(hooks.log_dir / "doomed-hold")
    doomed = start_worker(
        hooks.discovery, "synthetic", "fc-hooks", hooks.outputs, hooks.log_dir, "worker-doomed", "--backend", "synthetic",
        "--served-model-name", "doomed", *doomed_hold.args(),
    )  # fmt: skip
    try:
        for url in hooks.urls:
            wait_for_workers(url, "doomed", 1, processes=[doomed], headers=auth(ACME))
        doomed_hold.hold("denoising")
        video_id = hooks.job(url_a, model="doomed", webhook=f"{receiver.url}/acme/failed", webhook_events="failed,completed")
        StageHold.wait_held([doomed], video_id, "denoising")
        doomed.kill()
        failed = receiver.delivered("/acme/failed", "video.failed").event["data"]
        assert (failed["id"], failed["status"], failed["error"]["code"]) == (video_id, "failed", "worker_lost")
    finally:
        doomed_hold.release()
        doomed.stop()


def test_a_tenant_default_endpoint_hears_of_its_jobs(hooks):
    url_a, _ = hooks.urls
    video_id = hooks.job(url_a, key=GLOBEX)
    attempt = hooks.receiver.delivered("/globex/default", "video.completed")
    assert attempt.verified, "the signature did not verify with the server's secret"
    assert attempt.event["data"]["id"] == video_id
    # A request's own webhook wins over the default.
    own = hooks.job(url_a, key=GLOBEX, webhook=f"{hooks.receiver.url}/globex/own")
    assert hooks.receiver.delivered("/globex/own", "video.completed").event["data"]["id"] == own
    assert [a.event["data"]["id"] for a in hooks.receiver.at("/globex/default")] == [video_id]


def test_an_endpoint_that_hangs_delays_no_job_and_no_other_tenants_events(hooks):
    url_a, url_b = hooks.urls
    receiver, path = hooks.receiver, "/acme/hanging"
    receiver.holds[path] = threading.Event()
    try:
        # More of acme's events than it may have attempts under way: each attempt hangs.
        hanging = [hooks.job(url_a, model=HELD_MODEL, webhook=f"{receiver.url}{path}") for _ in range(10)]
        for video_id in hanging:
            assert wait_done(url_a, video_id, headers=auth(ACME))["status"] == "completed"
        receiver.wait(path, lambda _: receiver.waiting[path] >= 8)
        # globex's event goes while acme's attempts still hang.
        video_id = hooks.job(url_a, key=GLOBEX, model=HELD_MODEL, webhook=f"{receiver.url}/globex/beside")
        assert receiver.delivered("/globex/beside", "video.completed").event["data"]["id"] == video_id
        assert receiver.waiting[path] >= 8 and not receiver.at(path)
    finally:
        receiver.holds.pop(path).set()
    # Released, every one of acme's events arrives (the ones that waited for a free attempt too).
    receiver.wait(path, lambda got: {a.event["data"]["id"] for a in got if a.answered == 200} >= set(hanging))


def test_a_delivery_pending_on_a_killed_frontend_is_sent_by_the_other(hooks):
    (process_a, url_a), _ = hooks.frontends
    path = "/acme/orphan"
    hooks.receiver.plan[path] = [500] * 100
    video_id = hooks.job(url_a, webhook=f"{hooks.receiver.url}{path}")
    hooks.receiver.wait(path, lambda got: len(got) >= 1)
    process_a.kill()
    killed_at = time.monotonic()
    hooks.receiver.plan[path] = []
    attempt = hooks.receiver.delivered(path, "video.completed", timeout=60)
    assert attempt.at > killed_at and attempt.verified
    assert attempt.event["data"]["id"] == video_id


@pytest.mark.parametrize(
    "body, param",
    [
        ({"webhook": "https://169.254.169.254/latest"}, "webhook"),  # link-local: the metadata address
        ({"webhook": "https://10.1.2.3/hook"}, "webhook"),  # private
        ({"webhook": "http://8.8.8.8/hook"}, "webhook"),  # public, but plain http
        ({"webhook": "ftp://example.com/hook"}, "webhook"),
        ({"webhook": "https://user:pw@8.8.8.8/hook"}, "webhook"),
        ({"webhook": "https://8.8.8.8/hook", "webhook_events": ["finished"]}, "webhook_events.0"),
        ({"webhook_events": ["completed"]}, "webhook_events"),
    ],
)
def test_a_refused_webhook_is_a_400_naming_the_field(hooks, body, param):
    _, url_b = hooks.urls
    refused = hooks.create(url_b, **body)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["param"] == param, refused.text


def test_the_synchronous_route_takes_no_webhook(hooks):
    _, url_b = hooks.urls
    body = {"model": MODEL, "prompt": "x", "size": "64x64", "webhook": f"{hooks.receiver.url}/acme/sync"}
    refused = httpx.post(f"{url_b}/v1/videos/generations", json=body, headers=auth(ACME), timeout=60)
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "webhook", refused.text


def test_every_attempt_the_receiver_got_was_signed(hooks):
    assert hooks.receiver.attempts and all(attempt.verified for attempt in hooks.receiver.attempts)


def test_key_entries_give_tenants_webhook_defaults_and_secrets(tmp_path):
    keys = tmp_path / "keys.txt"
    keys.write_text(
        f"acme: k1 webhook=https://hooks.example/a webhook_events=completed,started webhook_secret={ACME_SECRET}\n"
        "globex: k2 webhook=https://hooks.example/g\n"
    )
    callers = load_api_keys(str(keys))
    assert (callers["k1"].webhook, callers["k1"].webhook_events) == ("https://hooks.example/a", ("completed", "started"))
    assert tenant_webhook_secrets(callers) == {"acme": ACME_SECRET}
    # globex's default endpoint has nothing to sign it: refused at start, not at its first event.
    with pytest.raises(ValueError, match="globex"):
        WebhookSettings().checked(callers)
    WebhookSettings(webhook_secret=SERVER_SECRET).checked(callers)
    for bad in ("webhook_secret=abc", "webhook_events=done", "webhook=ftp://x"):
        keys.write_text(f"acme: k1 {bad}\n")
        with pytest.raises(ValueError, match="acme"):
            load_api_keys(str(keys))
    with pytest.raises(ValueError, match="retry-delays"):
        WebhookSettings(webhook_retry_delays="5,soon").checked({})
