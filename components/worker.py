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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="framecast-worker", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-path", required=True, help="local diffusers folder or hub id (Wan-AI/...)")
    parser.add_argument(
        "--served-model-name",
        help="name clients put in `model` (default: the hub id, or the folder name of a local path)",
    )
    parser.add_argument("--backend", default="diffusers", choices=["diffusers"], help="generation backend")
    parser.add_argument(
        "--fs-url",
        default=None,
        help="fsspec URL where videos are written (default: file://<current dir>/outputs)",
    )
    add_discovery_arguments(parser)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--dtype", default="auto", help="auto, float32, bfloat16 or float16")
    parser.add_argument("--tp", type=int, default=1, help="tensor-parallel degree (GPUs per model replica)")
    parser.add_argument("--video-preset", default="medium", help="x264 preset (ultrafast ... veryslow)")
    parser.add_argument("--video-crf", type=int, default=20, help="x264 constant rate factor (0-51, lower is better)")
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=600.0,
        help="seconds a stopping worker waits for requests in hand before exiting",
    )
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


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
    from framecast.components.model_spec import ModelSpec
    from framecast.components.storage import OutputStore

    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)

    name = served_model_name(args)
    fs_url = args.fs_url or (Path.cwd() / "outputs").as_uri()
    store = OutputStore(fs_url)
    spec = ModelSpec.for_model_path(args.model_path)
    backend = await asyncio.to_thread(
        load_backend, args.backend, BackendOptions(model_path=args.model_path, device=args.device, dtype=args.dtype, tp=args.tp)
    )
    handler = VideoRequestHandler(
        backend, spec, store, name, EncoderSettings(preset=args.video_preset, crf=args.video_crf)
    )

    runtime = DistributedRuntime(loop, args.discovery, "tcp")
    endpoint = runtime.endpoint(generate_endpoint_path(args.namespace))
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
        user_data={"framecast": {"backend": backend.name, **spec.card()}},
    )
    log.info(
        "framecast worker ready: model %s, backend %s, instance %x, namespace %s, outputs %s",
        name, backend.name, endpoint.connection_id(), args.namespace, fs_url,
    )

    await stopping.wait()
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
