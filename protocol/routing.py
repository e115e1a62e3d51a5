"""Where workers live in the Dynamo runtime, as both sides must agree.

Each served model has a component of its own, named by `model_component`, and its workers
serve `{namespace}.{component}.generate` (the runtime holds one model path per endpoint). A
frontend finds every model of its namespace from the model cards the runtime keeps for those
endpoints, so nothing is configured per model or per worker.
"""

import argparse
import hashlib
import os
import re
from urllib.parse import urlparse

GENERATE_ENDPOINT = "generate"
# Where the runtime keeps model cards in its discovery store (etcd keys, or the file backend's
# entries, named by the URL-quoted remainder): v1/mdc/{namespace}/{component}/{endpoint}/{instance}.
MODEL_CARD_PREFIX = "v1/mdc/"
# Key under the model card's runtime_data naming the model an instance serves.
MODEL_CARD_KEY = "framecast_model"


def etcd_host_port(endpoints: str) -> tuple[str, int]:
    """The first of comma-separated etcd URLs, as (host, port)."""
    first = endpoints.split(",")[0].strip()
    parsed = urlparse(first if "://" in first else f"http://{first}")
    return parsed.hostname or "127.0.0.1", parsed.port or 2379


def model_component(model: str) -> str:
    """The component of a served model name: the name lowercased, every run of characters other
    than a-z and 0-9 made one "-", cut to 40 characters, then "-" and the first 8 hex digits of
    the name's SHA-256 (names that lowercase alike stay apart). "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
    is "wan-ai-wan2-1-t2v-1-3b-diffusers-" followed by its 8 digits."""
    slug = re.sub(r"[^a-z0-9]+", "-", model.lower()).strip("-")[:40].strip("-") or "model"
    return f"{slug}-{hashlib.sha256(model.encode()).hexdigest()[:8]}"


def generate_endpoint_path(namespace: str, model: str) -> str:
    return f"{namespace}.{model_component(model)}.{GENERATE_ENDPOINT}"


_NAMESPACE = re.compile(r"[A-Za-z0-9_-]+")


def namespace_name(value: str) -> str:
    """--namespace: one segment of the runtime's dotted endpoint paths, so no dot."""
    if not _NAMESPACE.fullmatch(value):
        raise argparse.ArgumentTypeError(f"{value!r}: a namespace is letters, digits, '-' and '_' (no '.')")
    return value


def add_discovery_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags by which a worker or a frontend finds the others (the same on both sides)."""
    parser.add_argument(
        "--namespace", default="framecast", type=namespace_name, help="Dynamo namespace shared by workers and frontends"
    )
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
