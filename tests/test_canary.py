"""The canary: a worker runs one minimal generation before it registers and, while idle, every
--canary-interval seconds. A failing canary (injected through the hold file, as a broken GPU
would fail every generation) takes the worker out of routing: its status server reports
unhealthy, the frontend stops sending it requests and shows the failure in /v1/runtime; the
worker keeps probing and comes back when a canary passes."""

from __future__ import annotations

import time

import httpx
import pytest

from framecast.testing.stack import (
    Discovery,
    StageHold,
    free_status_port,
    stack_env,
    start_frontend,
    start_worker,
    wait_for_workers,
)

MODEL = "tiny-random-t2v"
NAMESPACE = "fc-canary"
FAIL = "fail-generation"
# Each condition below is a state the stack must reach, however long the machine takes.
PATIENCE_S = 120


def eventually(condition, what: str):
    deadline = time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline:
        if (found := condition()) is not None:
            return found
        time.sleep(0.1)
    raise AssertionError(f"never saw {what} within {PATIENCE_S}s")


class Canaries:
    def __init__(self, root, tiny_model):
        self.root = root
        self.discovery = Discovery("file", stack_env("file", None, root / "kv"))
        self.status_port = free_status_port()
        self.hold = StageHold(root / "hold")
        env = dict(self.discovery.env, DYN_SYSTEM_PORT=str(self.status_port), DYN_SYSTEM_HOST="127.0.0.1")
        self.worker = start_worker(
            Discovery("file", env), tiny_model, NAMESPACE, (root / "out").as_uri(), root, "worker",
            *self.hold.args(), "--canary-interval", "1",
        )  # fmt: skip
        self.frontend, self.base_url = start_frontend(self.discovery, NAMESPACE, root, "frontend")
        self.processes = [self.worker, self.frontend]

    def runtime(self) -> list[dict]:
        return httpx.get(f"{self.base_url}/v1/runtime", timeout=10).json()["data"]

    def status(self) -> int:
        return httpx.get(f"http://127.0.0.1:{self.status_port}/health", timeout=10).status_code

    def stop(self) -> None:
        self.hold.release()
        for process in self.processes:
            process.stop()


@pytest.fixture(scope="module")
def canaries(tiny_model, tmp_path_factory):
    stack = Canaries(tmp_path_factory.mktemp("canary"), tiny_model)
    try:
        wait_for_workers(stack.base_url, MODEL, 1, processes=stack.processes)
        yield stack
    finally:
        stack.stop()


def test_a_canary_passes_before_the_worker_registers(canaries):
    log = canaries.worker.log_text()
    assert log.index("canary passed") < log.index("framecast worker ready"), log
    assert "1 step(s), 16x16, 1 frame(s)" in log
    assert canaries.status() == 200
    assert [entry["status"] for entry in canaries.runtime()] == ["serving"]


def test_a_failing_canary_takes_the_worker_out_of_routing_until_one_passes(canaries):
    canaries.hold.hold(FAIL)
    failing = eventually(
        lambda: next((entry for entry in canaries.runtime() if entry["status"] == "failing canary"), None),
        "the worker shown failing its canary in /v1/runtime",
    )
    assert "injected fault" in failing["canary_error"] and failing["model"] == MODEL
    assert canaries.status() != 200
    assert "canary failed" in canaries.worker.log_text()
    # Out of routing: the model has no worker to take a request.
    refused = httpx.post(f"{canaries.base_url}/v1/videos/generations", json={"prompt": "a fox", "num_inference_steps": 2})
    assert refused.status_code == 503, refused.text
    assert httpx.get(f"{canaries.base_url}/v1/models", timeout=10).json()["data"] == [] or all(
        model["workers"] == 0 for model in httpx.get(f"{canaries.base_url}/v1/models", timeout=10).json()["data"]
    )
    # It keeps probing: once generations work again, a canary passes and it serves.
    canaries.hold.release()
    eventually(
        lambda: True if [entry["status"] for entry in canaries.runtime()] == ["serving"] else None,
        "the worker serving again",
    )
    assert canaries.status() == 200
    served = httpx.post(
        f"{canaries.base_url}/v1/videos/generations", json={"prompt": "a fox", "num_inference_steps": 2}, timeout=120
    )
    assert served.status_code == 200, served.text
    assert "back in routing" in canaries.worker.log_text()


def test_a_worker_whose_first_canary_fails_registers_out_of_routing(canaries, tiny_model):
    hold = StageHold(canaries.root / "hold-second")
    hold.hold(FAIL)
    second = start_worker(
        canaries.discovery, tiny_model, NAMESPACE, (canaries.root / "out").as_uri(), canaries.root, "worker-2",
        *hold.args(), "--canary-interval", "1",
    )  # fmt: skip
    canaries.processes.append(second)
    second.wait_for_log("framecast worker ready")
    log = second.log_text()
    assert log.index("canary failed") < log.index("framecast worker ready"), log
    eventually(
        lambda: True if sorted(entry["status"] for entry in canaries.runtime()) == ["failing canary", "serving"] else None,
        "one worker serving and one failing its canary",
    )
    # Requests all go to the healthy one.
    first = canaries.worker.log_text().count(" generating: ")
    for _ in range(3):
        response = httpx.post(
            f"{canaries.base_url}/v1/videos/generations", json={"prompt": "a fox", "num_inference_steps": 2}, timeout=120
        )
        assert response.status_code == 200, response.text
    assert canaries.worker.log_text().count(" generating: ") == first + 3
    assert " generating: " not in second.log_text()
    hold.release()
    eventually(
        lambda: True if [entry["status"] for entry in canaries.runtime()] == ["serving", "serving"] else None,
        "both workers serving",
    )
