"""framecast frontend: OpenAI-style HTTP API over the video workers of one namespace.

    python -m framecast.frontend --port 8000 --discovery file
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from framecast.protocol import add_discovery_arguments, discovery_environment


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="framecast-frontend", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface)")
    parser.add_argument("--port", type=int, default=8000)
    add_discovery_arguments(parser)
    jobs = parser.add_argument_group("jobs")
    jobs.add_argument(
        "--job-store",
        choices=["sqlite", "etcd"],
        default="sqlite",
        help="where job records live: sqlite (one machine) or etcd (replicas anywhere; the discovery etcd)",
    )
    jobs.add_argument("--job-db", default="framecast-jobs.sqlite3", help="SQLite file of the sqlite job store")
    jobs.add_argument("--job-ttl", type=float, default=24 * 3600, help="seconds outputs stay downloadable")
    jobs.add_argument("--poll-after-ms", type=int, default=1000, help="polling interval suggested to clients")
    jobs.add_argument(
        "--replica-timeout", type=float, default=10.0, help="seconds after which a silent replica's jobs are taken over"
    )
    jobs.add_argument("--sweep-interval", type=float, default=30.0, help="seconds between expiry sweeps")
    jobs.add_argument(
        "--queue-per-worker",
        type=int,
        default=8,
        help="jobs a model may hold waiting per live worker; past that, 429 with Retry-After",
    )
    jobs.add_argument(
        "--stall-timeout", type=float, default=60.0, help="seconds of silence after which a worker is taken for lost"
    )
    jobs.add_argument(
        "--no-worker-timeout",
        type=float,
        default=300.0,
        help="seconds a queued job waits for a live worker of its model before it fails",
    )
    jobs.add_argument(
        "--drain-timeout", type=float, default=60.0, help="on SIGTERM, seconds running jobs get to finish"
    )
    urls = parser.add_argument_group("output URLs")
    urls.add_argument(
        "--output-urls",
        choices=["auto", "content", "presigned", "public", "raw"],
        default="auto",
        help="URL clients get: auto = public base URL if set, else presigned for S3/GCS, else this "
        "frontend's /content route; raw = the storage URL itself",
    )
    urls.add_argument("--public-base-url", help="base URL under which the output store is published")
    urls.add_argument("--presign-expiry", type=int, default=3600, help="seconds a presigned URL works")
    security = parser.add_argument_group("security and limits")
    security.add_argument(
        "--api-key-file",
        help="file of API keys, one a line: 'tenant: key', or a bare key (a tenant of its own); # comments. "
        "Keys also come from $FRAMECAST_API_KEYS (comma separated, same form). With any key, every route but "
        "/health and /ready needs 'Authorization: Bearer <key>', and a key sees only its tenant's jobs",
    )
    security.add_argument(
        "--admin-key-file",
        help="file of admin keys (same form; also $FRAMECAST_ADMIN_API_KEYS): they see and delete every tenant's jobs",
    )
    security.add_argument("--max-body-bytes", type=int, default=16 * 2**20, help="largest request body")
    security.add_argument("--max-prompt-chars", type=int, default=4000, help="longest prompt")
    security.add_argument("--max-frames", type=int, help="most frames per video (beyond each model's own limit)")
    security.add_argument("--max-pixels", type=int, help="most pixels per frame (width x height)")
    security.add_argument("--max-steps", type=int, help="most denoising steps")
    security.add_argument(
        "--max-jobs-per-key", type=int, default=0,
        help="unfinished jobs one tenant may hold across every replica (0: no limit)"
    )
    parser.add_argument("--log-level", default="info")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.update(discovery_environment(args))

    import uvicorn

    from framecast.frontend.app import FrontendSettings, create_app
    from framecast.frontend.jobs.manager import JobSettings, RequestLimits
    from framecast.frontend.security import load_api_keys
    from framecast.frontend.urls import UrlPolicy

    settings = FrontendSettings(
        namespace=args.namespace,
        discovery=args.discovery,
        job_store=args.job_store,
        job_db=args.job_db,
        etcd_endpoints=os.environ.get("ETCD_ENDPOINTS", "http://127.0.0.1:2379"),
        jobs=JobSettings(
            ttl_s=args.job_ttl,
            poll_after_ms=args.poll_after_ms,
            replica_timeout_s=args.replica_timeout,
            sweep_interval_s=args.sweep_interval,
            queue_per_worker=args.queue_per_worker,
            stall_timeout_s=args.stall_timeout,
            no_worker_timeout_s=args.no_worker_timeout,
        ),
        limits=RequestLimits(
            max_prompt_chars=args.max_prompt_chars,
            max_frames=args.max_frames,
            max_pixels=args.max_pixels,
            max_steps=args.max_steps,
            max_jobs_per_key=args.max_jobs_per_key,
        ),
        api_keys=load_api_keys(args.api_key_file, args.admin_key_file),
        max_body_bytes=args.max_body_bytes,
        drain_timeout_s=args.drain_timeout,
        urls=UrlPolicy(args.output_urls, args.public_base_url, args.presign_expiry),
    )
    app = create_app(settings)
    # On SIGTERM uvicorn stops accepting, waits for the requests in flight (a synchronous video
    # is one), then the app drains its running jobs. uvicorn then raises the signal again,
    # under the handler found before it: exit 0, a finished graceful stop.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        log_level=args.log_level.lower(),
        timeout_graceful_shutdown=int(args.drain_timeout),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
