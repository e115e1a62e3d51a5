"""The playground page at / in real headless Chromium (Debian's package, driven by playwright),
against the real stack with API keys on: the key is asked for, the tiny model picked, a job
submitted; its bar advances while the worker holds it, and the finished video plays. Cancel
stops the job on the server; a bad size is shown next to its field."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import sync_playwright

from framecast.testing.stack import StageHold, start_keyed_held_stack

MODEL = "tiny-random-t2v"
KEY = "key-page"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="module")
def stack(tiny_model, tmp_path_factory):
    held = start_keyed_held_stack(tiny_model, tmp_path_factory.mktemp("playground"), "fc-page", KEY)
    try:
        yield held
    finally:
        held.stop()


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is not installed (launch/install.sh --tests installs it)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(stack, browser):
    """The page with the key given and the tiny model picked."""
    context = browser.new_context()
    opened = context.new_page()
    opened.goto(stack.base_url + "/")
    opened.wait_for_selector("#key-section", state="visible")
    opened.fill("#api-key", KEY)
    opened.click("#save-key")
    opened.wait_for_function(f"[...document.querySelectorAll('#model option')].some(o => o.value === '{MODEL}')")
    opened.select_option("#model", MODEL)
    try:
        yield opened
    finally:
        context.close()


def _job_id(page) -> str:
    page.wait_for_function("document.querySelector('#job-id').textContent.startsWith('video_')")
    return page.text_content("#job-id")


def test_a_video_made_in_the_page_plays_there(stack, page):
    # The model's defaults shaped the form.
    assert page.input_value("#size") == "64x64" and page.input_value("#num_frames") == "9"
    page.fill("#prompt", "a red fox in snow")
    page.fill("#num_inference_steps", "8")
    stack.hold.hold("denoising")
    try:
        page.click("#submit")
        video_id = _job_id(page)
        StageHold.wait_held([stack.worker], video_id, "denoising")
        page.wait_for_function("document.querySelector('#progress').value > 0")
        held_at = page.eval_on_selector("#progress", "element => element.value")
        assert "denoising" in page.text_content("#progress-text")
    finally:
        stack.hold.release()
    page.wait_for_function("(() => { const v = document.querySelector('#player'); return v.readyState >= 2 && v.duration > 0; })()", timeout=120_000)
    assert page.eval_on_selector("#progress", "element => element.value") == 100 > held_at
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "playground.png"), full_page=True)
    # The history shows the job with its thumbnail.
    page.wait_for_function(
        f"(() => {{ const img = document.querySelector('#history li[data-id=\"{video_id}\"] img'); return img && img.naturalWidth > 0; }})()"
    )


def test_cancel_stops_the_job_on_the_server(stack, page):
    page.fill("#prompt", "a long one")
    page.fill("#num_inference_steps", "50")
    stack.hold.hold("denoising")
    try:
        page.click("#submit")
        video_id = _job_id(page)
        StageHold.wait_held([stack.worker], video_id, "denoising")
        page.click("#cancel")
        page.wait_for_function("document.querySelector('#progress-text').textContent === 'cancelled'")
    finally:
        stack.hold.release()
    stack.worker.wait_for_log(rf"request {video_id} cancelled", timeout=60)
    assert httpx.get(f"{stack.base_url}/v1/videos/{video_id}", headers={"authorization": f"Bearer {KEY}"}).status_code == 404


def test_a_bad_size_is_shown_next_to_its_field(page):
    page.fill("#prompt", "x")
    page.fill("#size", "65x64")
    page.click("#submit")
    page.wait_for_function("document.querySelector('#error-size').textContent.length > 0")
    assert "multiples of 16" in page.text_content("#error-size")
    assert page.text_content("#error-form") == ""
