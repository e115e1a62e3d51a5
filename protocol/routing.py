"""Where video workers live in the Dynamo runtime, as both sides must agree.

Every video worker of a namespace serves `{namespace}.video.generate`; which model an
instance serves is in its model card (registered as ModelType.Videos), so a frontend
needs no per-worker configuration.
"""

VIDEO_COMPONENT = "video"
GENERATE_ENDPOINT = "generate"
# Key under the model card's runtime_data naming the model an instance serves.
MODEL_CARD_KEY = "framecast_model"


def generate_endpoint_path(namespace: str) -> str:
    return f"{namespace}.{VIDEO_COMPONENT}.{GENERATE_ENDPOINT}"


def discovery_environment(backend: str, etcd_endpoints: str | None, file_kv_dir: str | None) -> dict[str, str]:
    """Environment the Dynamo runtime reads for the discovery a command line asked for."""
    env = {"DYN_DISCOVERY_BACKEND": backend}
    if etcd_endpoints:
        env["ETCD_ENDPOINTS"] = etcd_endpoints
    if file_kv_dir:
        env["DYN_FILE_KV"] = file_kv_dir
    return env
