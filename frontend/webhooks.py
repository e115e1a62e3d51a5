"""Webhooks: a job's events posted to the endpoint its request (or its tenant's key entry)
names, signed as the Standard Webhooks spec says (`webhook-id`, `webhook-timestamp`,
`webhook-signature`; any of its libraries verifies them).

At request time the endpoint is checked through the same guard as input image URLs (https, or
http to an address `--fetch-allow` names). The delivery itself is written to the job store with
the job change it tells of (deliveries.py); every replica then sends the deliveries it owns, and
takes over those of a replica that stopped. Each attempt goes through the guard again, follows
no redirect and has a deadline; a 5xx, a 408 or 429, a timeout or a connection that fails is
tried again after the next of the retry delays, anything else is final. Attempts run apart
from jobs, and a tenant holds at most a few at once, so a slow endpoint delays nobody else.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import httpx
from standardwebhooks import Webhook

from framecast.frontend.fetching import FetchPolicy, FetchRefused, SafeFetcher
from framecast.frontend.jobs.deliveries import WebhookDelivery
from framecast.frontend.jobs.store import JobStore
from framecast.frontend.jobs.tasks import BackgroundTasks
from framecast.frontend.metrics import FrontendMetrics
from framecast.frontend.security import Caller, check_webhook_secret, tenant_webhook_secrets
from framecast.protocol import DEFAULT_WEBHOOK_EVENTS, ErrorCode, RequestFieldError, WebhookFields, WebhookTarget
from framecast.protocol.options import option

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebhookSettings:
    webhook_secret: str | None = option(
        None,
        "secret that signs webhooks (whsec_ then base64, as Standard Webhooks has it) for tenants whose key entry "
        "gives no webhook_secret=; without either, requests naming a webhook are refused",
    )
    webhook_retry_delays: str = option(
        "5,30,120,300,900,2400",
        "seconds between the attempts of one webhook delivery, comma separated (one attempt more than delays); "
        "the default tries 7 times over about an hour",
    )
    webhook_timeout_s: float = option(10.0, "seconds one webhook attempt may take", flag="--webhook-timeout")
    # How often each replica looks for deliveries that are due.
    poll_interval_s: float = 0.5
    # Attempts one tenant may have under way at once (on this replica).
    attempts_per_tenant: int = 8

    def delays(self) -> tuple[float, ...]:
        try:
            delays = tuple(float(part) for part in self.webhook_retry_delays.split(",") if part.strip())
        except ValueError:
            delays = (-1.0,)
        if any(delay < 0 for delay in delays):
            raise ValueError(f"--webhook-retry-delays {self.webhook_retry_delays!r}: give seconds, comma separated")
        return delays

    def checked(self, callers: dict[str, Caller]) -> WebhookSettings:
        """Raises ValueError for a malformed flag, or a tenant default endpoint nothing signs
        (read at start, not at the first event)."""
        self.delays()
        if self.webhook_secret is not None:
            check_webhook_secret(self.webhook_secret, "--webhook-secret")
        secrets = tenant_webhook_secrets(callers)
        for caller in callers.values():
            if caller.webhook and caller.tenant not in secrets and self.webhook_secret is None:
                raise ValueError(f"tenant {caller.tenant!r} has a webhook= but no webhook_secret=, and --webhook-secret is not set")
        return self


def webhook_fetcher(settings: WebhookSettings, allowed_fetches: FetchPolicy) -> SafeFetcher:
    """The guard webhooks go through: the input fetch allow-list, the webhook timeout, no redirect."""
    return SafeFetcher(FetchPolicy(allowed=allowed_fetches.allowed, timeout_s=settings.webhook_timeout_s, max_redirects=0))


class WebhookTargets:
    """Where a new job's events go: the request's webhook, else its tenant's default."""

    def __init__(self, settings: WebhookSettings, fetcher: SafeFetcher, secrets: dict[str, str]):
        self.settings = settings
        self.fetcher = fetcher
        self.secrets = secrets

    async def target(self, body: WebhookFields, caller: Caller | None) -> WebhookTarget | None:
        url = body.webhook or (caller.webhook if caller else None)
        if url is None:
            if body.webhook_events:
                raise RequestFieldError(
                    "webhook_events", "webhook_events names events of a webhook, and the request names none (webhook)",
                    code=ErrorCode.MISSING_FIELD,
                )  # fmt: skip
            return None
        param = "webhook" if body.webhook else "api key's webhook"
        if (caller is None or caller.tenant not in self.secrets) and self.settings.webhook_secret is None:
            raise RequestFieldError(
                "webhook", "this server has no secret to sign webhooks with for your tenant; its operator sets "
                "--webhook-secret or webhook_secret= in the key file", code=ErrorCode.UNSUPPORTED_VALUE,
            )  # fmt: skip
        try:
            checked = await self.fetcher.check(url)
        except FetchRefused as error:
            raise RequestFieldError("webhook", f"{param}: {error}", code=ErrorCode.INVALID_VALUE) from None
        if checked.scheme == "http" and not self.fetcher.policy.listed(checked.address):
            raise RequestFieldError(
                "webhook", f"{param}: webhooks go over https (plain http only to an address this server's "
                "--fetch-allow names)", code=ErrorCode.INVALID_VALUE,
            )  # fmt: skip
        events = body.webhook_events or (caller.webhook_events if caller and not body.webhook else None)
        return WebhookTarget(url=url, events=list(events or DEFAULT_WEBHOOK_EVENTS))


class WebhookSender:
    """Sends the deliveries this replica owns, and those of replicas that stopped."""

    def __init__(
        self, store: JobStore, replica_id: str, settings: WebhookSettings, fetcher: SafeFetcher, secrets: dict[str, str],
        metrics: FrontendMetrics,
    ):  # fmt: skip
        self.store = store
        self.replica_id = replica_id
        self.settings = settings
        self.delays = settings.delays()
        self.fetcher = fetcher
        self.signers = {tenant: Webhook(secret) for tenant, secret in secrets.items()}
        self.default_signer = Webhook(settings.webhook_secret) if settings.webhook_secret else None
        self.metrics = metrics
        self._under_way: set[str] = set()
        self._tenant_attempts: collections.Counter[str | None] = collections.Counter()
        self._tasks: BackgroundTasks | None = None

    def start(self, tasks: BackgroundTasks) -> None:
        self._tasks = tasks
        tasks.spawn(self._loop(), "webhooks")

    async def _loop(self) -> None:
        while True:
            try:
                await self.send_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # the store unreachable for a round: the deliveries wait in it
                log.exception("webhook round failed; trying again")
            await asyncio.sleep(self.settings.poll_interval_s)

    async def send_due(self) -> None:
        """Start an attempt of every delivery that is due and this replica's to send."""
        now = time.time()
        due = [d for d in await self.store.deliveries() if d.next_attempt_at <= now and d.id not in self._under_way]
        live: set[str] | None = None
        for delivery in due:
            if self._tenant_attempts[delivery.tenant] >= self.settings.attempts_per_tenant:
                continue
            if delivery.owner != self.replica_id:
                live = live if live is not None else await self.store.live_replicas() | {self.replica_id}
                if delivery.owner in live:
                    continue
                previous, delivery = delivery.owner, delivery.model_copy(update={"owner": self.replica_id})
                if not await self.store.put_delivery(delivery, expect_owner=previous):
                    continue
                log.warning("took over webhook %s of job %s from stopped replica %s", delivery.id, delivery.job_id, previous)
            self._under_way.add(delivery.id)
            self._tenant_attempts[delivery.tenant] += 1
            self._tasks.spawn(self._attempt(delivery), f"webhook {delivery.id}")

    async def _attempt(self, delivery: WebhookDelivery) -> None:
        try:
            error, again = await self._post(delivery)
            await self._settle(delivery, error, again)
        except asyncio.CancelledError:
            raise
        except Exception:  # the store unreachable: the delivery stays, and is tried again
            log.exception("webhook %s: its attempt could not be recorded", delivery.id)
        finally:
            self._under_way.discard(delivery.id)
            self._tenant_attempts[delivery.tenant] -= 1

    async def _post(self, delivery: WebhookDelivery) -> tuple[str | None, bool]:
        """(None, _) when delivered; else why not, and whether it is worth another attempt."""
        signer = self.signers.get(delivery.tenant) if delivery.tenant else None
        signer = signer or self.default_signer
        if signer is None:
            return "no secret signs this tenant's webhooks any more", False
        sent_at = datetime.now(tz=timezone.utc)
        headers = {
            "content-type": "application/json",
            "user-agent": "framecast-webhooks",
            "webhook-id": delivery.id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": signer.sign(delivery.id, sent_at, delivery.body),
        }
        try:
            status = await self.fetcher.post(delivery.url, delivery.body.encode(), headers)
        except FetchRefused as error:
            return str(error), error.transient
        except (asyncio.TimeoutError, httpx.TimeoutException):
            return f"no answer within {self.settings.webhook_timeout_s:g}s", True
        except httpx.TransportError as error:
            return f"{type(error).__name__}: {error}".rstrip(": "), True
        if 200 <= status < 300:
            return None, False
        return f"the endpoint answered {status}", status >= 500 or status in (408, 429)

    async def _settle(self, delivery: WebhookDelivery, error: str | None, again: bool) -> None:
        attempts = delivery.attempts + 1
        if error is None:
            await self.store.delete_delivery(delivery.id)
            self.metrics.webhook_deliveries.labels(delivery.event, "delivered").inc()
            log.info("webhook %s (job %s) delivered at attempt %d", delivery.id, delivery.job_id, attempts)
            return
        if again and attempts <= len(self.delays):
            delay = self.delays[attempts - 1]
            later = delivery.model_copy(update={"attempts": attempts, "next_attempt_at": time.time() + delay, "last_error": error})
            await self.store.put_delivery(later, expect_owner=self.replica_id)
            self.metrics.webhook_deliveries.labels(delivery.event, "retrying").inc()
            log.info("webhook %s (job %s) attempt %d failed (%s); again in %gs", delivery.id, delivery.job_id, attempts, error, delay)
            return
        await self.store.delete_delivery(delivery.id)
        outcome = "given_up" if again else "refused"
        self.metrics.webhook_deliveries.labels(delivery.event, outcome).inc()
        log.warning("webhook %s (job %s) %s after %d attempt(s): %s", delivery.id, delivery.job_id, outcome.replace("_", " "), attempts, error)
