"""A job as the frontends keep it (the public VideoJob plus what running it needs)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from framecast.protocol import JobStatus, VideoJob, VideoJobError

TERMINAL: tuple[JobStatus, ...] = ("completed", "failed")


class JobRecord(BaseModel):
    id: str
    model: str
    # "sync": made by POST /v1/videos/generations for a client that waits on the connection.
    kind: Literal["job", "sync"] = "job"
    status: JobStatus = "queued"
    progress: int = 0
    stage: str | None = None
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
    request: dict[str, Any]
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
    # Past expires_at: its outputs are deleted.
    expired: bool = False

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def to_video(self) -> VideoJob:
        return VideoJob(
            id=self.id,
            model=self.model,
            status=self.status,
            progress=self.progress,
            created_at=int(self.created_at),
            completed_at=int(self.completed_at) if self.completed_at else None,
            expires_at=int(self.expires_at) if self.expires_at else None,
            prompt=self.prompt,
            seconds=self.seconds,
            size=self.size,
            error=self.error,
            num_frames=self.num_frames,
            fps=self.fps,
            seed=self.seed,
            stage=self.stage,
        )

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, data: str | bytes) -> JobRecord:
        return cls.model_validate_json(data)
