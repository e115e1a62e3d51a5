"""What a deployment tunes in the job engine: timings and retries, and the requests it accepts."""

from __future__ import annotations

from dataclasses import dataclass

from framecast.protocol import ErrorCode, RequestFieldError, WorkerVideoMessage
from framecast.protocol.options import option


@dataclass(frozen=True)
class JobSettings:
    ttl_s: float = option(24 * 3600, "seconds outputs stay downloadable", flag="--job-ttl")
    # Records stay this long after their outputs expired.
    record_retention_s: float = 24 * 3600
    poll_after_ms: int = option(1000, "polling interval suggested to clients (openai-poll-after-ms)")
    # Progress reaches the shared store at most this often per job (stage changes always do).
    progress_write_interval_s: float = 0.25
    replica_timeout_s: float = option(
        10.0, "seconds after which a silent replica's jobs are taken over", flag="--replica-timeout"
    )
    heartbeat_interval_s: float = 2.0
    takeover_interval_s: float = 3.0
    sweep_interval_s: float = option(30.0, "seconds between expiry sweeps", flag="--sweep-interval")
    # A job is started at most this many times (its worker or its frontend died while it ran).
    max_attempts: int = 2
    queue_per_worker: int = option(
        8, "jobs a model may hold waiting per live worker, besides the running one; past that, 429 with Retry-After"
    )
    # Workers speak at least every few seconds while a job runs, however long the video.
    stall_timeout_s: float = option(
        60.0, "seconds of silence after which a worker running a job is taken for lost", flag="--stall-timeout"
    )
    no_worker_timeout_s: float = option(
        300.0, "seconds a queued job waits for a live worker of its model before it fails", flag="--no-worker-timeout"
    )
    queue_policy: str = option(
        "fair", "order of each model's queue: fair (turns across tenants, by their key-file weights; each tenant's jobs in order) or fifo"
    )
    lora_affinity: bool | None = option(
        None, "send a job naming LoRA adapters to an idle worker that holds them loaded (default on; off: round-robin)"
    )


@dataclass(frozen=True)
class RequestLimits:
    """What this deployment accepts, on top of each model's own limits (None: no extra limit)."""

    max_prompt_chars: int = option(4000, "longest prompt")
    max_frames: int | None = option(None, "most frames per video (beyond each model's own limit)")
    max_pixels: int | None = option(None, "most pixels per frame (width x height)")
    max_steps: int | None = option(None, "most denoising steps")
    max_jobs_per_key: int = option(
        0, "unfinished jobs one tenant may hold of each model, across every replica (0: no limit)"
    )

    def check_prompt(self, prompt: str) -> None:
        if len(prompt) > self.max_prompt_chars:
            raise RequestFieldError(
                "prompt", f"prompt is {len(prompt)} characters; at most {self.max_prompt_chars} are accepted", code=ErrorCode.TOO_LONG
            )

    def check_resolved(self, resolved: WorkerVideoMessage) -> None:
        """The request as the worker resolved it (defaults filled in) against these limits."""
        width, height = (int(side) for side in (resolved.size or "0x0").split("x"))
        checks = [
            ("num_frames", resolved.num_frames, self.max_frames, "frames"),
            ("size", width * height, self.max_pixels, "pixels"),
            ("num_inference_steps", resolved.num_inference_steps, self.max_steps, "steps"),
        ]
        for param, value, limit, unit in checks:
            if limit is not None and value is not None and value > limit:
                raise RequestFieldError(param, f"{param}: {value} {unit} is over this server's limit of {limit}", code=ErrorCode.OVER_LIMIT)
