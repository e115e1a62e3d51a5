"""framecast frontend: OpenAI-style HTTP API over the video workers of one namespace.

    python -m framecast.frontend --port 8000 --discovery file
"""

from __future__ import annotations

import argparse
import logging
import os
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
    parser.add_argument("--log-level", default="info")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.update(discovery_environment(args))

    import uvicorn

    from framecast.frontend.app import FrontendSettings, create_app
    from framecast.frontend.jobs.manager import JobSettings

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
        ),
    )
    app = create_app(settings)
    uvicorn.run(app, host=args.host, port=args.port, loop="uvloop", log_level=args.log_level.lower())
    return 0


if __name__ == "__main__":
    sys.exit(main())
