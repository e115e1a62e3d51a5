"""API keys and request-size limits, as ASGI middleware (so they also cover streamed bodies
and every route, including the ones FastAPI generates)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path

from framecast.frontend.errors import ApiError, BodyTooLarge, api_error_response
from framecast.protocol import WEBHOOK_EVENTS, ErrorCode

# Routes open without a key: load balancers and Kubernetes probes call them (they tell
# nothing but "up" and "ready").
OPEN_PATHS = frozenset({"/health", "/ready", "/"})
# The playground's files: the page asks for a key itself, before it calls the API.
OPEN_PREFIXES = ("/playground/",)
# What a key entry may set after its key (`acme: key weight=2 webhook=https://...`).
KEY_SETTINGS = ("weight", "webhook", "webhook_events", "webhook_secret")


@dataclass(frozen=True)
class Caller:
    """Who an API key speaks for. A tenant sees only its own jobs; an admin key sees every job.
    `weight`: the tenant's share of each model's queue against other tenants' (default 1).
    `webhook`, `webhook_events`: where its jobs' events go when a request names no webhook;
    `webhook_secret`: what signs them (else the server's --webhook-secret)."""

    tenant: str
    admin: bool = False
    weight: float = 1.0
    webhook: str | None = None
    webhook_events: tuple[str, ...] | None = None
    webhook_secret: str | None = None

    def sees(self, job_tenant: str | None) -> bool:
        return self.admin or job_tenant == self.tenant


def key_id(key: str) -> str:
    """A name for a key that is safe to store and log."""
    return "key_" + hashlib.sha256(key.encode()).hexdigest()[:12]


def parse_key_entry(entry: str) -> tuple[str, str, dict[str, str]] | None:
    """(key, tenant, settings) of one entry: `tenant: key`, or a bare `key`, which is a tenant of
    its own (named by the key's hash), then optional `name=value` settings (KEY_SETTINGS). None
    for a blank entry. A key that holds ':' is written with its tenant in front."""
    words = entry.split()
    if not words:
        return None
    settings = dict(word.split("=", 1) for word in words[1:] if "=" in word)
    others = [word for word in words[1:] if "=" not in word]
    head = " ".join([words[0], *others])
    tenant, separator, key = head.partition(":")
    if separator and tenant.strip() and key.strip():
        return key.strip(), tenant.strip(), settings
    return head, key_id(head), settings


def _weight(value: str | None, key_entry: str) -> float:
    if value is None:
        return 1.0
    try:
        weight = float(value)
    except ValueError:
        weight = 0.0
    if not 0 < weight <= 1000:
        raise ValueError(f"API key entry {key_entry!r}: weight={value} must be a number above 0, at most 1000")
    return weight


def check_webhook_secret(secret: str, where: str) -> str:
    """A Standard Webhooks secret: whsec_ and base64 of at least 24 bytes."""
    body = secret.removeprefix("whsec_")
    try:
        key = base64.b64decode(body + "==", validate=False)
    except ValueError:
        key = b""
    if not secret.startswith("whsec_") or len(key) < 24:
        raise ValueError(f"{where}: a webhook secret is whsec_ then the base64 of 24 to 64 random bytes")
    return secret


def _webhook_events(value: str | None, where: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    events = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = set(events) - set(WEBHOOK_EVENTS)
    if not events or unknown:
        raise ValueError(f"{where}: webhook_events={value} must list some of {', '.join(WEBHOOK_EVENTS)}")
    return events


def _caller(tenant: str, admin: bool, settings: dict[str, str]) -> Caller:
    where = f"API key entry for tenant {tenant!r}"
    unknown = set(settings) - set(KEY_SETTINGS)
    if unknown:
        raise ValueError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}; known: {', '.join(KEY_SETTINGS)}")
    webhook = settings.get("webhook")
    if webhook is not None and not webhook.startswith(("https://", "http://")):
        raise ValueError(f"{where}: webhook={webhook} is not an http(s) URL")
    secret = settings.get("webhook_secret")
    return Caller(
        tenant, admin, _weight(settings.get("weight"), tenant), webhook,
        _webhook_events(settings.get("webhook_events"), where), secret and check_webhook_secret(secret, where),
    )  # fmt: skip


def caller_of(request) -> Caller | None:
    """The tenant a request's API key speaks for; None when API keys are off."""
    return getattr(request.state, "caller", None)


def load_api_keys(
    key_file: str | None = None,
    admin_key_file: str | None = None,
    env_var: str = "FRAMECAST_API_KEYS",
    admin_env_var: str = "FRAMECAST_ADMIN_API_KEYS",
) -> dict[str, Caller]:
    """key -> Caller, from files (one entry a line, # comments) and comma-separated variables.
    An admin key is also a tenant: the jobs it makes belong to that tenant."""
    callers: dict[str, Caller] = {}
    for path, variable, admin in ((key_file, env_var, False), (admin_key_file, admin_env_var, True)):
        entries = [line.split("#", 1)[0] for line in Path(path).read_text().splitlines()] if path else []
        entries += os.environ.get(variable, "").split(",")
        for entry in entries:
            parsed = parse_key_entry(entry)
            if parsed is not None:
                key, tenant, settings = parsed
                callers[key] = _caller(tenant, admin or callers.get(key, Caller(tenant)).admin, settings)
    return callers


def tenant_weights(callers: dict[str, Caller]) -> dict[str, float]:
    """Each tenant's queue weight: the largest any of its keys' entries gives."""
    weights: dict[str, float] = {}
    for caller in callers.values():
        weights[caller.tenant] = max(weights.get(caller.tenant, 0.0), caller.weight)
    return weights


def tenant_webhook_secrets(callers: dict[str, Caller]) -> dict[str, str]:
    """Each tenant's webhook secret, where its key entries give one (they must agree)."""
    secrets: dict[str, str] = {}
    for caller in callers.values():
        if caller.webhook_secret is None:
            continue
        if secrets.setdefault(caller.tenant, caller.webhook_secret) != caller.webhook_secret:
            raise ValueError(f"tenant {caller.tenant!r}: its API key entries give different webhook secrets")
    return secrets


async def _send_error(scope, receive, send, error: ApiError) -> None:
    """The error as the app's handlers answer it, sent from middleware (before the app)."""
    await api_error_response(error)(scope, receive, send)


class ApiKeyMiddleware:
    """`Authorization: Bearer <key>` on every route but /health when keys are configured; the
    request's `state.caller` says which tenant it speaks for (None: keys are off)."""

    def __init__(self, app, keys: dict[str, Caller]):
        self.app = app
        self.keys = [(key.encode(), caller) for key, caller in keys.items()]

    def _caller(self, presented: bytes) -> Caller | None:
        # Compare with every key, each in constant time, so timing tells nothing of which.
        matches = [caller for key, caller in self.keys if hmac.compare_digest(presented, key)]
        return matches[0] if matches else None

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if scope["type"] != "http" or not self.keys or path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            return await self.app(scope, receive, send)
        header = dict(scope.get("headers") or ()).get(b"authorization", b"")
        scheme, _, presented = header.partition(b" ")
        caller = self._caller(presented.strip()) if scheme.lower() == b"bearer" and presented else None
        if caller is None:
            message = "missing API key: send Authorization: Bearer <key>" if not header else "invalid API key"
            refused = ApiError(ErrorCode.INVALID_API_KEY, message, headers={"www-authenticate": "Bearer"})
            return await _send_error(scope, receive, send, refused)
        scope.setdefault("state", {})["caller"] = caller
        return await self.app(scope, receive, send)


class BodySizeLimitMiddleware:
    """413 for a request body over `limit` bytes, declared or streamed."""

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        too_large = ApiError(ErrorCode.BODY_TOO_LARGE, str(BodyTooLarge(self.limit)))
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await _send_error(scope, receive, send, too_large)
        received = 0
        started = False

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        async def tracking_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _send_error(scope, receive, send, too_large)
