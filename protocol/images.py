"""Image request and response models, in the OpenAI Images shape (`POST
/v1/images/generations`, `POST /v1/images/edits`), with framecast's knobs as extensions."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from framecast.protocol.adapters import LoraChoices
from framecast.protocol.videos import MAX_GUIDANCE_SCALE, MAX_SEED, MAX_STEPS, ResponseFormat, Size

ImageFormat = Literal["png", "jpeg", "webp"]
MAX_IMAGES = 4


class ImageNvExt(BaseModel):
    """framecast's own image knobs, in NVIDIA Dynamo's `nvext` shape."""

    model_config = ConfigDict(extra="forbid")

    # False: no step caching for this request, whatever the worker runs with (exact images).
    cache: bool | None = None


class ImageGenerationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1)
    # Optional when exactly one model is served.
    model: str | None = Field(default=None, min_length=1)
    n: int = Field(default=1, ge=1, le=MAX_IMAGES)
    size: Size = Field(default=None, examples=["1024x1024"])
    response_format: ResponseFormat = "url"
    output_format: ImageFormat = "png"
    user: str | None = None
    # framecast's own.
    negative_prompt: str | None = None
    num_inference_steps: int | None = Field(default=None, ge=1, le=MAX_STEPS)
    guidance_scale: float | None = Field(default=None, ge=0, le=MAX_GUIDANCE_SCALE)
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    lora: LoraChoices = None
    nvext: ImageNvExt | None = None

    def worker_fields(self) -> dict:
        """What a worker is sent: one frame per image, n of them, in output_format."""
        return self.model_dump(mode="json", exclude_none=True) | {"task": "image", "num_frames": 1}


class ImageEditRequest(ImageGenerationRequest):
    """Body of `POST /v1/images/edits`: the image to edit (a stored upload, a data: URL or an
    http(s) URL) and what to make of it. A mask is taken only by models that take one."""

    # References (data: or http(s) URLs); uploaded files come beside them, as multipart parts.
    image: list[str] = Field(default_factory=list)
    mask: str | None = None

    @field_validator("image", mode="before")
    @classmethod
    def _one_or_more(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    def worker_fields(self) -> dict:
        """The image travels as input_reference (the frontend has stored it by then)."""
        fields = self.model_dump(mode="json", exclude_none=True, exclude={"image", "mask"})
        return fields | {"task": "image", "num_frames": 1, "input_reference": self.image[0]}


class ImageData(BaseModel):
    url: str | None = None
    b64_json: str | None = None
    revised_prompt: str | None = None


class ImageGenerationResponse(BaseModel):
    created: int
    data: list[ImageData]
    # framecast's own: what the images were made with.
    model: str
    size: str
    output_format: ImageFormat
    seed: int | None = None
