"""A hook for tests and fault drills: hold a request at a stage for as long as a file says so.

Tests that kill a worker mid-stage, or cancel a job mid-denoising, must not guess how fast the
machine is. With `--hold-file PATH`, a worker that reaches a stage named in PATH (one name per
line or word: denoising, decoding, encoding, storing; or loading, before the worker loads its
model) waits there until the file is removed or no longer names that stage. A hold in denoising happens after a step is done, so the job is
really in that stage. The request still answers cancellation while held, and keepalives go on.

One fault too: while the file names `fail-generation`, every generation (a request's or the
canary's) fails at once, as a broken GPU would make it fail.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

_POLL_S = 0.02
FAIL_GENERATION = "fail-generation"


class StageHold:
    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path else None

    def _holds(self, stage: str) -> bool:
        if self.path is None:
            return False
        try:
            return stage in self.path.read_text().split()
        except OSError:  # no file: no hold
            return False

    def _announce(self, request_id: str, stage: str, step: int | None) -> None:
        where = f"{stage} step {step}" if step is not None else stage
        log.info("request %s held at %s (hold file %s)", request_id, where, self.path)

    def injected_failure(self) -> str | None:
        """The message of an injected generation failure, or None."""
        if self._holds(FAIL_GENERATION):
            return f"injected fault: the hold file {self.path} says {FAIL_GENERATION}"
        return None

    def wait(self, request_id: str, stage: str, step: int | None, stop: threading.Event) -> None:
        """Blocking form, for the generation thread."""
        if not self._holds(stage):
            return
        self._announce(request_id, stage, step)
        while self._holds(stage) and not stop.is_set():
            time.sleep(_POLL_S)

    async def wait_async(self, request_id: str, stage: str, stop: threading.Event) -> None:
        """Form for the event loop (encoding and storing run from it)."""
        if not self._holds(stage):
            return
        self._announce(request_id, stage, None)
        while self._holds(stage) and not stop.is_set():
            await asyncio.sleep(_POLL_S)
