"""framecast frontend: OpenAI-style HTTP API over the video workers of one namespace.

    python -m framecast.frontend --port 8000 --discovery file

Every option can also be set by the FRAMECAST_* environment variable its help names.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from framecast.frontend.inputs import InputSettings
from framecast.frontend.jobs.settings import JobSettings, RequestLimits
from framecast.frontend.settings import FrontendSettings, ServerOptions
from framecast.frontend.urls import UrlPolicy
from framecast.frontend.webhooks import WebhookSettings
from framecast.protocol import add_discovery_arguments, discovery_environment
from framecast.protocol.options import command_line, settings_from


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = command_line(
        "framecast-frontend", __doc__, ServerOptions, add_discovery_arguments, (FrontendSettings, "jobs and limits"),
        (JobSettings, "job engine"), (RequestLimits, "request limits"), (UrlPolicy, "output URLs"),
        (InputSettings, "input images"), (WebhookSettings, "webhooks"),
    )  # fmt: skip
    args = parser.parse_args(argv)
    from framecast.frontend.discovery import ModelEndpoints

    if args.discovery not in ModelEndpoints.BACKENDS:
        parser.error(f"--discovery {args.discovery}: the frontend finds the models of a namespace in {' or '.join(ModelEndpoints.BACKENDS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    server: ServerOptions = settings_from(args, ServerOptions)
    logging.basicConfig(level=server.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.update(discovery_environment(args))

    import uvicorn

    from framecast.frontend.app import create_app
    from framecast.frontend.jobs.fair_queue import QUEUE_POLICIES
    from framecast.frontend.security import load_api_keys

    jobs = settings_from(args, JobSettings)
    if jobs.queue_policy not in QUEUE_POLICIES:
        sys.exit(f"framecast-frontend: error: --queue-policy {jobs.queue_policy!r}: choose {' or '.join(QUEUE_POLICIES)}")
    try:
        api_keys = load_api_keys(server.api_key_file, server.admin_key_file)
        webhooks = settings_from(args, WebhookSettings).checked(api_keys)
    except ValueError as error:
        sys.exit(f"framecast-frontend: error: {error}")
    settings: FrontendSettings = settings_from(
        args,
        FrontendSettings,
        namespace=args.namespace,
        discovery=args.discovery,
        etcd_endpoints=os.environ.get("ETCD_ENDPOINTS", "http://127.0.0.1:2379"),
        jobs=jobs,
        limits=settings_from(args, RequestLimits),
        api_keys=api_keys,
        urls=settings_from(args, UrlPolicy),
        inputs=settings_from(args, InputSettings),
        webhooks=webhooks,
    )
    app = create_app(settings)
    # On SIGTERM uvicorn stops accepting, waits for the requests in flight (a synchronous video
    # is one), then the app drains its running jobs. uvicorn then raises the signal again,
    # under the handler found before it: exit 0, a finished graceful stop.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    uvicorn.run(
        app,
        host=server.host,
        port=server.port,
        loop="uvloop",
        log_level=server.log_level.lower(),
        timeout_graceful_shutdown=int(settings.drain_timeout_s),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
