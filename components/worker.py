"""The framecast worker.

Loads a backend, serves `{namespace}.{component}.generate` on the Dynamo request plane (one
component per served model, protocol/routing.py) and registers the model as ModelType.Videos
or Images, so frontends find it through discovery (etcd, or files on one machine). On SIGTERM
or SIGINT it unregisters first, finishes the requests in hand, then exits.

    python -m framecast.components.worker --model-path models/tiny-random-t2v --discovery file
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from framecast.components.backends.options import (
    BackendOptions,
    DiffusersOptions,
    ModelOptions,
    SglangOptions,
    SyntheticOptions,
)

from framecast.protocol import (
    MODEL_CARD_KEY,
    WORKER_CARD_KEY,
    GenerationKnobs,
    RequestFieldError,
    Support,
    WorkerCard,
    add_discovery_arguments,
    discovery_environment,
    generate_endpoint_path,
)
from framecast.protocol.options import command_line, option, settings_from

log = logging.getLogger("framecast.worker")


@dataclass(frozen=True)
class WorkerOptions:
    """The worker's own options (the backend's are in backends/options.py)."""

    model_path: str | None = option(None, "local diffusers folder or hub id (Wan-AI/...); required")
    served_model_name: str | None = option(
        None, "name clients put in `model` (default: the hub id, or the folder name of a local path)"
    )
    model_spec: str | None = option(None, "registry id whose defaults and limits apply (default: found from the model path)")
    backend: str = option(
        "auto",
        "auto: sglang when it is installed, a GPU is present and it runs the model; else diffusers (synthetic: no "
        "model, generated frames, for measuring everything around generation)",
        choices=("auto", "sglang", "diffusers", "synthetic"),
    )
    fs_url: str | None = option(None, "fsspec URL where videos are written (default: file://<current dir>/outputs)")
    input_store: str | None = option(
        None,
        "fsspec URL the frontends store input images under, for workers to read: give frontends and workers the "
        "same one (default: file://<current dir>/inputs)",
    )
    lora_max_loaded: int = option(4, "LoRA adapters held loaded at once; the least recently used is unloaded first")
    ignore_support: bool = option(False, "start even when the registry judges this machine unable to run the model")
    drain_timeout: float = option(600.0, "seconds a stopping worker waits for requests in hand before exiting")
    canary_interval: float = option(
        600.0,
        "seconds between canaries (one minimal generation) while the worker is idle; one also runs before it "
        "registers, and a failing one takes the worker out of routing until one passes (0: no canary)",
    )
    hold_file: str | None = option(
        None,
        "test and fault-drill hook: while this file exists and names a stage (denoising, decoding, encoding, "
        "storing), requests wait in that stage; a test paces kills and cancellations with it; while it says "
        "fail-generation, every generation fails (the canary's too)",
    )
    log_level: str = option("INFO", "log level: DEBUG, INFO, WARNING or ERROR")


@dataclass(frozen=True)
class OutputOptions:
    video_preset: str = option("medium", "x264 preset (ultrafast ... veryslow)")
    video_crf: int = option(20, "x264 constant rate factor (0-51, lower is better)")
    max_inline_bytes: int = option(
        24 * 2**20, "largest video sent inline (base64) on the request plane; larger ones only by reference"
    )


def add_adapter_arguments(parser: argparse.ArgumentParser) -> None:
    from_env = os.environ.get("FRAMECAST_LORA", "").split()
    parser.add_argument(
        "--lora", action="append", default=None, metavar="NAME=SOURCE",
        help="a LoRA adapter requests may name: NAME=local path or hub file (owner/repo/file.safetensors), or "
        "NAME alone for a registry preset of the model; repeatable; loaded at first use "
        "($FRAMECAST_LORA, space separated)",
    )  # fmt: skip
    parser.set_defaults(lora_from_env=from_env)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = command_line(
        "framecast-worker", __doc__, WorkerOptions, add_discovery_arguments, add_adapter_arguments,
        (ModelOptions, "both model backends"),
        (SglangOptions, "sglang backend: parallelism and memory"), (DiffusersOptions, "diffusers backend: memory"),
        (SyntheticOptions, "synthetic backend (no model; --model-path synthetic)"), (OutputOptions, "output"),
    )  # fmt: skip
    args = parser.parse_args(argv)
    if not args.model_path:
        parser.error("--model-path is required (or $FRAMECAST_MODEL_PATH)")
    args.lora = args.lora if args.lora is not None else args.lora_from_env
    return args


def backend_options(args: argparse.Namespace, spec) -> BackendOptions:
    return BackendOptions(
        model_path=args.model_path,
        spec=spec,
        model=settings_from(args, ModelOptions),
        sglang=settings_from(args, SglangOptions),
        diffusers=settings_from(args, DiffusersOptions),
        synthetic=settings_from(args, SyntheticOptions),
    )


def served_model_name(args: argparse.Namespace) -> str:
    if args.served_model_name:
        return args.served_model_name
    path = Path(args.model_path)
    return path.resolve().name if path.is_dir() else args.model_path


async def serve(args: argparse.Namespace) -> None:
    # Heavy imports (torch) stay out of `--help`.
    from dynamo.llm import unregister_model

    from framecast.components.loading import AdapterAnnouncer, LoadingAnnouncer

    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)

    name = served_model_name(args)
    # Until the model is registered, frontends show this worker as loading.
    announcer = LoadingAnnouncer(args.discovery, args.namespace, name, os.environ.get("ETCD_ENDPOINTS"), os.environ.get("DYN_FILE_KV"))
    await announcer.start()
    try:
        registered = await _load_and_register(args, name, announcer, stopping)
    finally:
        await announcer.finish()
    if registered is None:
        return
    handler, runtime, endpoint, serving, backend, canary = registered
    adapter_notice = None
    if handler.adapters or canary is not None:
        adapter_notice = AdapterAnnouncer(
            args.discovery, args.namespace, f"{endpoint.connection_id():x}", os.environ.get("ETCD_ENDPOINTS"), os.environ.get("DYN_FILE_KV")
        )  # fmt: skip
        await adapter_notice.start()
        handler.on_adapters_loaded = adapter_notice.publish
    canary_task = None
    if canary is not None:

        async def canary_changed(canary) -> None:
            runtime.set_health_status(canary.healthy)
            await adapter_notice.publish_canary(canary.error, canary.checked_at)

        canary.on_change(canary_changed)
        await canary_changed(canary)
        canary_task = asyncio.ensure_future(canary.run())
    await stopping.wait()
    if canary_task is not None:
        canary_task.cancel()
    handler.start_draining()
    runtime.set_health_status(False)
    log.info("stopping: unregistering, then finishing %d request(s) in hand", handler.in_flight)
    await endpoint.unregister_endpoint_instance()
    await unregister_model(endpoint)
    try:
        await asyncio.wait_for(handler.wait_idle(), timeout=args.drain_timeout)
    except asyncio.TimeoutError:
        log.warning("drain timeout: %d request(s) still running are abandoned", handler.in_flight)
    if adapter_notice is not None:
        await adapter_notice.finish()
    runtime.shutdown()
    try:
        await asyncio.wait_for(serving, timeout=5)
    except (asyncio.TimeoutError, Exception) as error:  # shutdown races are not the user's problem
        log.debug("endpoint stopped with %r", error)
    handler.close()
    await asyncio.to_thread(backend.close)
    log.info("worker stopped")


async def _load_and_register(args: argparse.Namespace, name: str, announcer, stopping: asyncio.Event):
    """Load the model and register it; None when asked to stop first."""
    from dynamo.llm import ModelInput, ModelRuntimeConfig, ModelType, WorkerType, register_model
    from dynamo.runtime import DistributedRuntime

    from framecast.components.adapters import AdapterSet, parse_adapter_flags
    from framecast.components.backends import load_backend
    from framecast.components.canary import Canary
    from framecast.components.encoding import EncoderSettings
    from framecast.components.handler import VideoRequestHandler
    from framecast.components.hardware import detect_hardware
    from framecast.components.hold import StageHold
    from framecast.components.inputs import InputImages
    from framecast.components.metrics import WorkerMetrics
    from framecast.components.registry import choose_backend, spec_for_model
    from framecast.components.registry import support as judge_support
    from framecast.components.storage import OutputStore

    loop = asyncio.get_running_loop()
    fs_url = args.fs_url or (Path.cwd() / "outputs").as_uri()
    store = OutputStore(fs_url)
    spec = spec_for_model(args.model_path, args.model_spec)
    await announcer.stage("detecting hardware")
    hardware = await asyncio.to_thread(detect_hardware)
    backend_name = choose_backend(spec, hardware) if args.backend == "auto" else args.backend
    support = judge_support(spec, hardware, backend_name)
    log.info(
        "model %s follows registry entry %s (matched by %s); backend %s; support here: %s (%s)",
        name, spec.id, spec.matched_by, backend_name, support.level, support.reason,
    )
    if support.level == "not supported" and not args.ignore_support:
        raise ValueError(f"{spec.id} is not supported here: {support.reason} (--ignore-support starts anyway)")
    options = backend_options(args, spec)
    step_cache = options.step_cache  # a bad cache setting fails before the model loads
    adapter_sources = parse_adapter_flags(args.lora, spec)
    await announcer.stage("loading model", backend_name)
    hold = StageHold(args.hold_file)
    # Tests hold a worker here to see it loading (and to kill it there).
    await hold.wait_async("worker start-up", "loading", _StopFlag(stopping))
    if stopping.is_set():
        return None
    backend = await asyncio.to_thread(load_backend, backend_name, options)
    if adapter_sources and not backend.takes_adapters:
        backend.close()
        raise ValueError(
            f"--lora: the {backend.name} backend takes no adapters for this model "
            "(the diffusers backend does, for pipelines with LoRA support)"
        )
    if spec.takes_video and not backend.takes_video:
        log.info("remix (v2v) runs on the diffusers backend only: the %s backend takes no source video here", backend.name)
        spec = dataclasses.replace(spec, tasks=tuple(task for task in spec.tasks if task != "v2v"))
    # Requests are checked against what the loaded pipeline can run, not only the table.
    spec = dataclasses.replace(spec, limits=backend.limits(spec.limits))
    try:
        spec.resolve(GenerationKnobs(prompt="defaults", seed=0), name, single_frame=not spec.makes_video)
    except RequestFieldError as error:
        log.warning("a request at the model's defaults will be refused by what the loaded pipeline runs: %s", error.message)
    metrics = WorkerMetrics(name)
    adapters = AdapterSet(
        adapter_sources, backend.load_adapter, backend.unload_adapter, args.lora_max_loaded, metrics.observe_adapter_load
    )
    handler = VideoRequestHandler(
        backend, spec, store, name, EncoderSettings(preset=args.video_preset, crf=args.video_crf),
        max_inline_bytes=args.max_inline_bytes, metrics=metrics, hold=hold,
        inputs=InputImages(args.input_store or (Path.cwd() / "inputs").as_uri()), adapters=adapters,
    )
    if options.model.compile:
        await announcer.stage("compiling", backend_name)
        await handler.on_generator_thread(warm_up, backend, spec)
    canary = None
    if args.canary_interval > 0:
        canary = Canary(spec, handler.generate_canary, handler.idle_for, args.canary_interval, bool(options.model.compile))
        await announcer.stage("canary", backend_name)
        # It registers either way: a failing worker shows in /v1/runtime with the failure, out of routing.
        await canary.check()
    await announcer.stage("registering", backend_name)

    runtime = DistributedRuntime(loop, args.discovery, "tcp")
    endpoint = runtime.endpoint(generate_endpoint_path(args.namespace, name))
    # Served with the runtime's own metrics on its status server (DYN_SYSTEM_PORT /metrics).
    endpoint.metrics.register_prometheus_expfmt_callback(metrics.exposition)
    serving = asyncio.ensure_future(endpoint.serve_endpoint(handler.generate, graceful_shutdown=True))
    runtime_config = ModelRuntimeConfig()
    # The value is parsed as JSON.
    runtime_config.set_engine_specific(MODEL_CARD_KEY, json.dumps(name))
    # Video models that make single frames serve text-to-image too.
    model_type = ModelType.Videos if spec.makes_video else ModelType.Images
    if spec.makes_video and "t2i" in spec.tasks:
        model_type = ModelType.Videos | ModelType.Images
    await register_model(
        ModelInput.Text,
        model_type,
        endpoint,
        args.model_path,
        name,
        worker_type=WorkerType.Aggregated,
        runtime_config=runtime_config,
        user_data={
            WORKER_CARD_KEY: WorkerCard(
                backend=backend.name,
                support=Support(level=support.level, reason=support.reason),
                hardware=hardware.to_json(),
                # What this worker will do with a request: one at a time, in arrival order.
                load_policy={"max_concurrent": 1, "queue": "fifo", "lora_max_loaded": args.lora_max_loaded, **backend.describe()},
                adapters=adapters.cards(),
                step_cache=step_cache.to_json() if step_cache else None,
                compiled=bool(options.model.compile),
                aliases=model_aliases(args, spec, name),
                **spec.card(),
            ).model_dump(mode="json")
        },
    )
    # The runtime's status server (DYN_SYSTEM_PORT: /health, /live) reports ready from now on,
    # unless the canary failed.
    runtime.set_health_status(canary is None or canary.healthy)
    log.info(
        "framecast worker ready: model %s, backend %s, instance %x, namespace %s, outputs %s",
        name, backend.name, endpoint.connection_id(), args.namespace, fs_url,
    )
    return handler, runtime, endpoint, serving, backend, canary


def model_aliases(args: argparse.Namespace, spec, name: str) -> list[str]:
    """Other names requests may give the model by: the hub id it was loaded from, and the
    registry entry's names when the model is that entry (not when --model-spec only borrows an
    entry's defaults for another model)."""
    names = [] if Path(args.model_path).is_dir() else [args.model_path]
    if spec.matched_by != "--model-spec":
        names += spec.names
    return [alias for alias in dict.fromkeys(names) if alias != name]


def warm_up(backend, spec) -> None:
    """Short generations at the model's default size and each published size, so that
    torch.compile's work happens before the worker registers and no request at those sizes
    pays for it; the cost goes in the log. (Another size compiles once, at its first request.)"""
    import time

    from framecast.components.registry import GenerationParams
    from framecast.protocol import parse_size

    d = spec.defaults
    sizes = dict.fromkeys([(d.width, d.height), *(parse_size(size) for size in spec.limits.sizes)])
    for width, height in sizes:
        params = GenerationParams(
            prompt="warm-up", negative_prompt="", width=width, height=height, num_frames=d.num_frames if spec.makes_video else 1,
            fps=d.fps, num_inference_steps=2, guidance_scale=d.guidance_scale, seed=0, guidance_scale_2=d.guidance_scale_2,
        )  # fmt: skip
        started = time.perf_counter()
        backend.generate(params, lambda *_: None)
        first = time.perf_counter() - started
        started = time.perf_counter()
        backend.generate(params, lambda *_: None)
        again = time.perf_counter() - started
        log.info(
            "compiled and warmed up at %dx%d, %d frames: first run %.1fs, second %.1fs (compile cost about %.1fs)",
            width, height, params.num_frames, first, again, max(first - again, 0.0),
        )  # fmt: skip


class _StopFlag:
    """An asyncio.Event read where the hold expects a threading.Event's is_set()."""

    def __init__(self, event: asyncio.Event):
        self.is_set = event.is_set


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.update(discovery_environment(args))
    import uvloop

    try:
        uvloop.run(serve(args))
    except KeyboardInterrupt:
        pass
    except (ValueError, OSError) as error:  # a bad flag or model path: say so, no traceback
        log.error("worker cannot start: %s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
