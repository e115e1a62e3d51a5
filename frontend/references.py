"""A request's image (`input_reference`, or an edit's `image`), in any of the forms clients send
it, read into one normalised image: a multipart upload (how the openai SDK sends a file), a
`data:` URL, or an http(s) URL the frontend fetches itself. Every refusal is a 400 naming the
field."""

from __future__ import annotations

from framecast.frontend.fetching import FetchRefused, SafeFetcher
from framecast.media.data_urls import data_url_bytes, is_data_url
from framecast.media.errors import MediaRefused
from framecast.media.images import NormalizedImage, normalize_image
from framecast.protocol import ErrorCode, RequestFieldError

PARAM = "input_reference"


def _refused(message: str, param: str = PARAM) -> RequestFieldError:
    return RequestFieldError(param, f"{param}: {message}", code=ErrorCode.INVALID_VALUE)


async def read_reference(
    value: str | bytes, fetcher: SafeFetcher, max_pixels: int = 40_000_000, param: str = PARAM
) -> NormalizedImage:
    """The image `value` holds (an upload's bytes) or points to (a data: or http(s) URL); a
    refusal names `param`, the request field it came in."""
    max_bytes = fetcher.policy.max_bytes
    try:
        if isinstance(value, bytes):
            if len(value) > max_bytes:
                raise _refused(f"the upload is {len(value)} bytes; at most {max_bytes} are taken", param)
            data = value
        elif is_data_url(value):
            data = data_url_bytes(value, max_bytes)
        elif value.strip().lower().startswith(("http://", "https://")):
            data = await fetcher.fetch(value.strip())
        else:
            raise _refused("give an image as a file upload, a data: URL or an http(s) URL", param)
        return normalize_image(data, max_pixels)
    except (MediaRefused, FetchRefused) as error:
        raise _refused(str(error), param) from None
