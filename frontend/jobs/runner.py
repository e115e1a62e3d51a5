"""One job against one worker: send it, turn the worker's stream into progress on the record,
and say how it ended: the worker's final answer, or what showed the worker lost."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from framecast.frontend.jobs.outcome import describe
from framecast.frontend.jobs.record import JobRecord
from framecast.protocol import FINISHING_STAGES, Stage, WorkerVideoMessage

def generation_ending(update: WorkerVideoMessage) -> bool:
    """The worker is about to free its generator: the job is past generation, in VAE decoding, or
    in its last denoising step. The next job is sent then, and waits at the worker for at most
    that long instead of the generator waiting a round trip for it."""
    if update.stage in FINISHING_STAGES or update.stage == Stage.DECODING:
        return True
    return update.stage == Stage.DENOISING and bool(update.total_steps) and (update.step or 0) >= update.total_steps - 1


def runtime_item(message: Any) -> str:
    """What a stream item that is not a worker message says (the runtime's own error items)."""
    text = str(message).strip()
    return text[:300] if text else f"an empty {type(message).__name__}"


@dataclass
class RunEnd:
    # The worker's own last answer (completed or failed), if one came.
    final: WorkerVideoMessage | None
    # What showed the worker lost, if something did: an exception from the request plane, an
    # item that is no worker message (the runtime's own error), an answer that ended with no
    # result, or silence. An answer that came before the connection broke wins over the break.
    lost: str | None

    @property
    def lost_worker(self) -> bool:
        return self.final is None


async def run_on_worker(
    record: JobRecord,
    stream_factory: Callable[[], Any],
    *,
    stall_timeout_s: float,
    on_progress: Callable[[JobRecord], Awaitable[Any]],
    on_generation_freed: Callable[[], None],
    stop: Callable[[], None],
) -> RunEnd:
    """Read the worker's answer to `record`'s request. `stream_factory` opens the stream;
    `stop` tells the worker to stop (on silence)."""
    final: WorkerVideoMessage | None = None
    lost: str | None = None
    try:
        stream = stream_factory()
        while True:
            try:
                message = await asyncio.wait_for(anext(stream), timeout=stall_timeout_s)
            except StopAsyncIteration:
                break
            except asyncio.TimeoutError:
                stop()
                lost = f"it said nothing for {stall_timeout_s:g}s"
                break
            try:
                update = WorkerVideoMessage.model_validate(message)
            except ValidationError:
                lost = f"the request plane reported: {runtime_item(message)}"
                break
            if update.status != "in_progress":
                final = update
            elif update.stage == Stage.KEEPALIVE:
                # A long stage without steps: what changed since the last write reaches the store now.
                await on_progress(record)
            else:
                if generation_ending(update):
                    on_generation_freed()
                record.progress = max(record.progress, min(update.progress, 99))
                record.stage = update.stage
                if update.step is not None:
                    record.step, record.total_steps = update.step, update.total_steps
                await on_progress(record)
    except Exception as error:  # the request plane reports a broken connection as an exception
        lost = f"its connection failed ({describe(error)})"
    if final is not None:
        return RunEnd(final, None)
    return RunEnd(None, lost or "its answer ended without a result")
