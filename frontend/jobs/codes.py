"""The codes a job can end with: what each means, and whether the frontend runs the job again.
The HTTP status of each is in frontend/errors.py; the README's table says the same (a test
holds them together)."""

from __future__ import annotations

from dataclasses import dataclass

from framecast.protocol import ErrorCode


@dataclass(frozen=True)
class JobEnding:
    retried: str
    meaning: str


JOB_ERROR_CODES: dict[ErrorCode, JobEnding] = {
    ErrorCode.GENERATION_FAILED: JobEnding("no", "the worker's backend, encoder or store failed; the message is the worker's reason"),
    ErrorCode.WORKER_LOST: JobEnding(
        "once, on another worker",
        "the worker's connection failed, its answer ended without a result, the request plane sent an error, or it "
        "went silent; final when no other worker was live or it was the second loss",
    ),
    ErrorCode.WORKER_DRAINING: JobEnding(
        "yes, not counted as a try", "the worker was shutting down when the job reached it; never final"
    ),
    ErrorCode.NO_LIVE_WORKER: JobEnding(
        "no", "no live worker served the model for `--no-worker-timeout` seconds while the job waited"
    ),
    ErrorCode.OWNER_LOST: JobEnding(
        "once, by another replica",
        "the frontend replica running the job stopped, and the job could not run again (a synchronous job, or a "
        "second loss)",
    ),
    ErrorCode.CANCELLED: JobEnding("no", "deleted, or its synchronous client disconnected"),
}
