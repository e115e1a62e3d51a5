"""The names both sides use: the stages a job passes through, and the codes an error carries."""

from __future__ import annotations

import enum


class _Name(str, enum.Enum):
    """A name that reads as its value in text, logs and metric labels."""

    def __str__(self) -> str:
        return self.value


class Stage(_Name):
    # On the frontend.
    QUEUE_WAIT = "queue_wait"  # time in a frontend's queue: a metric label, never a job's stage
    DISPATCHED = "dispatched"  # sent to a worker, nothing heard yet
    RETRYING = "retrying"  # queued again: its worker was lost
    REQUEUED = "requeued"  # queued again: the frontend replica running it stopped
    # On the worker, in order.
    STARTING = "starting"  # waiting for the worker's generator
    TEXT_ENCODING = "text_encoding"
    DENOISING = "denoising"
    DECODING = "decoding"  # VAE
    GENERATING = "generating"  # sglang reports its whole pipeline as one stage
    ENCODING = "encoding"  # MP4
    STORING = "storing"
    # Not a stage: a worker in a long stage without steps says it is alive.
    KEEPALIVE = "keepalive"


# Stages after which a worker's generator is free: the next job may start there.
FINISHING_STAGES = frozenset({Stage.ENCODING, Stage.STORING})


class ErrorCode(_Name):
    """Every `error.code` framecast answers with. The HTTP status of each is in
    framecast.frontend.errors; the README lists them."""

    # A job ended with these (frontend/jobs/codes.py says what each means and if it is retried).
    GENERATION_FAILED = "generation_failed"
    WORKER_LOST = "worker_lost"
    WORKER_DRAINING = "worker_draining"
    NO_LIVE_WORKER = "no_live_worker"
    OWNER_LOST = "owner_lost"
    CANCELLED = "cancelled"
    # A request refused because of one field (the error's `param`).
    INVALID_JSON = "invalid_json"
    INVALID_BODY = "invalid_body"
    UNKNOWN_FIELD = "unknown_field"
    MISSING_FIELD = "missing_field"
    INVALID_VALUE = "invalid_value"
    CONFLICTING_VALUE = "conflicting_value"
    UNSUPPORTED_VALUE = "unsupported_value"
    TOO_LONG = "too_long"
    TOO_LARGE = "too_large"
    OVER_LIMIT = "over_limit"
    # A request refused for another reason.
    MODEL_NOT_FOUND = "model_not_found"
    QUEUE_FULL = "queue_full"
    TOO_MANY_JOBS = "too_many_jobs"
    UNAVAILABLE = "unavailable"
    INVALID_API_KEY = "invalid_api_key"
    BODY_TOO_LARGE = "body_too_large"
    INTERNAL_ERROR = "internal_error"
    # Reading a job and its outputs.
    VIDEO_NOT_FOUND = "video_not_found"
    IMAGE_NOT_FOUND = "image_not_found"
    VIDEO_NOT_READY = "video_not_ready"
    VIDEO_EXPIRED = "video_expired"
    VARIANT_NOT_FOUND = "variant_not_found"
    CONTENT_MISSING = "content_missing"
    RANGE_NOT_SATISFIABLE = "range_not_satisfiable"
