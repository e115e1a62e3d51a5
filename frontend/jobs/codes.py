"""The error codes a job can end with: what each means, the HTTP status the synchronous route
answers with, and whether the frontend runs the job again. The README's table says the same."""

from __future__ import annotations

from dataclasses import dataclass

GENERATION_FAILED = "generation_failed"
WORKER_LOST = "worker_lost"
WORKER_DRAINING = "worker_draining"
NO_LIVE_WORKER = "no_live_worker"
OWNER_LOST = "owner_lost"
CANCELLED = "cancelled"


@dataclass(frozen=True)
class JobErrorCode:
    http_status: int
    retried: str
    meaning: str


JOB_ERROR_CODES: dict[str, JobErrorCode] = {
    GENERATION_FAILED: JobErrorCode(502, "no", "the worker's backend, encoder or store failed; its reason is the message"),
    WORKER_LOST: JobErrorCode(
        502, "once, on another worker",
        "the worker's connection failed, its answer ended without a result, or it went silent; "
        "the job failed because no other worker was live or it had already run twice",
    ),  # fmt: skip
    WORKER_DRAINING: JobErrorCode(503, "yes, not counted", "the worker was shutting down; never final"),
    NO_LIVE_WORKER: JobErrorCode(503, "no", "no live worker served the model for --no-worker-timeout seconds"),
    OWNER_LOST: JobErrorCode(
        503, "once, by another replica", "the frontend replica running the job stopped, and the job could not run again"
    ),
    CANCELLED: JobErrorCode(409, "no", "deleted, or its synchronous client disconnected"),
}
# A worker's refusal of one field of the request (invalid_value, too_large, ...) is a 400 with
# that field as `param`; the codes above are the ones a job ends with for other reasons.
FIELD_ERROR_STATUS = 400
