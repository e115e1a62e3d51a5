"""Fetching a client's image URL: what is fetched, what is refused, and that a refused address
never sees a request. The servers are real HTTP servers on loopback addresses, named by the
allow-list where a test means them to be reachable."""

from __future__ import annotations

import base64
import http.server
import io
import ipaddress
import threading
from collections.abc import Iterator

import pytest
from PIL import Image

from framecast.frontend.fetching import FetchPolicy, FetchRefused, SafeFetcher
from framecast.media.errors import MediaRefused
from framecast.media.images import normalize_image
from framecast.frontend.references import read_reference
from framecast.protocol import RequestFieldError


def png(width: int = 8, height: int = 4, color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


class ImageServer:
    """Serves /image.png, /big (more than any cap here), /slow (until released) and
    /redirect?to=URL; records the path of every request it gets."""

    def __init__(self, host: str):
        self.requests: list[str] = []
        self.release = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                server.requests.append(self.path)
                if self.path.startswith("/redirect?to="):
                    self.send_response(302)
                    self.send_header("location", self.path.split("=", 1)[1])
                    self.end_headers()
                    return
                if self.path == "/slow":
                    server.release.wait(30)
                body = {"/image.png": png(), "/big": b"x" * 4096, "/slow": png()}.get(self.path)
                if body is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                if self.path != "/big":  # /big streams without a declared length
                    self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://{host}:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def servers() -> Iterator[tuple[ImageServer, ImageServer]]:
    """One server on 127.0.0.1 (the allow-list names it) and one on 127.0.0.2 (it does not)."""
    allowed, refused = ImageServer("127.0.0.1"), ImageServer("127.0.0.2")
    try:
        yield allowed, refused
    finally:
        allowed.stop()
        refused.stop()


def fetcher(**policy) -> SafeFetcher:
    policy = {"allowed": (ipaddress.ip_network("127.0.0.1/32"),)} | policy
    return SafeFetcher(FetchPolicy(**policy))


async def test_an_allowed_server_is_fetched(servers):
    allowed, _ = servers
    body = await fetcher().fetch(f"{allowed.url}/image.png")
    assert body == png() and allowed.requests == ["/image.png"]


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "[::1]", "10.0.0.1", "169.254.169.254", "0.0.0.0", "[::ffff:127.0.0.1]", "127.0.0.2"],
)
async def test_addresses_that_are_not_public_are_refused_before_any_request(servers, host):
    allowed, refused = servers
    with pytest.raises(FetchRefused, match="address this server does not fetch from"):
        await SafeFetcher(FetchPolicy()).fetch(f"http://{host}:{allowed.port}/image.png")
    assert allowed.requests == [] and refused.requests == []


async def test_a_redirect_to_a_refused_address_is_checked_and_refused(servers):
    allowed, refused = servers
    with pytest.raises(FetchRefused, match="127.0.0.2"):
        await fetcher().fetch(f"{allowed.url}/redirect?to={refused.url}/image.png")
    assert allowed.requests == [f"/redirect?to={refused.url}/image.png"] and refused.requests == []


async def test_redirects_are_limited(servers):
    allowed, _ = servers
    url = f"{allowed.url}/image.png"
    for _ in range(3):
        url = f"{allowed.url}/redirect?to={url}"
    with pytest.raises(FetchRefused, match="more than 2 redirects"):
        await fetcher(max_redirects=2).fetch(url)
    assert await fetcher(max_redirects=3).fetch(url) == png()


async def test_a_body_over_the_cap_is_refused_while_it_streams(servers):
    allowed, _ = servers
    with pytest.raises(FetchRefused, match="more than 1000 bytes"):
        await fetcher(max_bytes=1000).fetch(f"{allowed.url}/big")


async def test_a_server_that_holds_the_answer_is_given_up_at_the_deadline(servers):
    allowed, _ = servers
    with pytest.raises(FetchRefused, match="longer than 0.5s"):
        await fetcher(timeout_s=0.5).fetch(f"{allowed.url}/slow")
    assert allowed.requests == ["/slow"]


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1/", "//127.0.0.1/x"])
async def test_only_http_and_https_are_fetched(url):
    with pytest.raises(FetchRefused, match="only http and https"):
        await fetcher().fetch(url)


async def test_a_name_is_resolved_once_and_the_checked_address_is_the_one_connected_to_fake_dns(servers):
    """DNS rebinding: the (stand-in) resolver answers an allowed address first and a refused one
    after; the fetch goes to the first, the one that was checked."""
    allowed, refused = servers
    answers = iter([["127.0.0.1"], ["127.0.0.2"], ["127.0.0.2"]])

    async def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    rebound = SafeFetcher(FetchPolicy(allowed=(ipaddress.ip_network("127.0.0.1/32"),)), resolver=rebinding)
    assert await rebound.fetch(f"http://images.test:{allowed.port}/image.png") == png()
    assert allowed.requests == ["/image.png"] and refused.requests == []


async def test_a_name_with_any_refused_answer_is_refused_fake_dns(servers):
    allowed, _ = servers

    async def mixed(host: str, port: int) -> list[str]:
        return ["127.0.0.1", "10.1.2.3"]

    with pytest.raises(FetchRefused, match="10.1.2.3"):
        await SafeFetcher(FetchPolicy(allowed=(ipaddress.ip_network("127.0.0.1/32"),)), resolver=mixed).fetch(
            f"http://images.test:{allowed.port}/image.png"
        )
    assert allowed.requests == []


def test_an_image_is_turned_upright_and_made_rgb_png():
    rgba = Image.new("RGBA", (6, 2), (10, 20, 30, 128))
    exif = rgba.getexif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    out = io.BytesIO()
    rgba.convert("RGB").save(out, format="JPEG", exif=exif)
    normalized = normalize_image(out.getvalue())
    assert (normalized.width, normalized.height) == (2, 6)
    decoded = Image.open(io.BytesIO(normalized.png))
    assert (decoded.format, decoded.mode, decoded.size) == ("PNG", "RGB", (2, 6))


def test_a_decompression_bomb_is_refused_before_its_pixels_are_read():
    # A small PNG file that declares 8000 x 6000 pixels.
    bomb = io.BytesIO()
    Image.new("1", (8000, 6000)).save(bomb, format="PNG")
    assert len(bomb.getvalue()) < 100_000
    with pytest.raises(MediaRefused, match="8000x6000, more than 40000000 pixels"):
        normalize_image(bomb.getvalue())


@pytest.mark.parametrize("data", [b"", b"not an image", png()[:40]])
def test_what_is_not_an_image_is_refused(data):
    with pytest.raises(MediaRefused):
        normalize_image(data)


async def test_one_image_reads_the_same_as_an_upload_a_data_url_and_an_http_url(servers):
    allowed, _ = servers
    as_upload = await read_reference(png(), fetcher())
    as_data_url = await read_reference("data:image/png;base64," + base64.b64encode(png()).decode(), fetcher())
    as_http_url = await read_reference(f"{allowed.url}/image.png", fetcher())
    assert as_upload == as_data_url == as_http_url and (as_upload.width, as_upload.height) == (8, 4)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("http://169.254.169.254/latest/meta-data", "does not fetch from"),
        ("data:text/plain;base64,aGVsbG8=", "not an image"),
        ("data:image/png,notbase64", "must be base64"),
        ("data:image/png;base64,@@@", "not valid base64"),
        ("data:image/png;base64," + base64.b64encode(b"not an image").decode(), "not an image that can be read"),
        ("s3://bucket/key.png", "file upload, a data: URL or an http(s) URL"),
        (b"x" * 2000, "at most 1000 are taken"),
    ],
)
async def test_every_refusal_names_input_reference(value, says):
    with pytest.raises(RequestFieldError) as refused:
        await read_reference(value, fetcher(max_bytes=1000))
    assert refused.value.param == "input_reference" and says in refused.value.message, refused.value.message
