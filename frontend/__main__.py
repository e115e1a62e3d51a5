"""framecast frontend: OpenAI-style HTTP API over the video workers of one namespace.

    python -m framecast.frontend --port 8000 --discovery file
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from framecast.protocol import discovery_environment


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="framecast-frontend", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--namespace", default="framecast", help="Dynamo namespace of the workers")
    parser.add_argument(
        "--discovery",
        default=os.environ.get("DYN_DISCOVERY_BACKEND", "etcd"),
        choices=["etcd", "file", "kubernetes", "mem"],
        help="Dynamo discovery backend (default: $DYN_DISCOVERY_BACKEND or etcd)",
    )
    parser.add_argument("--etcd-endpoints", help="etcd URLs, comma separated (default: $ETCD_ENDPOINTS)")
    parser.add_argument("--file-kv-dir", help="folder of the file discovery backend (default: $DYN_FILE_KV)")
    parser.add_argument("--log-level", default="info")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.update(discovery_environment(args.discovery, args.etcd_endpoints, args.file_kv_dir))

    import uvicorn

    from framecast.frontend.app import FrontendSettings, create_app

    app = create_app(FrontendSettings(namespace=args.namespace, discovery=args.discovery))
    uvicorn.run(app, host=args.host, port=args.port, loop="uvloop", log_level=args.log_level.lower())
    return 0


if __name__ == "__main__":
    sys.exit(main())
