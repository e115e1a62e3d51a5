"""How a job's record ends: completed with its outputs, or failed with a code of ErrorCode and a
message that is never empty."""

from __future__ import annotations

import logging
import time

from framecast.frontend.jobs.record import JobRecord
from framecast.protocol import ErrorCode, VideoJobError, WorkerVideoMessage

log = logging.getLogger(__name__)


def error_from(message: WorkerVideoMessage, worker: str) -> VideoJobError:
    """The job error for a worker's own `failed` answer."""
    detail = message.error_detail
    said = (message.error or (detail.message if detail else "") or "").strip()
    if not said or said.endswith(":"):
        said = f"{said} (the worker gave no reason)" if said else f"worker {worker} failed the job without saying why"
    return VideoJobError(
        code=(detail.code if detail and detail.code else ErrorCode.GENERATION_FAILED),
        message=said,
        param=detail.param if detail else None,
    )


def describe(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def cancelled(record: JobRecord, reason: str) -> JobRecord:
    return failed(record, ErrorCode.CANCELLED, reason, copy=True)


def failed(record: JobRecord, code: str, message: str, *, copy: bool = False) -> JobRecord:
    """The record, ended with an error (a copy, or changed in place)."""
    update = {"status": "failed", "stage": None, "completed_at": time.time(), "error": VideoJobError(code=code, message=message)}
    if copy:
        return record.model_copy(update=update)
    for name, value in update.items():
        setattr(record, name, value)
    return record


def output_urls(message: WorkerVideoMessage) -> list[str]:
    urls = [item.url for item in message.data if item.url]
    return urls + [url for url in (message.thumbnail_url, message.spritesheet_url) if url]


def output_variants(record: JobRecord, urls: list[str], final: WorkerVideoMessage) -> dict[str, str]:
    """Stored outputs by variant: video, thumbnail and spritesheet, or image_0, image_1, ..."""
    if record.request.task == "image":
        return {f"image_{index}": url for index, url in enumerate(urls)}
    variants = (("video", urls[0]), ("thumbnail", final.thumbnail_url), ("spritesheet", final.spritesheet_url))
    return {variant: url for variant, url in variants if url}


def finish(record: JobRecord, final: WorkerVideoMessage | None, ttl_s: float) -> None:
    """Set the record's end: completed with its outputs, or failed with a code and a reason
    (record.error already set by the caller, or the worker's own answer)."""
    now = time.time()
    record.completed_at = now
    if final is not None and final.status == "completed":
        urls = [item.url for item in final.data]
        if urls and all(urls):
            record.status, record.progress, record.stage = "completed", 100, None
            record.expires_at = now + ttl_s
            record.inference_time_s = final.inference_time_s
            record.has_audio = final.has_audio
            record.outputs = output_variants(record, urls, final)
            return
        what = "image" if record.request.task == "image" else "video"
        record.error = VideoJobError(code=ErrorCode.GENERATION_FAILED, message=f"worker {record.worker} answered without a stored {what}")
    record.status, record.stage = "failed", None
    if record.error is None:
        record.error = error_from(final, record.worker or "?") if final is not None else VideoJobError(
            code=ErrorCode.GENERATION_FAILED, message=f"worker {record.worker} ended the job without a result"
        )
    log.info("job %s failed (%s): %s", record.id, record.error.code, record.error.message)
