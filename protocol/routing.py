"""Where video workers live in the Dynamo runtime, as both sides must agree.

Every video worker of a namespace serves `{namespace}.video.generate`; which model an
instance serves is in its model card (registered as ModelType.Videos), so a frontend
needs no per-worker configuration.
"""

import argparse
import os
from urllib.parse import urlparse

VIDEO_COMPONENT = "video"
GENERATE_ENDPOINT = "generate"
# Key under the model card's runtime_data naming the model an instance serves.
MODEL_CARD_KEY = "framecast_model"


def etcd_host_port(endpoints: str) -> tuple[str, int]:
    """The first of comma-separated etcd URLs, as (host, port)."""
    first = endpoints.split(",")[0].strip()
    parsed = urlparse(first if "://" in first else f"http://{first}")
    return parsed.hostname or "127.0.0.1", parsed.port or 2379


def generate_endpoint_path(namespace: str) -> str:
    return f"{namespace}.{VIDEO_COMPONENT}.{GENERATE_ENDPOINT}"


def add_discovery_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags by which a worker or a frontend finds the others (the same on both sides)."""
    parser.add_argument("--namespace", default="framecast", help="Dynamo namespace shared by workers and frontends")
    parser.add_argument(
        "--discovery",
        default=os.environ.get("DYN_DISCOVERY_BACKEND", "etcd"),
        choices=["etcd", "file", "kubernetes", "mem"],
        help="Dynamo discovery backend (default: $DYN_DISCOVERY_BACKEND or etcd)",
    )
    parser.add_argument("--etcd-endpoints", help="etcd URLs, comma separated (default: $ETCD_ENDPOINTS)")
    parser.add_argument("--file-kv-dir", help="folder of the file discovery backend (default: $DYN_FILE_KV)")


def discovery_environment(args: argparse.Namespace) -> dict[str, str]:
    """Environment the Dynamo runtime reads for the discovery those flags asked for."""
    env = {"DYN_DISCOVERY_BACKEND": args.discovery}
    if args.etcd_endpoints:
        env["ETCD_ENDPOINTS"] = args.etcd_endpoints
    if args.file_kv_dir:
        env["DYN_FILE_KV"] = args.file_kv_dir
    return env
