"""A job as the frontends keep it (the public VideoJob plus what running it needs)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from framecast.protocol import JobStatus, Stage, VideoJob, VideoJobError, WebhookTarget, WorkerVideoRequest

TERMINAL: tuple[JobStatus, ...] = ("completed", "failed")


class JobRecord(BaseModel):
    id: str
    model: str
    # "sync": made by POST /v1/videos/generations for a client that waits on the connection.
    kind: Literal["job", "sync"] = "job"
    status: JobStatus = "queued"
    progress: int = 0
    stage: Stage | None = None
    # Denoising steps done, of how many (backends that report steps).
    step: int | None = None
    total_steps: int | None = None
    created_at: float
    started_at: float | None = None
    completed_at: float | None = None
    expires_at: float | None = None
    prompt: str
    seconds: str
    size: str
    num_frames: int | None = None
    fps: int | None = None
    seed: int | None = None
    error: VideoJobError | None = None
    # What the worker is sent.
    request: WorkerVideoRequest
    # Stored outputs by variant (video, thumbnail, spritesheet): fsspec URLs.
    outputs: dict[str, str] = Field(default_factory=dict)
    # The frontend replica running the job, and how many times one has started it.
    owner: str
    attempts: int = 0
    # The tenant of the API key that made it: only that tenant's keys (and admin keys) see it.
    # None: made while API keys were off.
    tenant: str | None = None
    worker: str | None = None
    # How an earlier attempt ended, when a lost worker made the job run again.
    earlier_loss: str | None = None
    inference_time_s: float | None = None
    has_audio: bool | None = None
    # A remix: the video it was made from (whose files stay that video's).
    remixed_from_video_id: str | None = None
    # Past expires_at: its outputs are deleted.
    expired: bool = False
    # Where its events go (the request's webhook, or its tenant's default endpoint).
    webhook: WebhookTarget | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def input_url(self) -> str | None:
        """The stored input image the frontend staged for the worker, if the job has one."""
        reference = self.request.input_reference
        return reference if reference and not reference.startswith("data:") else None

    def stored_urls(self) -> list[str]:
        """Everything the job keeps in storage: its outputs and its input image."""
        return list(self.outputs.values()) + ([self.input_url] if self.input_url else [])

    def to_video(self) -> VideoJob:
        shared = self.model_dump(include=set(VideoJob.model_fields) - {"object"})
        # The public object counts in whole seconds, as OpenAI's does.
        times = {name: int(value) for name in ("created_at", "completed_at", "expires_at") if (value := shared[name])}
        return VideoJob.model_validate(shared | times)

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, data: str | bytes) -> JobRecord:
        return cls.model_validate_json(data)
