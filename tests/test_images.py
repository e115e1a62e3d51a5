"""Text-to-image through the whole stack (etcd discovery, real workers, one frontend for both): the
tiny random FLUX pipeline and the tiny Wan text-to-video model (one frame) answer
`POST /v1/images/generations`, driven by the official openai client."""

from __future__ import annotations

import base64
import io

import httpx
import numpy as np
import openai
import pytest
from PIL import Image

from framecast.testing.stack import Discovery, EtcdServer, stack_env, start_frontend, start_worker, wait_for_workers

T2I, T2V = "tiny-random-t2i", "tiny-random-t2v"
FAST = {"num_inference_steps": 2, "seed": 3}


@pytest.fixture(scope="module")
def stack(tiny_models, tmp_path_factory):
    """model -> the base URL serving it: one frontend serves both models of the namespace."""
    root = tmp_path_factory.mktemp("images")
    etcd = EtcdServer(root / "etcd-data", root)
    discovery = Discovery("etcd", stack_env("etcd", etcd.url, None))
    processes = []
    try:
        for model, kind in ((T2I, "t2i"), (T2V, "t2v")):
            processes.append(start_worker(discovery, tiny_models(kind), "fc-images", (root / "out").as_uri(), root, f"worker-{model}"))
        frontend, base_url = start_frontend(discovery, "fc-images", root, "frontend")
        processes.append(frontend)
        for model in (T2I, T2V):
            wait_for_workers(base_url, model, 1, processes=processes)
        yield {T2I: base_url, T2V: base_url}
    finally:
        for process in reversed(processes):
            process.stop()
        etcd.stop()


def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key="unused", max_retries=0)


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_the_openai_client_gets_n_images_inline(stack):
    result = client(stack[T2I]).images.generate(
        model=T2I, prompt="a red fox", n=2, size="64x64", response_format="b64_json", extra_body=FAST
    )
    images = [decode(base64.b64decode(item.b64_json)) for item in result.data]
    assert [(image.format, image.size, image.mode) for image in images] == [("PNG", (64, 64), "RGB")] * 2
    assert not np.array_equal(np.asarray(images[0]), np.asarray(images[1]))
    assert result.created > 0


def test_urls_open_over_http_in_the_format_asked(stack):
    for output_format, pillow_name in (("png", "PNG"), ("jpeg", "JPEG"), ("webp", "WEBP")):
        result = client(stack[T2I]).images.generate(
            model=T2I, prompt="a boat", size="80x48", output_format=output_format, extra_body=FAST
        )
        (item,) = result.data
        response = httpx.get(item.url, timeout=30)
        assert response.status_code == 200 and response.headers["content-type"] == f"image/{output_format}"
        image = decode(response.content)
        assert (image.format, image.size) == (pillow_name, (80, 48))


def test_a_video_model_makes_an_image_as_one_frame(stack):
    result = client(stack[T2V]).images.generate(model=T2V, prompt="a cat", size="64x48", response_format="b64_json", extra_body=FAST)
    image = decode(base64.b64decode(result.data[0].b64_json))
    assert (image.format, image.size) == ("PNG", (64, 48))


@pytest.mark.parametrize(
    ("field", "value"),
    [("n", 0), ("n", 5), ("size", "64"), ("size", "65x64"), ("size", "4096x4096"), ("output_format", "gif"), ("num_inference_steps", 0)],
)
def test_bad_fields_are_named(stack, field, value):
    body = {"model": T2I, "prompt": "x", field: value}
    response = httpx.post(f"{stack[T2I]}/v1/images/generations", json=body, timeout=60)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == field


def test_models_list_their_tasks_and_refuse_the_other_kind(stack):
    tasks = {model["id"]: model["tasks"] for model in httpx.get(f"{stack[T2I]}/v1/models").json()["data"]}
    assert tasks == {T2I: ["t2i"], T2V: ["t2v", "t2i", "v2v"]}
    video = httpx.post(f"{stack[T2I]}/v1/videos", json={"model": T2I, "prompt": "x"}, timeout=60)
    assert video.status_code == 400 and video.json()["error"]["param"] == "model", video.text
    # An image job is not a video: the videos list does not show it.
    listed = httpx.get(f"{stack[T2V]}/v1/videos").json()["data"]
    assert all(item["id"].startswith("video_") for item in listed)
