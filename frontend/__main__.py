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
    parser.add_argument("--log-level", default="info")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.update(discovery_environment(args))

    import uvicorn

    from framecast.frontend.app import FrontendSettings, create_app

    app = create_app(FrontendSettings(namespace=args.namespace, discovery=args.discovery))
    uvicorn.run(app, host=args.host, port=args.port, loop="uvloop", log_level=args.log_level.lower())
    return 0


if __name__ == "__main__":
    sys.exit(main())
