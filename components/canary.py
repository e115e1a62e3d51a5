"""The canary: one minimal generation (the fewest steps, the smallest size and frame count the
model takes) before the worker registers, and again every --canary-interval seconds while it is
idle. A failing canary takes the worker out of routing: its status server reports unhealthy and
its instance notice carries the failure, which frontends read (they stop routing to it and show
the message in /v1/runtime). The worker keeps probing at the same interval until one passes."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable

from framecast.components.registry import GenerationParams, ModelSpec

log = logging.getLogger(__name__)


def canary_params(spec: ModelSpec, compiled: bool = False) -> GenerationParams:
    """The cheapest request the model's limits admit; for a compiled model the default size and
    frames, which its warm-up compiled (another shape would compile again at every canary)."""
    lim, d = spec.limits, spec.defaults
    width, height = (d.width, d.height) if compiled else lim.smallest_size
    frames = (d.num_frames if compiled else lim.min_frames) if spec.makes_video else 1
    params = GenerationParams(
        prompt="canary", negative_prompt=d.negative_prompt, width=width, height=height, num_frames=frames, fps=d.fps,
        num_inference_steps=lim.min_steps, guidance_scale=d.guidance_scale, guidance_scale_2=d.guidance_scale_2,
        flow_shift=d.flow_shift, seed=0,
    )  # fmt: skip
    if spec.needs_image:
        from PIL import Image

        params = dataclasses.replace(params, image=Image.new("RGB", (width, height), (128, 128, 128)))
    return params


class Canary:
    def __init__(
        self,
        spec: ModelSpec,
        generate: Callable[[GenerationParams], Awaitable[None]],
        idle_for: Callable[[], float],
        interval_s: float,
        compiled: bool = False,
    ):
        """`generate`: runs one generation (raising what it raised); `idle_for`: seconds since the
        worker last had a request in hand (0 while it has one)."""
        self._params = canary_params(spec, compiled)
        self._generate = generate
        self._idle_for = idle_for
        self.interval_s = interval_s
        self.error: str | None = None
        self.checked_at: float | None = None
        self._last_check = time.monotonic()
        self._listeners: list[Callable[[Canary], Awaitable[None]]] = []

    def on_change(self, listener: Callable[[Canary], Awaitable[None]]) -> None:
        self._listeners.append(listener)

    @property
    def healthy(self) -> bool:
        return self.error is None

    async def check(self) -> bool:
        started = self._last_check = time.monotonic()
        try:
            await self._generate(self._params)
            error = None
        except Exception as failure:  # whatever broke, the worker must not route while it does
            error = str(failure) or type(failure).__name__
        was = self.error
        self.error, self.checked_at = error, time.time()
        if error is not None:
            log.error("canary failed (%s): %s; out of routing until one passes", self._describe(), error)
        elif was is not None:
            log.info("canary passed in %.2fs: back in routing", time.monotonic() - started)
        else:
            log.info("canary passed in %.2fs (%s)", time.monotonic() - started, self._describe())
        if error != was or was is None:
            for listener in self._listeners:
                await listener(self)
        return error is None

    def _describe(self) -> str:
        p = self._params
        return f"{p.num_inference_steps} step(s), {p.width}x{p.height}, {p.num_frames} frame(s)"

    async def run(self) -> None:
        """Every interval: a canary once the worker has been idle that long (or at once while
        failing: a worker out of routing has no requests to wait for)."""
        while True:
            await asyncio.sleep(min(self.interval_s, 5.0) if self.healthy else self.interval_s)
            quiet_for = min(self._idle_for(), time.monotonic() - self._last_check)
            if self.healthy and quiet_for < self.interval_s:
                continue
            await self.check()
