"""Image-to-video through the whole stack (etcd discovery, real workers of the tiny random I2V and
TI2V models, a real frontend): one image gives the same video however it arrives (upload, data:
URL, http URL), another image another video; a TI2V model works with or without an image; the
official openai client uploads one; and every unsafe or broken input_reference is refused with
a 4xx naming it, before anything reaches the address it names."""

from __future__ import annotations

import base64
import io
import ipaddress
import signal
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
from PIL import Image

from framecast.testing.stack import (
    LOSSLESS_VIDEO,
    Discovery,
    EtcdServer,
    StageHold,
    decode_mp4,
    stack_env,
    start_frontend,
    start_worker,
    wait_done,
    wait_for_workers,
)

I2V, TI2V, T2V = "tiny-random-i2v", "tiny-random-ti2v", "tiny-random-t2v"
KNOBS = {"num_frames": 5, "num_inference_steps": 2, "seed": 11, "size": "64x64"}


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def gradient(width: int = 96, height: int = 64) -> Image.Image:
    """Not the requested shape: the worker scales it to cover 64x64 and crops the sides."""
    x = np.linspace(0, 255, width, dtype=np.uint8)
    y = np.linspace(255, 0, height, dtype=np.uint8)
    pixels = np.stack([np.tile(x, (height, 1)), np.tile(y[:, None], (1, width)), np.full((height, width), 90, np.uint8)], -1)
    return Image.fromarray(pixels)


class ImageServer:
    """A loopback HTTP server that records every request it gets."""

    def __init__(self, host: str, routes: dict[str, tuple[int, dict[str, str], bytes]], port: int = 0):
        self.routes = routes
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                server.requests.append(self.path)
                status, headers, body = server.routes.get(self.path, (404, {}, b"not found"))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the frontend stops reading past its cap
                    pass

            def log_message(self, *args) -> None:
                pass

        self.http = ThreadingHTTPServer((host, port), Handler)
        self.host, self.port = host, self.http.server_address[1]
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def url(self, path: str, host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


class Stack:
    """The workers of one namespace behind one frontend (base_urls: model -> its URL, the same for all)."""

    def __init__(self, base_urls: dict[str, str], root: Path, discovery: Discovery, i2v_worker, hold: StageHold):
        self.base_urls, self.root, self.discovery = base_urls, root, discovery
        self.i2v_worker, self.hold = i2v_worker, hold

    def generate(self, model: str, upload: bytes | None = None, **body) -> httpx.Response:
        url = f"{self.base_urls[model]}/v1/videos/generations"
        fields = {"model": model, "prompt": "a cat", "response_format": "b64_json", **KNOBS, **body}
        if upload is None:
            return httpx.post(url, json=fields, timeout=180)
        form = {key: (None, str(value)) for key, value in fields.items()}
        return httpx.post(url, files=form | {"input_reference": ("in.png", upload, "image/png")}, timeout=180)

    def frames(self, model: str, upload: bytes | None = None, **body) -> np.ndarray:
        response = self.generate(model, upload, **body)
        assert response.status_code == 200, response.text
        video = decode_mp4(base64.b64decode(response.json()["data"][0]["b64_json"]))
        assert (video.count, video.width, video.height) == (5, 64, 64)
        return video.frames


@pytest.fixture(scope="module")
def stack(tiny_models, tmp_path_factory):
    root = tmp_path_factory.mktemp("image-inputs")
    etcd = EtcdServer(root / "etcd-data", root)
    discovery = Discovery("etcd", stack_env("etcd", etcd.url, None))
    shared = ("--input-store", (root / "inputs").as_uri())
    hold = StageHold(root / "hold")
    processes = []
    try:
        for kind in ("i2v", "ti2v", "t2v"):
            extra = hold.args() if kind == "i2v" else ()
            processes.append(start_worker(
                discovery, tiny_models(kind), "fc-image-inputs", (root / "out").as_uri(), root, f"worker-{kind}",
                *shared, *LOSSLESS_VIDEO, *extra,
            ))  # fmt: skip
        frontend, base_url = start_frontend(discovery, "fc-image-inputs", root, "frontend", *shared, "--fetch-allow", "127.0.0.2/32")
        processes.append(frontend)
        for model in (I2V, TI2V, T2V):
            wait_for_workers(base_url, model, 1, processes=processes)
        yield Stack({model: base_url for model in (I2V, TI2V, T2V)}, root, discovery, processes[0], hold)
    finally:
        hold.release()
        for process in reversed(processes):
            process.stop()
        etcd.stop()


@dataclass
class ImageServers:
    allowed: ImageServer  # on 127.0.0.2, which the frontend's allow-list names
    loopback: ImageServer  # on 127.0.0.1, same port and pages: what a refused URL would reach

    def asked(self) -> list[str]:
        return self.allowed.requests + self.loopback.requests


@pytest.fixture(scope="module")
def server_pair():
    picture = png(gradient())
    routes = {
        "/cat.png": (200, {"content-type": "image/png"}, picture),
        "/big.png": (200, {"content-type": "image/png"}, b"\0" * (21 * 2**20)),
        "/text.png": (200, {"content-type": "image/png"}, b"hello, not an image"),
        "/truncated.png": (200, {"content-type": "image/png"}, picture[: len(picture) // 2]),
        "/huge.png": (200, {"content-type": "image/png"}, _bomb()),
    }
    allowed = ImageServer("127.0.0.2", routes)
    loopback = ImageServer("127.0.0.1", routes, port=allowed.port)
    routes["/to-loopback"] = (302, {"location": loopback.url("/cat.png")}, b"")
    try:
        yield ImageServers(allowed, loopback)
    finally:
        allowed.close()
        loopback.close()


@pytest.fixture
def servers(server_pair):
    """Both servers, with no request recorded yet."""
    server_pair.allowed.requests.clear()
    server_pair.loopback.requests.clear()
    return server_pair


def _bomb() -> bytes:
    """A 20000x20000 PNG of a few hundred kilobytes."""
    return png(Image.new("1", (20000, 20000)))


def test_one_image_gives_the_same_video_however_it_arrives(stack, servers):
    picture = png(gradient())
    uploaded = stack.frames(I2V, upload=picture)
    as_data_url = stack.frames(I2V, input_reference="data:image/png;base64," + base64.b64encode(picture).decode())
    fetched = stack.frames(I2V, input_reference=servers.allowed.url("/cat.png"))
    assert servers.asked() == ["/cat.png"]
    assert np.array_equal(uploaded, as_data_url) and np.array_equal(uploaded, fetched)
    red = stack.frames(I2V, upload=png(Image.new("RGB", (64, 64), (220, 20, 20))))
    assert not np.array_equal(uploaded, red)


def test_a_ti2v_model_makes_video_with_or_without_an_image(stack):
    from_text = stack.frames(TI2V)
    from_image = stack.frames(TI2V, upload=png(gradient()))
    assert not np.array_equal(from_text, from_image)


def test_the_openai_client_uploads_input_reference(stack, tmp_path):
    path = tmp_path / "cat.png"
    path.write_bytes(png(gradient()))
    client = openai.OpenAI(base_url=f"{stack.base_urls[I2V]}/v1", api_key="unused", max_retries=0)
    with path.open("rb") as image:
        video = client.videos.create(
            model=I2V, prompt="a cat", input_reference=image, size="64x64",
            extra_body={"num_frames": 5, "num_inference_steps": 2, "fps": 8},
        )  # fmt: skip
    done = wait_done(stack.base_urls[I2V], video.id)
    assert done["status"] == "completed", done
    decoded = decode_mp4(client.videos.download_content(video.id).read())
    assert (decoded.count, decoded.width, decoded.height, decoded.fps) == (5, 64, 64, 8)
    # The staged input stays with the job's outputs, and goes with them.
    staged = list((stack.root / "inputs").glob("*.png"))
    assert staged
    client.videos.delete(video.id)
    assert len(list((stack.root / "inputs").glob("*.png"))) == len(staged) - 1


def test_models_say_whether_they_take_an_image(stack):
    no_image = stack.generate(I2V)
    assert no_image.status_code == 400 and no_image.json()["error"]["param"] == "input_reference", no_image.text
    text_only = stack.generate(T2V, upload=png(gradient()))
    assert text_only.status_code == 400 and text_only.json()["error"]["param"] == "input_reference", text_only.text
    tasks = {
        model["id"]: model["tasks"] for url in stack.base_urls.values() for model in httpx.get(f"{url}/v1/models").json()["data"]
    }
    assert (tasks[I2V], tasks[TI2V]) == (["i2v"], ["t2v", "ti2v", "t2i"])
    assert "t2v" in tasks[T2V]


def _refused(stack, reference: str) -> dict:
    response = stack.generate(I2V, input_reference=reference)
    assert 400 <= response.status_code < 500, response.text
    error = response.json()["error"]
    assert error["param"] == "input_reference", error
    return error


def _loopback_name() -> str | None:
    """A host name other than localhost that resolves to loopback here (/etc/hosts), if any."""
    for name in ("ip6-localhost", "ip6-loopback", "localhost.localdomain", socket.gethostname()):
        try:
            addresses = {info[4][0] for info in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
        except OSError:
            continue
        if addresses and all(ipaddress.ip_address(address.split("%")[0]).is_loopback for address in addresses):
            return name
    return None


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "[::1]", "10.0.0.1", "169.254.169.254", "0.0.0.0", "[::ffff:127.0.0.1]", "loopback-name"]
)
def test_addresses_that_are_not_public_are_refused_unfetched(stack, servers, host):
    if host == "loopback-name":
        host = _loopback_name() or "localhost"
    _refused(stack, servers.loopback.url("/cat.png", host))
    assert servers.asked() == []


@pytest.mark.parametrize(
    "path", ["file:///etc/hostname", "gopher://127.0.0.2/cat", "/to-loopback", "/big.png", "/text.png", "/truncated.png", "/huge.png"]
)
def test_bad_schemes_redirects_and_images_are_refused(stack, servers, path):
    _refused(stack, servers.allowed.url(path) if path.startswith("/") else path)
    # The allowed server was asked for its own page only; a redirect's refused target never.
    assert servers.asked() == ([path] if path.startswith("/") else [])


@pytest.fixture
def replicas(stack):
    """Two more frontends of the namespace, as production runs them: on the etcd job store, API
    keys on (two tenants), the same input store."""
    keys = stack.root / "api-keys"
    keys.write_text("alice: key-alice\nbob: key-bob\n")
    args = ("--input-store", (stack.root / "inputs").as_uri(), "--job-store", "etcd", "--replica-timeout", "2", "--api-key-file", str(keys))
    started = [start_frontend(stack.discovery, "fc-image-inputs", stack.root, f"replica-{name}", *args) for name in ("a", "b")]
    try:
        yield started
    finally:
        stack.hold.release()
        for process, _ in started:
            process.stop()


@pytest.mark.faults
def test_an_image_job_outlives_the_replica_that_took_it(stack, replicas):
    (process_a, url_a), (_, url_b) = replicas
    alice = {"authorization": "Bearer key-alice"}
    picture = png(gradient())
    stack.hold.hold("denoising")
    form = {key: (None, str(value)) for key, value in {"model": I2V, "prompt": "a cat", **KNOBS}.items()}
    created = httpx.post(f"{url_a}/v1/videos", headers=alice, files=form | {"input_reference": ("in.png", picture, "image/png")}, timeout=60)
    assert created.status_code == 200, created.text
    video_id = created.json()["id"]
    StageHold.wait_held([stack.i2v_worker], video_id, "denoising")
    process_a.process.send_signal(signal.SIGKILL)
    process_a.process.wait()
    stack.hold.release()
    deadline = time.monotonic() + 120
    while (video := httpx.get(f"{url_b}/v1/videos/{video_id}", headers=alice, timeout=10).json())["status"] not in ("completed", "failed"):
        assert time.monotonic() < deadline, video
        time.sleep(0.1)
    assert video["status"] == "completed", video
    content = httpx.get(f"{url_b}/v1/videos/{video_id}/content", headers=alice, timeout=30)
    # Run again by the other replica from the stored image: the same video as a direct request.
    assert np.array_equal(decode_mp4(content.content).frames, stack.frames(I2V, upload=picture))
    assert httpx.get(f"{url_b}/v1/videos/{video_id}", headers={"authorization": "Bearer key-bob"}).status_code == 404
