"""The playground page at / in real headless Chromium (Debian's package, driven by playwright),
against the real stack with API keys on and three models behind one frontend (tiny t2v, i2v and
t2i): the key is asked for, the tiny model picked, a job submitted; its bar advances while the
worker holds it, and the finished video plays. Cancel stops the job on the server; a bad size is
shown next to its field. A fourth worker serves the t2v folder again under another name, with a
LoRA adapter and a step cache: the form offers the adapter with its scale and the exact switch.
The picker groups the models by task; the image model switches the
page to images (two of them in the grid); the edit model edits an uploaded image; the i2v model makes a video from an uploaded image;
the form copied as curl and as Python runs as it is; a finished video is remixed with a new prompt."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import sync_playwright

from framecast.testing.stack import StageHold, start_keyed_held_stack, start_worker, wait_done, wait_for_workers

MODEL, I2V, T2I, TUNED = "tiny-random-t2v", "tiny-random-i2v", "tiny-random-t2i", "tiny-t2v-tuned"
EDIT = "tiny-random-flux-kontext"
KEY = "key-page"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="module")
def stack(tiny_models, tmp_path_factory):
    """The held stack (its one worker, of the t2v model, holds jobs on demand) and, in the same
    namespace behind the same frontend, a worker each of the i2v and t2i models."""
    root = tmp_path_factory.mktemp("playground")
    held = start_keyed_held_stack(tiny_models("t2v"), root, "fc-page", KEY)
    others = []
    try:
        for kind in ("i2v", "t2i", "flux-kontext"):
            others.append(start_worker(held.discovery, tiny_models(kind), "fc-page", (root / "out").as_uri(), root, f"worker-{kind}"))
        adapter = root / "tiny-lora"
        subprocess.run(
            [sys.executable, "-m", "framecast.components.tiny_model", str(adapter), "--lora-for", str(tiny_models("t2v"))],
            check=True, capture_output=True,
        )  # fmt: skip
        others.append(start_worker(
            held.discovery, tiny_models("t2v"), "fc-page", (root / "out").as_uri(), root, "worker-tuned",
            "--served-model-name", TUNED, "--lora", f"fast={adapter}", "--cache", "recommended",
        ))  # fmt: skip
        for model in (I2V, T2I, TUNED, EDIT):
            wait_for_workers(held.base_url, model, 1, processes=others, headers={"authorization": f"Bearer {KEY}"})
        yield held
    finally:
        for worker in others:
            worker.stop()
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


def test_the_picker_groups_every_model_by_task(page):
    groups = page.eval_on_selector_all(
        "#model optgroup", "groups => groups.map(g => [g.label, [...g.querySelectorAll('option')].map(o => o.value)])"
    )
    assert groups == [["Image to video", [I2V]], ["Text to video", [MODEL, TUNED]], ["Text to image", [T2I]], ["Image edits", [EDIT]]]
    # The text-to-video model makes single frames too: the page offers both.
    assert page.is_visible("#mode-field") and page.is_visible("#num_frames")


def test_the_image_model_makes_two_images_in_the_grid(page):
    page.select_option("#model", T2I)
    assert not page.is_visible("#mode-field") and page.is_visible("#n") and not page.is_visible("#num_frames")
    page.fill("#prompt", "a lighthouse")
    page.fill("#n", "2")
    page.fill("#num_inference_steps", "2")
    page.select_option("#output_format", "webp")
    page.click("#submit")
    page.wait_for_function(
        "[...document.querySelectorAll('#image-grid img')].filter(img => img.naturalWidth === 64).length === 2", timeout=120_000
    )
    links = page.eval_on_selector_all("#image-grid a[download]", "links => links.map(a => a.download)")
    assert links == ["image-1.webp", "image-2.webp"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "playground-images.png"), full_page=True)


def test_the_edit_model_edits_an_uploaded_image(page, tmp_path):
    from PIL import Image

    picture = tmp_path / "cat.png"
    Image.new("RGB", (96, 64), (200, 120, 40)).save(picture)
    page.select_option("#model", EDIT)
    assert page.is_visible("#image") and "required" in page.text_content("#edit-hint")
    page.fill("#prompt", "give the cat a hat")
    page.fill("#num_inference_steps", "2")
    # Without the image, the server's refusal is shown next to the image field.
    page.click("#submit")
    page.wait_for_function("document.querySelector('#error-image').textContent.length > 0")
    page.set_input_files("#image", str(picture))
    page.fill("#size", "64x48")
    page.click("#submit")
    page.wait_for_function(
        "[...document.querySelectorAll('#image-grid img')].some(img => img.naturalWidth === 64 && img.naturalHeight === 48)",
        timeout=120_000,
    )
    assert page.text_content("#error-form") == "" and page.text_content("#error-image") == ""


def test_the_i2v_model_makes_a_video_from_an_uploaded_image(page, tmp_path):
    from PIL import Image

    picture = tmp_path / "cat.png"
    Image.new("RGB", (96, 64), (200, 120, 40)).save(picture)
    page.select_option("#model", I2V)
    assert page.is_visible("#input_reference") and "required" in page.text_content("#image-hint")
    page.fill("#prompt", "the cat turns its head")
    page.set_input_files("#input_reference", str(picture))
    page.fill("#num_frames", "5")
    page.fill("#num_inference_steps", "2")
    page.click("#submit")
    _job_id(page)
    page.wait_for_function("(() => { const v = document.querySelector('#player'); return v.readyState >= 2 && v.duration > 0; })()", timeout=120_000)
    assert page.eval_on_selector("#player", "video => video.videoWidth") == 64


def _shell(command: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, FRAMECAST_API_KEY=KEY, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


def test_the_form_copied_as_curl_and_as_python_runs(page, tmp_path):
    import json

    from PIL import Image

    page.select_option("#model", T2I)
    page.fill("#prompt", "a boat")
    page.fill("#num_inference_steps", "2")
    page.fill("#seed", "5")
    page.click("#copy-curl")
    curl = page.text_content("#command")
    assert curl.startswith("curl -X POST") and "/v1/images/generations" in curl and "$FRAMECAST_API_KEY" in curl
    answer = _shell(curl, tmp_path)
    assert answer.returncode == 0, answer.stderr
    (item,) = json.loads(answer.stdout)["data"]
    import base64

    assert Image.open(io.BytesIO(base64.b64decode(item["b64_json"]))).size == (64, 64)
    page.click("#copy-python")
    code = page.text_content("#command")
    assert "client.images.generate(" in code and '"seed": 5' in code
    ran = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=dict(os.environ, FRAMECAST_API_KEY=KEY), capture_output=True, text=True, timeout=180
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert Image.open(tmp_path / "image-0.png").size == (64, 64)
    # The video form, exact and with its seconds, as Python for the job API.
    page.select_option("#model", MODEL)
    page.fill("#seconds", "1")
    page.click("#copy-python")
    code = page.text_content("#command")
    assert "client.videos.create_and_poll(" in code and '"seconds": 1' in code and "num_frames" not in code


def test_the_form_offers_the_models_adapters_and_the_exact_switch(page):
    assert not page.is_visible("#adapters-field") and not page.is_visible("#exact-field")
    page.select_option("#model", TUNED)
    assert page.is_visible("#exact-field") and "taylorseer" in page.text_content("#cache-mode")
    page.check("#adapters .adapter[data-name='fast'] .use")
    page.fill("#adapters .adapter[data-name='fast'] .scale", "0.5")
    page.check("#exact")
    page.fill("#prompt", "a tuned fox")
    page.fill("#num_frames", "5")
    page.fill("#num_inference_steps", "2")
    page.click("#copy-python")
    code = page.text_content("#command")
    assert '"lora": [{"name": "fast", "scale": 0.5}]' in code and '"nvext": {"cache": False}' in code, code
    page.click("#submit")
    video_id = _job_id(page)
    page.wait_for_function("(() => { const v = document.querySelector('#player'); return v.readyState >= 2 && v.duration > 0; })()", timeout=120_000)
    base_url, auth = page.url.rstrip("/"), {"authorization": f"Bearer {KEY}"}
    assert httpx.get(f"{base_url}/v1/videos/{video_id}", headers=auth).json()["status"] == "completed"
    # The worker loaded the adapter for it.
    (tuned,) = [worker for worker in httpx.get(f"{base_url}/v1/runtime", headers=auth).json()["data"] if worker["model"] == TUNED]
    assert tuned["adapters_loaded"] == ["fast"]


def test_a_finished_video_is_remixed_with_a_new_prompt(page):
    page.fill("#prompt", "a red fox in snow")
    page.fill("#num_frames", "5")
    page.fill("#num_inference_steps", "4")
    page.click("#submit")
    source_id = _job_id(page)
    page.wait_for_selector("#remix-form", state="visible", timeout=120_000)
    page.fill("#remix-prompt", "a blue bird")
    page.fill("#strength", "0.5")
    page.click("#remix")
    page.wait_for_function(f"(() => {{ const id = document.querySelector('#job-id').textContent; return id.startsWith('video_') && id !== '{source_id}'; }})()")
    remix_id = page.text_content("#job-id")
    video = wait_done(page.url.rstrip("/"), remix_id, timeout=120, headers={"authorization": f"Bearer {KEY}"})
    page.wait_for_function("(() => { const v = document.querySelector('#player'); return v.readyState >= 2 && v.duration > 0; })()", timeout=120_000)
    assert (video["status"], video["remixed_from_video_id"], video["num_frames"], video["total_steps"]) == ("completed", source_id, 5, 2)
    # A strength that runs no step (a fifth of 4 steps) is shown next to its field.
    page.fill("#strength", "0.2")
    page.click("#remix")
    page.wait_for_function("document.querySelector('#error-strength').textContent.length > 0")
    assert "no step" in page.text_content("#error-strength")
