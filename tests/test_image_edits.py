"""Image edits (`POST /v1/images/edits`) through the stack: etcd discovery and job store, API keys
on, a tiny FLUX.1 Kontext worker, a tiny Qwen-Image-Edit worker and a tiny Wan worker (which
makes images from text only). The official openai client edits an uploaded image into n images
of the size asked with each edit model; an unsafe image URL is refused as input_reference's are,
and every other refusal names its field."""

from __future__ import annotations

import base64
import io

import httpx
import pytest
from openai import BadRequestError, OpenAI
from PIL import Image

from framecast.testing.stack import Discovery, EtcdServer, stack_env, start_frontend, start_worker, wait_for_workers

EDIT_MODEL, TEXT_MODEL = "tiny-random-flux-kontext", "tiny-random-t2v"
# Qwen-Image-Edit also reads the image with its text encoder's vision tower.
EDIT_MODELS = (EDIT_MODEL, "tiny-random-qwen-image-edit")
KEY = "k-edits"


def png(width: int = 96, height: int = 64) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def edits(tiny_models, tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("edits")
    (log_dir / "keys.txt").write_text(f"acme: {KEY}\n")
    etcd = EtcdServer(log_dir / "etcd-data", log_dir)
    discovery = Discovery("etcd", stack_env("etcd", etcd.url, None))
    outputs, inputs = (log_dir / "out").as_uri(), (log_dir / "inputs").as_uri()
    workers = [
        start_worker(discovery, tiny_models(kind), "fc-edits", outputs, log_dir, f"worker-{kind}", "--input-store", inputs)
        for kind in ("flux-kontext", "qwen-image-edit", "t2v")
    ]
    frontend, base_url = start_frontend(
        discovery, "fc-edits", log_dir, "frontend", "--job-store", "etcd", "--api-key-file", str(log_dir / "keys.txt"),
        "--input-store", inputs,
    )  # fmt: skip
    try:
        for model in (*EDIT_MODELS, TEXT_MODEL):
            wait_for_workers(base_url, model, 1, processes=workers, headers={"authorization": f"Bearer {KEY}"})
        yield base_url, log_dir / "inputs"
    finally:
        frontend.stop()
        for worker in workers:
            worker.stop()
        etcd.stop()


@pytest.mark.parametrize("model", EDIT_MODELS)
def test_the_openai_client_edits_an_image_into_n_images_of_the_size_asked(edits, model):
    base_url, inputs = edits
    client = OpenAI(base_url=f"{base_url}/v1", api_key=KEY)
    result = client.images.edit(
        model=model, image=("cat.png", png(), "image/png"), prompt="make the cat blue", n=2, size="64x48",
        response_format="b64_json", extra_body={"num_inference_steps": 2, "seed": 4},
    )  # fmt: skip
    assert len(result.data) == 2
    for item in result.data:
        picture = Image.open(io.BytesIO(base64.b64decode(item.b64_json)))
        assert picture.size == (64, 48) and picture.format == "PNG"
    # By URL, as JSON with a data: URL; the stored input goes with the request's files.
    data_url = "data:image/png;base64," + base64.b64encode(png(64, 64)).decode()
    answer = httpx.post(
        f"{base_url}/v1/images/edits", headers={"authorization": f"Bearer {KEY}"}, timeout=120,
        json={"model": model, "prompt": "a hat", "image": data_url, "num_inference_steps": 2, "output_format": "webp"},
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    (item,) = answer.json()["data"]
    image = httpx.get(item["url"] if item["url"].startswith("http") else f"{base_url}{item['url']}", headers={"authorization": f"Bearer {KEY}"})
    assert Image.open(io.BytesIO(image.content)).size == (64, 64)


def refused(response: httpx.Response, param: str, code: str | None = None) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and (code is None or error["code"] == code), error


def test_each_refusal_names_its_field(edits):
    base_url, _ = edits
    headers = {"authorization": f"Bearer {KEY}"}

    def edit(files=None, **fields) -> httpx.Response:
        body = {"model": EDIT_MODEL, "prompt": "edit", "num_inference_steps": "2"} | fields
        if files is None:
            return httpx.post(f"{base_url}/v1/images/edits", json=body, headers=headers, timeout=120)
        return httpx.post(f"{base_url}/v1/images/edits", data=body, files=files, headers=headers, timeout=120)

    # The fetch guard of input images: loopback and the cloud metadata address are not fetched.
    for unsafe in ("http://127.0.0.1:9/cat.png", "http://169.254.169.254/latest/meta-data"):
        refused(edit(image=unsafe), "image")
    refused(edit(image="data:text/plain;base64,aGVsbG8="), "image")
    refused(edit(files={"image": ("x.png", b"not an image", "image/png")}), "image")
    refused(edit(), "image", "missing_field")
    refused(edit(files=[("image[]", ("a.png", png(), "image/png")), ("image[]", ("b.png", png(), "image/png"))]), "image")
    refused(edit(files={"image": ("a.png", png(), "image/png"), "mask": ("m.png", png(), "image/png")}), "mask")
    refused(edit(files={"image": ("a.png", png(), "image/png")}, size="65x64"), "size")
    # A model that makes images from text only edits none, and an editing model makes none from text.
    refused(edit(files={"image": ("a.png", png(), "image/png")}, model=TEXT_MODEL), "model")
    generated = httpx.post(
        f"{base_url}/v1/images/generations", json={"model": EDIT_MODEL, "prompt": "a cat"}, headers=headers, timeout=60
    )
    refused(generated, "model")
    with pytest.raises(BadRequestError, match="image"):
        OpenAI(base_url=f"{base_url}/v1", api_key=KEY).images.edit(
            model=EDIT_MODEL, image=("x.png", b"GIF89a", "image/png"), prompt="x"
        )
