"""API keys and request-size limits, as ASGI middleware (so they also cover streamed bodies
and every route, including the ones FastAPI generates)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterable
from pathlib import Path

from framecast.frontend.errors import BodyTooLarge
from framecast.protocol import ErrorBody, ErrorResponse

# Routes open without a key: load balancers and Kubernetes probes call them (they tell
# nothing but "up" and "ready").
OPEN_PATHS = frozenset({"/health", "/ready"})


def load_api_keys(key_file: str | None, env_var: str = "FRAMECAST_API_KEYS") -> tuple[str, ...]:
    """Keys from a file (one per line, # comments) and from a comma-separated variable."""
    keys: list[str] = []
    if key_file:
        for line in Path(key_file).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                keys.append(line)
    keys += [key.strip() for key in os.environ.get(env_var, "").split(",") if key.strip()]
    return tuple(dict.fromkeys(keys))


def key_id(key: str) -> str:
    """A name for a key that is safe to store and log."""
    return "key_" + hashlib.sha256(key.encode()).hexdigest()[:12]


async def _send_error(send, status: int, body: ErrorBody, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    payload = json.dumps(ErrorResponse(error=body).model_dump()).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class ApiKeyMiddleware:
    """`Authorization: Bearer <key>` on every route but /health when keys are configured."""

    def __init__(self, app, keys: tuple[str, ...]):
        self.app = app
        self.keys = tuple(key.encode() for key in keys)

    def _matches(self, presented: bytes) -> bool:
        # Compare with every key, each in constant time, so timing tells nothing of which.
        return any([hmac.compare_digest(presented, key) for key in self.keys])

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not self.keys or scope["path"] in OPEN_PATHS:
            return await self.app(scope, receive, send)
        header = dict(scope.get("headers") or ()).get(b"authorization", b"")
        scheme, _, presented = header.partition(b" ")
        if scheme.lower() != b"bearer" or not presented or not self._matches(presented.strip()):
            message = "missing API key: send Authorization: Bearer <key>" if not header else "invalid API key"
            body = ErrorBody(message=message, type="invalid_request_error", code="invalid_api_key")
            return await _send_error(send, 401, body, [(b"www-authenticate", b"Bearer")])
        scope.setdefault("state", {})["api_key_id"] = key_id(presented.strip().decode(errors="replace"))
        return await self.app(scope, receive, send)


class BodySizeLimitMiddleware:
    """413 for a request body over `limit` bytes, declared or streamed."""

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        body = ErrorBody(
            message=f"request body is larger than {self.limit} bytes", type="invalid_request_error", code="body_too_large"
        )
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await _send_error(send, 413, body)
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
                await _send_error(send, 413, body)
