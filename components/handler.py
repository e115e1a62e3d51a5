"""The worker's request-plane handler: request in, MP4 out.

Generation runs in a thread (one at a time per backend), encoding and storage in other
threads, so the event loop stays free for the runtime, and the encoding of one video overlaps
the generation of the next. A client that stops its request (the frontend does on DELETE or
disconnect) stops the generation at the next denoising step.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from framecast.components.adapters import AdapterSet
from framecast.components.backends import GeneratedVideo, GenerationCancelled, GenerationFailed, VideoBackend
from framecast.components.encoding import EncoderSettings, encode_image, encode_mp4
from framecast.components.hold import StageHold
from framecast.components.inputs import InputImages, closest_size, fit_image
from framecast.components.metrics import WorkerMetrics
from framecast.components.previews import spritesheet_jpeg, thumbnail_jpeg
from framecast.components.registry import GenerationParams, ModelSpec
from framecast.components.storage import OutputStore, safe_object_name
from framecast.media.errors import MediaRefused
from framecast.media.videos import frames_over, read_video
from framecast.protocol import (
    ErrorBody,
    ErrorCode,
    Stage,
    RequestFieldError,
    VideoData,
    WorkerVideoMessage,
    WorkerVideoRequest,
    validation_error_body,
)

log = logging.getLogger(__name__)

# Share of the progress bar given to denoising; the stages after it start at these marks.
_DENOISE_SHARE = 90
_STAGE_START = {Stage.DECODING: 90, Stage.ENCODING: 94, Stage.STORING: 97}
# A streaming client hears from the worker at least this often, even in a long stage without
# steps (sglang), so it can tell a slow video from a hung worker.
KEEPALIVE_S = 5.0


@dataclass
class _Run:
    """One request's progress, shared between the event loop and the generation thread (which
    take turns: the thread reports while it generates, the loop after)."""

    stream: bool
    stop: threading.Event
    reached: int = 0  # percent
    step: int = 0  # denoising steps finished
    step_at_stop: int | None = None
    stage: Stage | None = None
    stage_since: float = 0.0
    last_step_at: float | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def enter(self, stage: Stage, step: int | None) -> float | None:
        """Note a report; the seconds of the denoising step it ends, if it ends one."""
        now = time.perf_counter()
        if stage != self.stage:
            self.close(now)
            self.stage, self.stage_since = stage, now
        if stage != Stage.DENOISING or step is None:
            return None
        previous, self.last_step_at = self.last_step_at, now
        return now - previous if previous is not None and step > 0 else None

    def close(self, now: float | None = None) -> dict[str, float]:
        """End the current stage; the seconds spent in each stage so far."""
        now = time.perf_counter() if now is None else now
        if self.stage is not None:
            self.timings[self.stage] = round(self.timings.get(self.stage, 0.0) + now - self.stage_since, 4)
            self.stage = None
        return self.timings


def unexplained(error: BaseException, stage: Stage | None, step: int, steps: int) -> str:
    """What to say of an exception that has no message: its type, the function it was raised in,
    and where the request was ("AssertionError in UniPCMultistepScheduler.step at step 340 of
    340"; `step`: the denoising steps finished, so the one running is the next)."""
    innermost = error.__traceback__
    while innermost is not None and innermost.tb_next is not None:
        innermost = innermost.tb_next
    code = innermost.tb_frame.f_code if innermost is not None else None
    where = f" in {getattr(code, 'co_qualname', code.co_name)}" if code is not None else ""
    if stage == Stage.DENOISING:
        where += f" at step {min(step + 1, steps)} of {steps}"
    elif stage is not None:
        where += f" during {stage.value}"
    return f"{type(error).__name__}{where}"


class VideoRequestHandler:
    def __init__(
        self,
        backend: VideoBackend,
        spec: ModelSpec,
        store: OutputStore,
        model_name: str,
        encoder: EncoderSettings | None = None,
        max_concurrent: int = 1,
        max_inline_bytes: int = 24 * 2**20,
        metrics: WorkerMetrics | None = None,
        hold: StageHold | None = None,
        inputs: InputImages | None = None,
        adapters: AdapterSet | None = None,
        on_adapters_loaded=None,
    ):
        # A base64 answer travels in one request-plane message; larger videos go by reference.
        self.max_inline_bytes = max_inline_bytes
        self.backend = backend
        self.spec = spec
        self.store = store
        self.model_name = model_name
        self.encoder = encoder or EncoderSettings()
        self._generation_slots = asyncio.Semaphore(max_concurrent)
        self._in_flight = 0
        self._idle_since = time.monotonic()
        self._idle = asyncio.Event()
        self._idle.set()
        self.draining = False
        self.metrics = metrics or WorkerMetrics(model_name)
        self.hold = hold or StageHold(None)
        self.inputs = inputs or InputImages((Path.cwd() / "inputs").as_uri())
        self.adapters = adapters or AdapterSet.none()
        # Called (awaited) with the loaded adapters after each generation: the worker publishes them.
        self.on_adapters_loaded = on_adapters_loaded
        # Held while adapters are loaded and applied and the backend generates: no request ever
        # runs with another's adapters.
        self._generator_lock = threading.Lock()
        # Generation always runs on this one thread: per-thread state (floating-point modes,
        # library caches) is then the same for every request, and so are its frames.
        self._generator_thread = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="generator")
        self.metrics.track_in_flight(lambda: self._in_flight)
        self.metrics.track_adapters_loaded(lambda: len(self.adapters.loaded))

    async def on_generator_thread(self, function, *args):
        """Run blocking model work (a warm-up) on the thread every generation runs on."""
        return await asyncio.get_running_loop().run_in_executor(self._generator_thread, function, *args)

    def close(self) -> None:
        self._generator_thread.shutdown(wait=False)

    async def generate_canary(self, params: GenerationParams) -> None:
        """One generation outside any request, on the generation thread (after the request in
        hand, if any): the canary. Raises what the generation raised."""
        await self.on_generator_thread(self._generate_locked, params, lambda stage, step, total: None)

    def start_draining(self) -> None:
        """Refuse new requests (the frontend sends them elsewhere); finish those in hand."""
        self.draining = True

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def idle_for(self) -> float:
        """Seconds since the last request in hand finished (0 while one is)."""
        return 0.0 if self._in_flight else time.monotonic() - self._idle_since

    async def wait_idle(self) -> None:
        await self._idle.wait()

    async def generate(self, request: dict[str, Any], context: Any = None) -> AsyncIterator[dict[str, Any]]:
        """Dynamo endpoint handler. Never raises: every failure is a final `failed` message,
        because an exception here makes the runtime's clients treat this worker as down."""
        self._in_flight += 1
        self._idle.clear()
        try:
            async for message in self._generate(request, context):
                yield message.model_dump(mode="json", exclude_none=True)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle_since = time.monotonic()
                self._idle.set()

    async def _generate(self, request: dict[str, Any], context: Any) -> AsyncIterator[WorkerVideoMessage]:
        created = int(time.time())
        request_id = request.get("request_id") if isinstance(request.get("request_id"), str) else None
        request_id = request_id or f"video_{uuid.uuid4().hex}"

        def message(**fields: Any) -> WorkerVideoMessage:
            return WorkerVideoMessage(id=request_id, model=self.model_name, created=created, **fields)

        def failed(body: ErrorBody) -> WorkerVideoMessage:
            return message(status="failed", progress=0, error=body.message, error_detail=body)

        if self.draining:
            # Sent in the moment between this worker's unregistering and the frontend noticing.
            self.metrics.count("refused_draining")
            yield failed(ErrorBody(message="this worker is shutting down", type="server_error", code=ErrorCode.WORKER_DRAINING))
            return
        try:
            parsed = WorkerVideoRequest.model_validate(request)
            params = await asyncio.to_thread(self._resolve, parsed)
        except ValidationError as error:
            self.metrics.count("invalid")
            yield failed(validation_error_body(error.errors()))
            return
        except RequestFieldError as error:
            self.metrics.count("invalid")
            yield failed(error.to_body())
            return
        resolved = {
            "size": f"{params.width}x{params.height}",
            "num_frames": params.num_frames,
            "fps": params.fps,
            "num_inference_steps": params.num_inference_steps,
            "seed": params.seed,
        }
        if self.adapters:
            resolved["adapters_loaded"] = self.adapters.loaded
        if parsed.validate_only:
            yield message(status="queued", progress=0, **resolved)
            return

        run = _Run(stream=parsed.stream, stop=threading.Event())
        updates: asyncio.Queue[WorkerVideoMessage] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def report(stage: Stage, step: int | None, total: int | None) -> None:
            # Runs in the generation thread, then on the event loop for encoding and storing.
            if stage == Stage.DENOISING and step is not None:
                run.step = step
            step_seconds = run.enter(stage, step)
            if step_seconds is not None:
                self.metrics.observe_step(step_seconds)
            if run.stop.is_set():
                raise GenerationCancelled()
            if run.stream:
                mark = _DENOISE_SHARE * step // total if step and total else _STAGE_START.get(stage, 0)
                run.reached = max(run.reached, mark)
                update = message(status="in_progress", progress=run.reached, stage=stage, step=step, total_steps=total)
                loop.call_soon_threadsafe(updates.put_nowait, update)
            if stage in (Stage.DENOISING, Stage.DECODING) and (stage == Stage.DECODING or step):
                # After the report, so the client sees where the job waits.
                self.hold.wait(request_id, stage, step, run.stop)
                if run.stop.is_set():
                    raise GenerationCancelled()

        work = asyncio.ensure_future(self._produce(params, request_id, parsed, run, report, message, resolved))
        watcher = asyncio.ensure_future(self._watch_cancel(context, run))
        try:
            while not work.done():
                getter = asyncio.ensure_future(updates.get())
                await asyncio.wait({work, getter}, timeout=KEEPALIVE_S, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    yield getter.result()
                    continue
                getter.cancel()
                if run.stream and not work.done():
                    yield message(status="in_progress", progress=run.reached, stage=Stage.KEEPALIVE)
            while run.stream and not updates.empty():
                yield updates.get_nowait()
            final = work.result()
            self.metrics.count("completed")
            yield final
        except GenerationCancelled:
            self.metrics.count("cancelled")
            after = run.step - run.step_at_stop if run.step_at_stop is not None else 0
            log.info(
                "request %s cancelled by its client after step %d of %d (%d step(s) after the stop signal)",
                request_id, run.step, params.num_inference_steps, after,
            )
        except RequestFieldError as error:
            self.metrics.count("invalid")
            yield failed(error.to_body())
        except Exception as error:  # a backend, encoder or store failure is the client's answer
            self.metrics.count("failed")
            log.exception("request %s failed", request_id)
            reason = str(error).strip() or unexplained(error, run.stage, run.step, params.num_inference_steps)
            yield failed(ErrorBody(message=f"generation failed: {reason}", type="server_error", code=ErrorCode.GENERATION_FAILED))
        finally:
            run.stop.set()
            watcher.cancel()
            if not work.done():
                # The consumer went away: the thread stops at its next step.
                await asyncio.wait({work})
                if isinstance(work.exception(), GenerationCancelled):
                    log.info("request %s abandoned by its client after step %d", request_id, run.step)

    def _resolve(self, parsed: WorkerVideoRequest) -> GenerationParams:
        """The request's generation parameters, its input image read and fitted (blocking: the
        image may come from an object store)."""
        if parsed.model is not None and parsed.model != self.model_name:
            raise RequestFieldError("model", f"this worker serves {self.model_name!r}, not {parsed.model!r}", code=ErrorCode.MODEL_NOT_FOUND)
        knobs = parsed.knobs()
        self.adapters.check(knobs.lora)
        # What the adapters bring (a step-distilled one: few steps, no CFG), unless asked otherwise.
        brought = {key: value for key, value in self.adapters.request_defaults(knobs.lora).items() if getattr(knobs, key) is None}
        params = self._resolve_task(parsed, knobs.model_copy(update=brought))
        return replace(
            params,
            adapters=tuple((choice.name, choice.scale) for choice in knobs.lora or ()),
            step_cache=knobs.cache is not False,
        )

    def _resolve_task(self, parsed: WorkerVideoRequest, knobs) -> GenerationParams:
        if self._task(parsed) == "image":
            if parsed.input_reference is not None:
                return self._resolve_edit(parsed, knobs)
            if "t2i" not in self.spec.tasks:
                message = f"{self.model_name} makes no images from text alone" + (
                    ": it edits images (POST /v1/images/edits)" if self.spec.edits_images else ""
                )
                raise RequestFieldError("model", message, code=ErrorCode.UNSUPPORTED_VALUE)
            return replace(self.spec.resolve(knobs, self.model_name, single_frame=True), count=parsed.n or 1)
        if not self.spec.makes_video:
            raise RequestFieldError(
                "model", f"{self.model_name} makes images, not videos: ask POST /v1/images/generations",
                code=ErrorCode.UNSUPPORTED_VALUE,
            )  # fmt: skip
        if parsed.input_video is not None:
            return self._resolve_remix(parsed, knobs)
        if parsed.input_reference is None:
            if self.spec.needs_image:
                raise RequestFieldError(
                    "input_reference", f"{self.model_name} is an image-to-video model: input_reference is required",
                    code=ErrorCode.MISSING_FIELD,
                )  # fmt: skip
            return self.spec.resolve(knobs, self.model_name)
        if not self.spec.takes_image:
            raise RequestFieldError(
                "input_reference", f"{self.model_name} is a text-to-video model; it takes no input_reference",
                code=ErrorCode.UNSUPPORTED_VALUE,
            )  # fmt: skip
        image = self.inputs.read(parsed.input_reference)
        if knobs.width is None and (size := closest_size(image, self.spec.limits.sizes)):
            # No size asked for: the published size nearest the image's shape.
            knobs = knobs.model_copy(update={"width": size[0], "height": size[1]})
        params = self.spec.resolve(knobs, self.model_name)
        return replace(params, image=fit_image(image, params.width, params.height))

    def _resolve_edit(self, parsed: WorkerVideoRequest, knobs) -> GenerationParams:
        """An image edit: the input image (from the input store) fitted to the size asked (the
        model's default size when none is)."""
        if not self.spec.edits_images:
            raise RequestFieldError(
                "model", f"{self.model_name} edits no images (its tasks have no i2i)", code=ErrorCode.UNSUPPORTED_VALUE
            )
        image = self.inputs.read(parsed.input_reference, param="image")
        params = replace(self.spec.resolve(knobs, self.model_name, single_frame=True), count=parsed.n or 1)
        return replace(params, image=fit_image(image, params.width, params.height))

    def _resolve_remix(self, parsed: WorkerVideoRequest, knobs) -> GenerationParams:
        """A remix: the source video read from this worker's output store (the frontend checked
        that the caller may see it), its frames spread over the frames asked and fitted to the
        size asked."""
        if not self.spec.takes_video:
            raise RequestFieldError(
                "model", f"{self.model_name} makes no video from another one (its tasks have no v2v), so it cannot remix",
                code=ErrorCode.UNSUPPORTED_VALUE,
            )  # fmt: skip
        try:
            source = read_video(self.store.read(parsed.input_video))
        except FileNotFoundError:
            raise RequestFieldError(
                "video_id", "the source video is no longer in storage", code=ErrorCode.VIDEO_NOT_FOUND
            ) from None
        except MediaRefused as error:
            raise RequestFieldError("video_id", f"the source video cannot be read: {error}") from None
        params = self.spec.resolve(knobs, self.model_name)
        strength = parsed.strength if parsed.strength is not None else self.spec.defaults.strength
        frames = [fit_image(frame, params.width, params.height) for frame in frames_over(source.frames, params.num_frames)]
        params = replace(params, video=frames, strength=strength)
        if params.denoising_steps < 1:
            raise RequestFieldError(
                "strength",
                f"strength {strength:g} of {params.num_inference_steps} steps runs no step: strength x "
                "num_inference_steps must be at least 1",
            )
        return params

    def _task(self, parsed: WorkerVideoRequest) -> str:
        return parsed.task or ("video" if self.spec.makes_video else "image")

    async def _store_images(self, frames, parsed: WorkerVideoRequest, request_id: str, run: _Run, report) -> list[VideoData]:
        """Each frame as an image file in output_format: stored (url) or inline (b64_json)."""
        output_format = parsed.output_format if parsed.output_format in ("png", "jpeg", "webp") else "png"
        images = [await asyncio.to_thread(encode_image, frame, output_format) for frame in frames]
        if parsed.response_format == "b64_json":
            return [VideoData(output_format=output_format, b64_json=base64.b64encode(image).decode("ascii")) for image in images]
        report(Stage.STORING, None, None)
        await self._hold_async(request_id, Stage.STORING, run)
        data = []
        for index, image in enumerate(images):
            name = safe_object_name(request_id, f".{index}.{output_format}")
            data.append(VideoData(output_format=output_format, url=await asyncio.to_thread(self.store.put, name, image)))
        return data

    async def _hold_async(self, request_id: str, stage: Stage, run: _Run) -> None:
        await self.hold.wait_async(request_id, stage, run.stop)
        if run.stop.is_set():
            raise GenerationCancelled()

    @staticmethod
    async def _watch_cancel(context: Any, run: _Run) -> None:
        if context is None:
            return
        await context.async_killed_or_stopped()
        run.step_at_stop = run.step
        run.stop.set()

    def _generate_locked(self, params: GenerationParams, report) -> GeneratedVideo:
        with self._generator_lock:
            if (fault := self.hold.injected_failure()) is not None:
                raise GenerationFailed(fault)
            if params.adapters:
                self.adapters.prepare([name for name, _ in params.adapters])
            return self.backend.generate(params, report)

    async def _produce(self, params, request_id, parsed, run, report, message, resolved) -> WorkerVideoMessage:
        async with self._generation_slots:
            # A request stopped while it waited for the GPU never starts.
            report(Stage.STARTING, None, None)
            log.info(
                "request %s generating: %dx%d, %d frames, %d steps, seed %d",
                request_id, params.width, params.height, params.num_frames, params.num_inference_steps, params.seed,
            )
            started = time.perf_counter()
            generated = await self.on_generator_thread(self._generate_locked, params, report)
            inference_time = generated.inference_time_s or time.perf_counter() - started
        if generated.block_evaluations is not None:
            self.metrics.count_block_evaluations(generated.block_evaluations)
        if self.adapters:
            resolved = resolved | {"adapters_loaded": self.adapters.loaded}
            if self.on_adapters_loaded is not None:
                await self.on_adapters_loaded(self.adapters.loaded)
        report(Stage.ENCODING, None, None)
        await self._hold_async(request_id, Stage.ENCODING, run)
        if self._task(parsed) == "image":
            data = await self._store_images(generated.frames, parsed, request_id, run, report)
            timings = run.close()
            self.metrics.observe_stages(timings)
            log.info("request %s done: %d image(s) %dx%d in %.2fs", request_id, len(data), params.width, params.height, inference_time)
            return message(
                status="completed", progress=100, data=data, inference_time_s=round(inference_time, 3),
                timings=timings, **resolved,
            )  # fmt: skip
        sound = generated.sound if params.sound else None
        video = generated.encoded or await asyncio.to_thread(encode_mp4, generated.frames, params.fps, self.encoder, sound)
        resolved = resolved | {"has_audio": sound is not None and generated.encoded is None}
        data = VideoData(output_format="mp4", fps=params.fps)
        extra: dict[str, str] = {}
        if parsed.response_format == "b64_json":
            if len(video) > self.max_inline_bytes:
                raise RequestFieldError(
                    "response_format",
                    f"the video is {len(video)} bytes, more than {self.max_inline_bytes} can travel inline; "
                    "ask for response_format url",
                    code=ErrorCode.TOO_LARGE,
                )
            data.b64_json = base64.b64encode(video).decode("ascii")
        else:
            report(Stage.STORING, None, None)
            await self._hold_async(request_id, Stage.STORING, run)
            data.url = await asyncio.to_thread(self.store.put, safe_object_name(request_id, ".mp4"), video)
            makers = {"thumbnail": thumbnail_jpeg, "spritesheet": spritesheet_jpeg}
            for variant in dict.fromkeys(parsed.extra_outputs):
                image = await asyncio.to_thread(makers[variant], generated.frames)
                name = safe_object_name(request_id, f".{variant}.jpg")
                extra[f"{variant}_url"] = await asyncio.to_thread(self.store.put, name, image)
        timings = run.close()
        self.metrics.observe_stages(timings)
        log.info(
            "request %s done: %dx%d, %d frames, %d steps in %.2fs, %d bytes; stages %s",
            request_id, params.width, params.height, params.num_frames, params.num_inference_steps,
            inference_time, len(video), " ".join(f"{stage}={seconds:.3f}s" for stage, seconds in timings.items()),
        )
        return message(
            status="completed", progress=100, data=[data], inference_time_s=round(inference_time, 3),
            timings=timings, **resolved, **extra,
        )  # fmt: skip
