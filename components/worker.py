"""The framecast video worker.

Loads a backend, serves `{namespace}.video.generate` on the Dynamo request plane and registers
the model as ModelType.Videos, so frontends find it through discovery (etcd, or files on one
machine). On SIGTERM or SIGINT it unregisters first, finishes the requests in hand, then exits.

    python -m framecast.components.worker --model-path models/tiny-random-t2v --discovery file
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path

from framecast.protocol import MODEL_CARD_KEY, add_discovery_arguments, discovery_environment, generate_endpoint_path

log = logging.getLogger("framecast.worker")


def _on_off(parser: argparse.ArgumentParser, flag: str, help: str) -> None:
    """A --flag / --no-flag pair whose default None means "the backend decides"."""
    parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="framecast-worker", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-path", required=True, help="local diffusers folder or hub id (Wan-AI/...)")
    parser.add_argument(
        "--served-model-name",
        help="name clients put in `model` (default: the hub id, or the folder name of a local path)",
    )
    parser.add_argument(
        "--model-spec",
        help="registry id whose defaults and limits apply (default: found from the model path)",
    )
    parser.add_argument(
        "--backend",
        default="auto",
        choices=["auto", "sglang", "diffusers", "synthetic"],
        help="auto: sglang when it is installed, a GPU is present and it runs the model; else diffusers "
        "(synthetic: no model, generated frames, for measuring everything around generation)",
    )
    parser.add_argument(
        "--fs-url",
        default=None,
        help="fsspec URL where videos are written (default: file://<current dir>/outputs)",
    )
    add_discovery_arguments(parser)
    parser.add_argument(
        "--ignore-support",
        action="store_true",
        help="start even when the registry judges this machine unable to run the model",
    )

    common = parser.add_argument_group("both backends")
    common.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    common.add_argument("--dtype", default="auto", help="auto (the model's), float32, bfloat16 or float16")
    common.add_argument("--flow-shift", type=float, help="scheduler flow shift (default: the model's)")
    _on_off(common, "--compile", "torch.compile the DiT")

    sglang = parser.add_argument_group("sglang backend: parallelism and memory")
    sglang.add_argument("--num-gpus", type=int, help="GPUs for one model replica (default: the largest degree)")
    sglang.add_argument("--tp", type=int, help="tensor-parallel degree")
    sglang.add_argument("--sp", type=int, help="sequence-parallel degree")
    sglang.add_argument("--ulysses-degree", type=int, help="Ulysses sequence-parallel degree")
    sglang.add_argument("--ring-degree", type=int, help="ring-attention sequence-parallel degree")
    _on_off(sglang, "--cfg-parallel", "run the two CFG branches on different GPUs")
    _on_off(sglang, "--dit-cpu-offload", "keep the DiT in CPU memory between uses")
    _on_off(sglang, "--text-encoder-cpu-offload", "keep the text encoder in CPU memory")
    _on_off(sglang, "--vae-cpu-offload", "keep the VAE in CPU memory")
    _on_off(sglang, "--dit-layerwise-offload", "stream DiT layers from CPU memory")
    sglang.add_argument("--attention-backend", help="sglang attention backend (default: its choice)")
    sglang.add_argument(
        "--sglang-pipeline",
        choices=["auto", "sglang", "diffusers"],
        help="DiffGenerator's own backend (default auto; diffusers on a machine without CUDA)",
    )

    diffusers = parser.add_argument_group("diffusers backend: memory")
    _on_off(diffusers, "--vae-slicing", "decode the batch one video at a time")
    _on_off(diffusers, "--vae-tiling", "decode in tiles (large sizes in less memory)")
    diffusers.add_argument("--cpu-offload", choices=["none", "model", "sequential"], help="CPU offload of the pipeline")

    synthetic = parser.add_argument_group("synthetic backend (no model; --model-path synthetic)")
    synthetic.add_argument("--synthetic-content", choices=["smooth", "noise"], help="frame content (default smooth)")
    synthetic.add_argument("--synthetic-busy-s", type=float, help="simulated GPU seconds per video (default 0)")
    synthetic.add_argument(
        "--synthetic-stored-clip",
        action="store_true",
        default=None,
        help="encode the clip once and answer every request of the same shape with that MP4: zero compute",
    )

    output = parser.add_argument_group("output")
    output.add_argument("--video-preset", default="medium", help="x264 preset (ultrafast ... veryslow)")
    output.add_argument("--video-crf", type=int, default=20, help="x264 constant rate factor (0-51, lower is better)")
    output.add_argument(
        "--max-inline-bytes",
        type=int,
        default=24 * 2**20,
        help="largest video sent inline (base64) on the request plane; larger ones only by reference",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=600.0,
        help="seconds a stopping worker waits for requests in hand before exiting",
    )
    parser.add_argument(
        "--hold-file",
        help="test and fault-drill hook: while this file exists and names a stage (denoising, decoding, encoding, "
        "storing), requests wait in that stage; a test paces kills and cancellations with it",
    )
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


# Worker flags that become BackendOptions fields (same names).
_BACKEND_FLAGS = (
    "device", "dtype", "flow_shift", "compile", "num_gpus", "tp", "sp", "ulysses_degree", "ring_degree",
    "cfg_parallel", "dit_cpu_offload", "text_encoder_cpu_offload", "vae_cpu_offload", "dit_layerwise_offload",
    "attention_backend", "sglang_pipeline", "vae_slicing", "vae_tiling", "cpu_offload",
    "synthetic_content", "synthetic_busy_s", "synthetic_stored_clip",
)  # fmt: skip


def backend_flags(args: argparse.Namespace) -> dict:
    return {flag: getattr(args, flag) for flag in _BACKEND_FLAGS}


def served_model_name(args: argparse.Namespace) -> str:
    if args.served_model_name:
        return args.served_model_name
    path = Path(args.model_path)
    return path.resolve().name if path.is_dir() else args.model_path


async def serve(args: argparse.Namespace) -> None:
    # Heavy imports (torch) stay out of `--help`.
    from dynamo.llm import ModelInput, ModelRuntimeConfig, ModelType, WorkerType, register_model, unregister_model
    from dynamo.runtime import DistributedRuntime

    from framecast.components.backends import BackendOptions, load_backend
    from framecast.components.encoding import EncoderSettings
    from framecast.components.handler import VideoRequestHandler
    from framecast.components.hardware import detect_hardware
    from framecast.components.hold import StageHold
    from framecast.components.metrics import WorkerMetrics
    from framecast.components.registry import choose_backend, spec_for_model
    from framecast.components.storage import OutputStore

    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)

    name = served_model_name(args)
    fs_url = args.fs_url or (Path.cwd() / "outputs").as_uri()
    store = OutputStore(fs_url)
    spec = spec_for_model(args.model_path, args.model_spec)
    hardware = await asyncio.to_thread(detect_hardware)
    backend_name = choose_backend(spec, hardware) if args.backend == "auto" else args.backend
    support = spec.support(hardware, backend_name)
    log.info(
        "model %s follows registry entry %s (matched by %s); backend %s; support here: %s (%s)",
        name, spec.id, spec.matched_by, backend_name, support.level, support.reason,
    )
    if support.level == "not supported" and not args.ignore_support:
        raise ValueError(f"{spec.id} is not supported here: {support.reason} (--ignore-support starts anyway)")
    options = BackendOptions(model_path=args.model_path, spec=spec, **backend_flags(args))
    backend = await asyncio.to_thread(load_backend, backend_name, options)
    metrics = WorkerMetrics(name)
    handler = VideoRequestHandler(
        backend, spec, store, name, EncoderSettings(preset=args.video_preset, crf=args.video_crf),
        max_inline_bytes=args.max_inline_bytes, metrics=metrics, hold=StageHold(args.hold_file),
    )

    runtime = DistributedRuntime(loop, args.discovery, "tcp")
    endpoint = runtime.endpoint(generate_endpoint_path(args.namespace))
    # Served with the runtime's own metrics on its status server (DYN_SYSTEM_PORT /metrics).
    endpoint.metrics.register_prometheus_expfmt_callback(metrics.exposition)
    serving = asyncio.ensure_future(endpoint.serve_endpoint(handler.generate, graceful_shutdown=True))
    runtime_config = ModelRuntimeConfig()
    # The value is parsed as JSON.
    runtime_config.set_engine_specific(MODEL_CARD_KEY, json.dumps(name))
    await register_model(
        ModelInput.Text,
        ModelType.Videos,
        endpoint,
        args.model_path,
        name,
        worker_type=WorkerType.Aggregated,
        runtime_config=runtime_config,
        user_data={
            "framecast": {
                "backend": backend.name,
                "support": {"level": support.level, "reason": support.reason},
                "hardware": hardware.to_json(),
                # What this worker will do with a request: one at a time, in arrival order.
                "load_policy": {"max_concurrent": 1, "queue": "fifo", **backend.describe()},
                **spec.card(),
            }
        },
    )
    # The runtime's status server (DYN_SYSTEM_PORT: /health, /live) reports ready from now on.
    runtime.set_health_status(True)
    log.info(
        "framecast worker ready: model %s, backend %s, instance %x, namespace %s, outputs %s",
        name, backend.name, endpoint.connection_id(), args.namespace, fs_url,
    )

    await stopping.wait()
    handler.start_draining()
    runtime.set_health_status(False)
    log.info("stopping: unregistering, then finishing %d request(s) in hand", handler.in_flight)
    await endpoint.unregister_endpoint_instance()
    await unregister_model(endpoint)
    try:
        await asyncio.wait_for(handler.wait_idle(), timeout=args.drain_timeout)
    except asyncio.TimeoutError:
        log.warning("drain timeout: %d request(s) still running are abandoned", handler.in_flight)
    runtime.shutdown()
    try:
        await asyncio.wait_for(serving, timeout=5)
    except (asyncio.TimeoutError, Exception) as error:  # shutdown races are not the user's problem
        log.debug("endpoint stopped with %r", error)
    await asyncio.to_thread(backend.close)
    log.info("worker stopped")


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
