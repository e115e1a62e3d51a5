"""Video generation request and response models.

A request carries its knobs either at top level or, in the shape NVIDIA Dynamo's frontend
uses, under `nvext`. `GenerationKnobs` is the merged view both sides work with.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from framecast.protocol.adapters import LoraChoice, LoraChoices
from framecast.protocol.errors import ErrorBody, RequestFieldError
from framecast.protocol.vocabulary import ErrorCode, Stage
from framecast.protocol.webhooks import WebhookFields

# Generous outer bounds that reject absurd input before it reaches a worker; the model a
# worker serves applies its own, tighter limits.
MAX_SIDE = 8192
MAX_FRAMES = 10_000
MAX_FPS = 240
MAX_STEPS = 1000
MAX_SECONDS = 600
MAX_SEED = 2**63 - 1
# Far above any model's useful CFG scale (they publish 1 to 10), low enough to keep frames finite.
MAX_GUIDANCE_SCALE = 50.0

SIZE_PATTERN = r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$"
_SIZE_PATTERN = re.compile(SIZE_PATTERN)

ResponseFormat = Literal["url", "b64_json"]


def parse_size(size: str, param: str = "size") -> tuple[int, int]:
    """Parse "WxH" into (width, height)."""
    match = _SIZE_PATTERN.match(size)
    if not match:
        raise RequestFieldError(param, f"{param} must be 'WIDTHxHEIGHT', for example '832x480'; got {size!r}")
    width, height = int(match.group(1)), int(match.group(2))
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise RequestFieldError(param, f"{param}: width and height must be between 1 and {MAX_SIDE}; got {size!r}")
    return width, height


def _checked_size(value: str | None) -> str | None:
    if value is not None:
        try:
            parse_size(value)
        except RequestFieldError as error:
            raise ValueError(error.message) from None
    return value


# A request's "WxH" size, checked as it is parsed; None: the model's default.
Size = Annotated[str | None, AfterValidator(_checked_size), Field(json_schema_extra={"pattern": SIZE_PATTERN})]


class VideoNvExt(BaseModel):
    """Knobs in NVIDIA Dynamo's `nvext` shape."""

    model_config = ConfigDict(extra="forbid")

    fps: int | None = Field(default=None, ge=1, le=MAX_FPS)
    num_frames: int | None = Field(default=None, ge=1, le=MAX_FRAMES)
    negative_prompt: str | None = None
    num_inference_steps: int | None = Field(default=None, ge=1, le=MAX_STEPS)
    guidance_scale: float | None = Field(default=None, ge=0, le=MAX_GUIDANCE_SCALE)
    guidance_scale_2: float | None = Field(default=None, ge=0, le=MAX_GUIDANCE_SCALE)
    boundary_ratio: float | None = Field(default=None, ge=0, le=1)
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    annotations: list[str] | None = None
    # False: no step caching for this request, whatever the worker runs with (exact frames).
    cache: bool | None = None


# Knobs that may appear both at top level and under nvext.
_SHARED_KNOBS = ("fps", "num_frames", "negative_prompt", "num_inference_steps", "guidance_scale", "seed")


class GenerationKnobs(BaseModel):
    """What the client asked for, merged from both shapes; None means "model default"."""

    prompt: str
    negative_prompt: str | None = None
    width: int | None = None
    height: int | None = None
    num_frames: int | None = None
    seconds: float | None = None
    fps: int | None = None
    num_inference_steps: int | None = None
    guidance_scale: float | None = None
    guidance_scale_2: float | None = None
    boundary_ratio: float | None = None
    seed: int | None = None
    lora: list[LoraChoice] | None = None
    # False: this request runs without the worker's step cache.
    cache: bool | None = None
    # False: the video without the sound track its model makes; True: the model must make one.
    audio: bool | None = None


class VideoRequestBase(BaseModel):
    """The knobs of a video request, shared by the synchronous route and the job API."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1)
    # Optional when exactly one model is served.
    model: str | None = Field(default=None, min_length=1)
    negative_prompt: str | None = None
    # OpenAI sends seconds as a string ("4"); accept numbers too.
    seconds: float | None = Field(default=None, gt=0, le=MAX_SECONDS)
    size: Size = Field(default=None, examples=["832x480"])
    fps: int | None = Field(default=None, ge=1, le=MAX_FPS)
    num_frames: int | None = Field(default=None, ge=1, le=MAX_FRAMES)
    num_inference_steps: int | None = Field(default=None, ge=1, le=MAX_STEPS)
    guidance_scale: float | None = Field(default=None, ge=0, le=MAX_GUIDANCE_SCALE)
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    user: str | None = None
    input_reference: str | None = None
    # Adapters by the names the model's workers offer (GET /v1/models lists them).
    lora: LoraChoices = None
    # False: drop the sound track of a model that makes one (LTX-2). None: what the model makes.
    audio: bool | None = None
    nvext: VideoNvExt | None = None

    @field_validator("seconds", mode="before")
    @classmethod
    def _seconds_from_string(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                raise ValueError(f"seconds must be a number of seconds, for example \"4\"; got {value!r}") from None
        return value

    def worker_fields(self) -> dict:
        """What a worker is sent of this request."""
        return self.model_dump(mode="json", exclude_none=True) | {"task": "video"}

    def knobs(self) -> GenerationKnobs:
        """Merge top-level and nvext knobs; the same knob given twice must agree."""
        merged: dict[str, object] = {}
        for name in _SHARED_KNOBS:
            top = getattr(self, name)
            nested = getattr(self.nvext, name) if self.nvext is not None else None
            if top is not None and nested is not None and top != nested:
                raise RequestFieldError(
                    f"nvext.{name}",
                    f"{name} is given at top level ({top!r}) and under nvext ({nested!r}) with different values",
                    code=ErrorCode.CONFLICTING_VALUE,
                )
            merged[name] = top if top is not None else nested
        width = height = None
        if self.size is not None:
            width, height = parse_size(self.size)
        return GenerationKnobs(
            prompt=self.prompt,
            width=width,
            height=height,
            seconds=self.seconds,
            guidance_scale_2=self.nvext.guidance_scale_2 if self.nvext else None,
            boundary_ratio=self.nvext.boundary_ratio if self.nvext else None,
            lora=self.lora,
            cache=self.nvext.cache if self.nvext else None,
            audio=self.audio,
            **merged,
        )


class VideoGenerationRequest(VideoRequestBase):
    """Body of `POST /v1/videos/generations`: answered once the video is done."""

    response_format: ResponseFormat = "url"
    output_format: Literal["mp4"] | None = None
    stream: bool = False


class VideoCreateRequest(VideoRequestBase, WebhookFields):
    """Body of `POST /v1/videos` (the OpenAI Videos job API): answered at once with a job."""

    def worker_fields(self) -> dict:
        # Webhooks are the frontend's business.
        return {key: value for key, value in super().worker_fields().items() if key not in WebhookFields.model_fields}


# A remix's share of the schedule: above 0 (some change), at most 1 (all of it).
Strength = Annotated[float | None, Field(default=None, gt=0, le=1)]


class VideoRemixRequest(VideoRequestBase, WebhookFields):
    """Body of `POST /v1/videos/{id}/remix`: a new video made from a completed one's frames with
    a new prompt, by the source's model. Omitted knobs keep the source's size, frames, fps and
    seed; `strength` is how much of the schedule re-noises the source (the model's default
    where omitted)."""

    strength: Strength = None

    @field_validator("model", "input_reference")
    @classmethod
    def _the_source_decides(cls, value: object, info) -> object:
        if value is not None:
            raise ValueError(f"a remix is made by the source video's model from its frames: leave {info.field_name} out")
        return value


class VideoRemixJob(VideoCreateRequest):
    """A remix as the job engine takes it: the source's stored video (set by the frontend once
    the caller may see the source, never by a client) and the source's id."""

    input_video: str
    strength: Strength = None
    remixed_from_video_id: str


ExtraOutput = Literal["thumbnail", "spritesheet"]


class WorkerVideoRequest(VideoGenerationRequest):
    """What a worker accepts on the request plane.

    The public request plus framecast's own fields. Unknown fields are ignored rather than
    refused so that other frontends (NVIDIA Dynamo's own) can send their shape.
    """

    model_config = ConfigDict(extra="ignore")

    request_id: str | None = None
    # "image": n single frames, stored as output_format images (text-to-image). None: what the
    # model makes (NVIDIA Dynamo's frontend sends its image requests without a task).
    task: Literal["video", "image"] | None = None
    n: int | None = Field(default=None, ge=1, le=4)
    output_format: Literal["mp4", "png", "jpeg", "webp"] | None = None
    # Images to store beside the video (response_format url only).
    extra_outputs: list[ExtraOutput] = Field(default_factory=list)
    # Resolve and check the request, answer with what it resolved to, and generate nothing.
    validate_only: bool = False
    # A remix: the stored source video (under the worker's output store) and its strength.
    input_video: str | None = None
    strength: Strength = None

    def wire(self, **fields: object) -> dict:
        """The request as the request plane carries it (JSON), with `fields` set."""
        return self.model_dump(mode="json", exclude_none=True) | fields


class VideoData(BaseModel):
    output_format: str = "mp4"
    url: str | None = None
    b64_json: str | None = None
    fps: int | None = None  # None for an image


class VideoGenerationResponse(BaseModel):
    """Body of a completed `POST /v1/videos/generations`."""

    id: str
    object: Literal["video"] = "video"
    model: str
    status: Literal["queued", "in_progress", "completed", "failed"] = "completed"
    progress: int = Field(default=100, ge=0, le=100)
    created: int
    data: list[VideoData] = Field(default_factory=list)
    inference_time_s: float | None = None
    error: str | None = None
    # The seed the video was made with, so a client can reproduce it.
    seed: int | None = None
    # Whether the MP4 has a sound track (None: an image, or a worker that does not say).
    has_audio: bool | None = None


class WorkerVideoMessage(VideoGenerationResponse):
    """One message of a worker's response stream.

    A worker sends exactly one message (the final one) unless the request asked for a
    stream; then progress messages come first. `error` stays a plain string so NVIDIA
    Dynamo's frontend can read it; `error_detail` carries the structured form.
    """

    stage: Stage | None = None
    step: int | None = None
    total_steps: int | None = None
    error_detail: ErrorBody | None = None
    # What the request resolved to (sent with validate_only answers and final messages).
    size: str | None = None
    num_frames: int | None = None
    fps: int | None = None
    num_inference_steps: int | None = None
    # Where the extra outputs were stored.
    thumbnail_url: str | None = None
    spritesheet_url: str | None = None
    # Seconds the worker spent in each stage of this request (final messages).
    timings: dict[str, float] | None = None
    # The adapters the worker holds loaded after this request (frontends route by them).
    adapters_loaded: list[str] | None = None


JobStatus = Literal["queued", "in_progress", "completed", "failed"]


class VideoJobError(BaseModel):
    code: str
    message: str
    param: str | None = None


class VideoJob(BaseModel):
    """The OpenAI Videos API object, as `POST/GET /v1/videos` return it."""

    id: str
    object: Literal["video"] = "video"
    model: str
    status: JobStatus
    progress: int = Field(ge=0, le=100)
    created_at: int
    completed_at: int | None = None
    expires_at: int | None = None
    prompt: str | None = None
    # A string, as in OpenAI's API ("5.06").
    seconds: str
    size: str
    error: VideoJobError | None = None
    remixed_from_video_id: str | None = None
    # framecast's own: what the job resolved to, and where it is.
    num_frames: int | None = None
    fps: int | None = None
    seed: int | None = None
    stage: Stage | None = None
    # Denoising steps done, of how many (where the backend reports steps).
    step: int | None = None
    total_steps: int | None = None
    # Whether its MP4 has a sound track; known once it completed.
    has_audio: bool | None = None


class WebhookEventBody(BaseModel):
    """The body of one webhook delivery: a job event, with the job object as OpenAI's
    `video.completed` carries it. `id` is also its `webhook-id` header: the same for every attempt
    of one event, so a receiver drops repeats by it."""

    id: str
    object: Literal["event"] = "event"
    type: str  # "video.completed", ...
    created_at: int
    data: VideoJob


class VideoJobList(BaseModel):
    object: Literal["list"] = "list"
    data: list[VideoJob]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool = False


class VideoDeleted(BaseModel):
    id: str
    object: Literal["video.deleted"] = "video.deleted"
    deleted: bool = True
