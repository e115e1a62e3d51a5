"""Which workers serve which model, from the Dynamo runtime's own discovery.

Every video worker of a namespace serves the same endpoint; the runtime keeps the live list
of its instances (an instance that unregisters or loses its lease disappears from it), and
each instance's model card says which model it serves. Nothing is configured per worker.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from dynamo.llm import FpmEventSubscriber
from dynamo.runtime import DistributedRuntime
from pydantic import ValidationError

from framecast.frontend.quarantine import Quarantine
from framecast.protocol import (
    MODEL_CARD_KEY,
    WORKER_CARD_KEY,
    ErrorCode,
    RequestFieldError,
    WorkerCard,
    generate_endpoint_path,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerInstance:
    instance_id: int
    model: str
    # What the worker published about itself.
    card: WorkerCard = field(default_factory=WorkerCard)

    @property
    def backend(self) -> str | None:
        return self.card.backend

    def offers(self, adapters: tuple[str, ...] | list[str]) -> bool:
        """Whether this worker was given every one of these adapters (it may not hold them loaded)."""
        offered = {adapter.name for adapter in self.card.adapters}
        return all(name in offered for name in adapters)


@dataclass
class ServedModel:
    name: str
    instances: list[WorkerInstance] = field(default_factory=list)


class NoWorkerError(Exception):
    """Nothing live can serve the request."""


class UnknownModelError(Exception):
    def __init__(self, model: str, served: list[str]):
        super().__init__(model)
        self.model = model
        self.served = served


def _parse_card(instance_id: int, card_json: str) -> WorkerInstance | None:
    try:
        card = json.loads(card_json)
    except ValueError:
        return None
    runtime_data = (card.get("runtime_config") or {}).get("runtime_data") or {}
    model = runtime_data.get(MODEL_CARD_KEY) or card.get("display_name")
    if not model:
        return None
    try:
        published = WorkerCard.model_validate((card.get("user_data") or {}).get(WORKER_CARD_KEY) or {})
    except ValidationError as error:  # still routable; /v1/models shows less of it
        log.warning("worker %x published a card this frontend cannot read (%s)", instance_id, error)
        published = WorkerCard()
    return WorkerInstance(instance_id, model, published)


class WorkerDirectory:
    """Live view of the video workers of one namespace, and requests to them."""

    def __init__(self, runtime: DistributedRuntime, namespace: str, adapter_board=None):
        """`adapter_board`: where workers publish the adapters they hold (frontend/loading.py)."""
        self._runtime = runtime
        self._adapter_board = adapter_board
        self._endpoint = runtime.endpoint(generate_endpoint_path(namespace))
        self._client = None
        self._cards: FpmEventSubscriber | None = None
        self._parsed: dict[tuple[int, str], WorkerInstance | None] = {}
        self._turns: dict[str, itertools.count] = {}
        # Models seen since start: a known model with no live worker is "unavailable" (503),
        # a never-seen one "not found" (404).
        self._known_models: set[str] = set()
        # Instances shown lost: out of every list here until a probe gets an answer from them.
        self.quarantine = Quarantine()
        self._prober: asyncio.Task | None = None
        # The LoRA adapters each worker holds loaded, and when that was said: in its latest
        # answer to this frontend, or in its notice (which all frontends read).
        self._adapters_loaded: dict[int, tuple[frozenset[str], float]] = {}
        self._adapter_reader: asyncio.Task | None = None

    async def start(self) -> None:
        self._client = await self._endpoint.client()
        # The runtime's public view of the model cards registered on one endpoint, kept
        # current by its discovery watch (the class also tracks forward-pass metrics).
        self._cards = FpmEventSubscriber(self._endpoint)
        self._cards.start_tracking()
        self._prober = asyncio.ensure_future(self._probe_lost_workers())
        if self._adapter_board is not None:
            self._adapter_reader = asyncio.ensure_future(self._read_adapter_notices())

    def close(self) -> None:
        for task in (self._prober, self._adapter_reader):
            if task is not None:
                task.cancel()
        if self._cards is not None:
            self._cards.shutdown()

    # -- lost workers --------------------------------------------------------------------------

    def mark_lost(self, instance_id: int, reason: str) -> None:
        self.quarantine.add(instance_id, reason)

    async def _probe_lost_workers(self, interval_s: float = 2.0, timeout_s: float = 3.0) -> None:
        """Lost instances still listed by discovery are asked, now and then, to check a request;
        one that answers is back. Those that left discovery are forgotten."""
        while True:
            await asyncio.sleep(interval_s)
            if not self.quarantine:
                continue
            self.quarantine.keep_only(set(self._client.instance_ids()))
            for instance_id in self.quarantine:
                try:
                    answer = await asyncio.wait_for(self._probe(instance_id), timeout=timeout_s)
                except Exception:  # still unreachable, or silent (stopped)
                    continue
                if answer:
                    self.quarantine.release(instance_id)

    async def _probe(self, instance_id: int) -> bool:
        """True when the worker answers and is not shutting down."""
        async for message in self.generate({"prompt": "liveness probe", "validate_only": True}, instance_id):
            detail = message.get("error_detail") or {}
            return detail.get("code") != "worker_draining"
        return False

    def models(self) -> dict[str, ServedModel]:
        """Snapshot: each served model with its live instances (listed, and not lost)."""
        live = set(self._client.instance_ids())
        cards = self._cards.get_model_cards()
        served: dict[str, ServedModel] = {}
        parsed: dict[tuple[int, str], WorkerInstance | None] = {}
        for key, card_json in cards.items():
            instance_id = int(key)
            if instance_id not in live or instance_id in self.quarantine:
                continue
            cache_key = (instance_id, card_json)
            instance = self._parsed.get(cache_key) or _parse_card(instance_id, card_json)
            parsed[cache_key] = instance
            if instance is not None:
                served.setdefault(instance.model, ServedModel(instance.model)).instances.append(instance)
        self._parsed = parsed
        for model in served.values():
            model.instances.sort(key=lambda instance: instance.instance_id)
        self._known_models.update(served)
        return served

    def route(self, model: str | None, adapters: tuple[str, ...] | list[str] = ()) -> tuple[str, WorkerInstance]:
        """Pick the next instance (round-robin) for a model, among those offering the adapters;
        None means "the only one served". RequestFieldError naming `lora` when none offers them."""
        target = self.served_model(model)
        offering = [instance for instance in target.instances if instance.offers(adapters)]
        if not offering:
            offered = sorted({adapter.name for instance in target.instances for adapter in instance.card.adapters})
            unknown = [name for name in adapters if name not in offered]
            raise RequestFieldError(
                "lora",
                f"{target.name} offers no adapter {', '.join(unknown) or ', '.join(adapters)}; "
                f"its adapters: {', '.join(offered) or 'none'}" + ("" if unknown else " (no one worker offers them all)"),
                code=ErrorCode.UNSUPPORTED_VALUE,
            )
        turn = next(self._turns.setdefault(target.name, itertools.count()))
        return target.name, offering[turn % len(offering)]

    # -- adapters -----------------------------------------------------------------------------

    def note_adapters(self, instance_id: int, loaded: list[str] | None, said_at: float | None = None) -> None:
        """What a worker said it holds loaded (None: it did not say); the later word wins."""
        if loaded is None:
            return
        said_at = time.time() if said_at is None else said_at
        if said_at >= self._adapters_loaded.get(instance_id, (frozenset(), 0.0))[1]:
            self._adapters_loaded[instance_id] = (frozenset(loaded), said_at)

    def adapters_loaded(self, instance_id: int) -> frozenset[str]:
        return self._adapters_loaded.get(instance_id, (frozenset(), 0.0))[0]

    async def _read_adapter_notices(self, interval_s: float = 1.0) -> None:
        """What workers published (each after a change), so a job goes where its adapter is even
        when another frontend sent the job that loaded it."""
        while True:
            for instance_id, (loaded, said_at) in (await self._adapter_board.loaded()).items():
                self.note_adapters(instance_id, sorted(loaded), said_at)
            await asyncio.sleep(interval_s)

    def served_model(self, model: str | None) -> ServedModel:
        """The model a request names (None: the only one served), with its live instances;
        NoWorkerError or UnknownModelError when it has none. Takes no routing turn."""
        served = self.models()
        if model is None:
            if len(served) == 1:
                model = next(iter(served))
            elif not served:
                raise NoWorkerError("no worker is serving any model")
            else:
                raise UnknownModelError("", sorted(served))
        target = served.get(model)
        if target is None or not target.instances:
            if model in self._known_models or not served:
                raise NoWorkerError(f"no live worker serves {model!r}")
            raise UnknownModelError(model, sorted(served))
        return target

    async def generate(self, request: dict[str, Any], instance_id: int, context: Any = None) -> AsyncIterator[dict[str, Any]]:
        """Send one request to one instance and yield its response messages."""
        stream = await self._client.direct(request, instance_id, context=context)
        async for item in stream:
            data = item.data() if hasattr(item, "data") else item
            if data is not None:
                yield data
