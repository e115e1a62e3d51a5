"""A worker loading its model is visible before it serves, under etcd and under file discovery:
in /v1/runtime as `loading` with its stage, and on the playground page. It stops appearing when
it serves, and when it dies while loading."""

from __future__ import annotations

import shutil
import time

import httpx
from playwright.sync_api import sync_playwright

from framecast.protocol.loading import LOADING_TTL_S
from framecast.testing.stack import StageHold, start_frontend, start_worker, wait_for_workers

MODEL = "tiny-random-t2v"


def loading(base_url: str) -> list[dict]:
    workers = httpx.get(f"{base_url}/v1/runtime", timeout=10).json()["data"]
    return [worker for worker in workers if worker["status"] == "loading"]


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"{what} within {timeout}s"
        time.sleep(0.1)
    return result


def test_a_loading_worker_shows_until_it_serves_and_goes_when_it_dies(discovery, tiny_model, tmp_path):
    namespace = f"fc-loading-{discovery.backend}"
    hold = StageHold(tmp_path / "hold")
    hold.hold("loading")
    frontend, base_url = start_frontend(discovery, namespace, tmp_path, "frontend")
    out = (tmp_path / "out").as_uri()
    workers = [start_worker(discovery, tiny_model, namespace, out, tmp_path, "worker-1", *hold.args())]
    try:
        workers[0].wait_for_log("held at loading")
        (entry,) = wait_until(lambda: loading(base_url), 30, "the loading worker never showed")
        assert (entry["model"], entry["stage"], entry["backend"], entry["instance"]) == (MODEL, "loading model", "diffusers", None)
        assert entry["pid"] == workers[0].pid

        chromium = shutil.which("chromium")
        assert chromium, "Debian's chromium is not installed (launch/install.sh --tests installs it)"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            try:
                page = browser.new_page()
                page.goto(base_url + "/")
                page.wait_for_function(f"document.querySelector('#server-status').textContent.includes('loading: {MODEL} (loading model')")
            finally:
                browser.close()

        # Killed while loading: its notice goes with it (a lease, or a file no longer refreshed).
        workers[0].kill()
        wait_until(lambda: not loading(base_url), LOADING_TTL_S + 30, "the dead worker still showed as loading")

        # Let go, the next one serves, and shows as loading no more.
        workers.append(start_worker(discovery, tiny_model, namespace, out, tmp_path, "worker-2", *hold.args()))
        workers[1].wait_for_log("held at loading")
        wait_until(lambda: loading(base_url), 30, "the second worker never showed as loading")
        hold.release()
        wait_for_workers(base_url, MODEL, 1, processes=[workers[1]])
        assert loading(base_url) == []
        serving = httpx.get(f"{base_url}/v1/runtime").json()["data"]
        assert [(worker["status"], worker["model"]) for worker in serving] == [("serving", MODEL)]
    finally:
        hold.release()
        for worker in workers:
            worker.stop()
        frontend.stop()
