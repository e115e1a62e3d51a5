"""The worker's side of input images: where it reads them from (never the network), and how an
image of another shape is fitted to the requested size."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from framecast.components.inputs import InputImages, closest_size, fit_image
from framecast.protocol import RequestFieldError


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def store(tmp_path):
    (tmp_path / "inputs").mkdir()
    return InputImages((tmp_path / "inputs").as_uri(), max_pixels=100 * 100)


def test_stored_images_and_data_urls_are_read(store, tmp_path):
    picture = Image.new("RGB", (40, 30), (10, 200, 30))
    (tmp_path / "inputs" / "a1.png").write_bytes(png(picture))
    stored = store.read(store.prefix + "a1.png")
    inline = store.read("data:image/png;base64," + base64.b64encode(png(picture)).decode())
    assert stored.size == inline.size == (40, 30) and stored.mode == "RGB"
    assert np.array_equal(np.asarray(stored), np.asarray(inline))


@pytest.mark.parametrize(
    "reference",
    [
        "http://127.0.0.1/cat.png",
        "https://example.com/cat.png",
        "file:///etc/hostname",
        "{prefix}../outside.png",
        "{prefix}missing.png",
        "data:image/png,not-base64",
        "data:image/png;base64,%%%",
        "data:image/png;base64," + base64.b64encode(b"not an image").decode(),
        "data:image/png;base64," + base64.b64encode(png(Image.new("1", (101, 100)))).decode(),
    ],
)
def test_everything_else_is_refused_naming_input_reference(store, tmp_path, reference):
    (tmp_path / "outside.png").write_bytes(png(Image.new("RGB", (4, 4))))
    with pytest.raises(RequestFieldError) as refused:
        store.read(reference.format(prefix=store.prefix))
    assert refused.value.param == "input_reference" and refused.value.message.startswith("input_reference: ")


def test_an_image_of_another_shape_covers_the_frame_and_is_cropped_evenly():
    # A 200x100 image: left half red, right half blue, a green stripe at each end.
    pixels = np.zeros((100, 200, 3), np.uint8)
    pixels[:, :100] = (255, 0, 0)
    pixels[:, 100:] = (0, 0, 255)
    pixels[:, :20] = pixels[:, 180:] = (0, 255, 0)
    fitted = np.asarray(fit_image(Image.fromarray(pixels), 64, 64))
    assert fitted.shape == (64, 64, 3)
    # Scaled to 128x64, then 32 columns cut from each side: the stripes (12.8 px each) are gone.
    assert fitted[:, 2, 1].max() < 30 and fitted[:, -3, 1].max() < 30
    assert fitted[:, 5, 0].min() > 200 and fitted[:, -6, 2].min() > 200


def test_without_a_size_the_published_size_nearest_the_image_shape_is_taken():
    sizes = ("832x480", "480x832")
    assert closest_size(Image.new("RGB", (300, 500)), sizes) == (480, 832)
    assert closest_size(Image.new("RGB", (640, 360)), sizes) == (832, 480)
    assert closest_size(Image.new("RGB", (64, 64)), ()) is None
