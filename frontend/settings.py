"""The frontend's settings, each declared once (default, help, flag, FRAMECAST_* variable):
`framecast-frontend --help` lists them all."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from framecast.frontend.inputs import InputSettings
from framecast.frontend.jobs.settings import JobSettings, RequestLimits
from framecast.frontend.urls import UrlPolicy
from framecast.frontend.webhooks import WebhookSettings
from framecast.protocol.options import option

if TYPE_CHECKING:
    from framecast.frontend.security import Caller


@dataclass(frozen=True)
class ServerOptions:
    """How the process serves: not part of the app's settings."""

    host: str = option("127.0.0.1", "address to listen on (0.0.0.0 for every interface)")
    port: int = option(8000, "port to listen on")
    api_key_file: str | None = option(
        None,
        "file of API keys, one a line: 'tenant: key', or a bare key (a tenant of its own); # comments. Keys also "
        "come from $FRAMECAST_API_KEYS (comma separated, same form). With any key, every route but /health and "
        "/ready needs 'Authorization: Bearer <key>', and a key sees only its tenant's jobs",
    )
    admin_key_file: str | None = option(
        None, "file of admin keys (same form; also $FRAMECAST_ADMIN_API_KEYS): they see and delete every tenant's jobs"
    )
    log_level: str = option("info", "log level: debug, info, warning or error")


@dataclass(frozen=True)
class FrontendSettings:
    # Where the workers are (the discovery flags, shared with the workers).
    namespace: str = "framecast"
    discovery: str = "etcd"
    etcd_endpoints: str = "http://127.0.0.1:2379"
    job_store: str = option(
        "sqlite",
        "where job records live: sqlite (one machine) or etcd (replicas anywhere; the discovery etcd)",
        choices=("sqlite", "etcd"),
    )
    job_db: str = option("framecast-jobs.sqlite3", "SQLite file of the sqlite job store")
    max_body_bytes: int = option(16 * 2**20, "largest request body")
    drain_timeout_s: float = option(60.0, "on SIGTERM, seconds running jobs get to finish", flag="--drain-timeout")
    jobs: JobSettings = field(default_factory=JobSettings)
    limits: RequestLimits = field(default_factory=RequestLimits)
    # Bearer keys every route but /health and /ready requires, each with its tenant; none: open.
    api_keys: dict[str, Caller] = field(default_factory=dict)
    urls: UrlPolicy = field(default_factory=UrlPolicy)
    inputs: InputSettings = field(default_factory=InputSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
