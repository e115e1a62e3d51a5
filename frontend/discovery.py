"""Which workers serve which model, from the Dynamo runtime's own discovery.

Each served model has an endpoint of its own (protocol/routing.py). The runtime keeps a model
card for every instance of every endpoint in its discovery store; the frontend lists the
endpoints of its namespace that hold cards (ModelEndpoints), and for each one follows the
runtime's live view: its client's instances (an instance that unregisters or loses its lease
leaves it) and the cards of those instances, each naming the model it serves. Models and
workers come and go with no configuration anywhere.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from dynamo.llm import FpmEventSubscriber
from dynamo.runtime import DistributedRuntime
from pydantic import ValidationError

from framecast.frontend.quarantine import Quarantine
from framecast.protocol import (
    MODEL_CARD_KEY,
    MODEL_CARD_PREFIX,
    WORKER_CARD_KEY,
    ErrorCode,
    RequestFieldError,
    WorkerCard,
)
from framecast.protocol.routing import etcd_host_port

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


# The tasks behind each kind of route: a video route takes models that make videos, the image
# route those that make images (a Wan text-to-video model makes single frames too: its card
# lists t2i), the edit route those that edit images.
ROUTE_TASKS = {"video": ("t2v", "i2v", "ti2v"), "image": ("t2i",), "edit": ("i2i",)}


@dataclass
class ServedModel:
    name: str
    instances: list[WorkerInstance] = field(default_factory=list)

    @property
    def tasks(self) -> list[str]:
        return list(dict.fromkeys(task for instance in self.instances for task in instance.card.tasks))

    @property
    def aliases(self) -> set[str]:
        """Other names requests may use: the hub id and the registry's ids and aliases."""
        return {alias for instance in self.instances for alias in instance.card.aliases} - {self.name}

    def does(self, route: str) -> bool:
        """Whether it takes requests of a route kind ("video" or "image"); a card without tasks
        (an older worker) is taken at its word."""
        tasks = self.tasks
        return not tasks or bool(set(ROUTE_TASKS[route]) & set(tasks))


class NoWorkerError(Exception):
    """Nothing live can serve the request."""


class UnknownModelError(Exception):
    """A model no worker has served, or none named where several are served (`model` empty;
    `served` then lists those that take the `route`)."""

    def __init__(self, model: str, served: list[str], route: str | None = None):
        super().__init__(model)
        self.model = model
        self.served = served
        self.route = route


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


class ModelEndpoints:
    """The endpoints of one namespace that hold model cards, read from the runtime's discovery
    store: etcd keys, or the file backend's entries. Only where the cards are; which instances
    are live, and what their cards say, comes from the runtime itself (WorkerDirectory)."""

    # The discovery backends whose store a frontend can list (kubernetes keeps cards in custom
    # resources, mem in one process).
    BACKENDS = ("etcd", "file")

    def __init__(self, discovery: str, namespace: str, etcd_endpoints: str | None, file_kv_dir: str | None):
        if discovery not in self.BACKENDS:
            raise ValueError(f"--discovery {discovery}: the frontend finds the models of a namespace in {' or '.join(self.BACKENDS)}")
        self.discovery, self.namespace = discovery, namespace
        self.etcd_endpoints = etcd_endpoints or "http://127.0.0.1:2379"
        self.file_kv_dir = file_kv_dir
        self._etcd = None

    def _path(self, card_key: str) -> str | None:
        """The endpoint path (ns.component.endpoint) of a card key {namespace}/{component}/{endpoint}/{instance}."""
        parts = card_key.split("/")
        if len(parts) != 4 or parts[0] != self.namespace:
            return None
        return ".".join(parts[:3])

    async def paths(self) -> set[str]:
        if self.discovery == "etcd":
            keys = await self._etcd_keys()
        else:
            keys = await asyncio.to_thread(self._file_keys)
        return {path for key in keys if (path := self._path(key)) is not None}

    async def _etcd_keys(self) -> list[str]:
        import aetcd

        prefix = f"{MODEL_CARD_PREFIX}{self.namespace}/"
        try:
            if self._etcd is None:
                host, port = etcd_host_port(self.etcd_endpoints)
                self._etcd = aetcd.Client(host=host, port=port)
                await self._etcd.connect()
            items = await self._etcd.get_prefix(prefix.encode(), keys_only=True)
        except Exception:
            # A fresh connection next time (etcd may have restarted).
            await self.close()
            raise
        return [item.key.decode()[len(MODEL_CARD_PREFIX) :] for item in items]

    def _file_keys(self) -> list[str]:
        # Without DYN_FILE_KV the runtime keeps its entries under the temporary folder.
        root = self.file_kv_dir or os.environ.get("DYN_FILE_KV") or Path(tempfile.gettempdir()) / "dynamo_store_kv"
        folder = Path(root) / MODEL_CARD_PREFIX
        try:
            return [unquote(name) for name in os.listdir(folder)]
        except FileNotFoundError:  # no worker has registered yet
            return []

    async def close(self) -> None:
        client, self._etcd = self._etcd, None
        if client is not None:
            try:
                await client.close()
            except Exception as error:  # closing a broken connection
                log.debug("closing the etcd client: %s", error)


@dataclass
class _ModelEndpoint:
    """The runtime's live view of one model's endpoint: its instances and their cards."""

    client: Any
    # The runtime's public view of the model cards registered on one endpoint, kept current by
    # its discovery watch (the class also tracks forward-pass metrics).
    cards: FpmEventSubscriber


class WorkerDirectory:
    """Live view of the workers of one namespace, every model, and requests to them."""

    def __init__(self, runtime: DistributedRuntime, endpoints: ModelEndpoints, adapter_board=None, scan_interval_s: float = 0.5):
        """`adapter_board`: where workers publish the adapters they hold (frontend/loading.py)."""
        self._runtime = runtime
        self._endpoints = endpoints
        self._scan_interval_s = scan_interval_s
        self._adapter_board = adapter_board
        self._views: dict[str, _ModelEndpoint] = {}
        # Which endpoint's client reaches an instance (as of the latest models()).
        self._instance_views: dict[int, _ModelEndpoint] = {}
        self._scanner: asyncio.Task | None = None
        self._parsed: dict[tuple[int, str], WorkerInstance | None] = {}
        self._turns: dict[str, itertools.count] = {}
        # Names (served names and their aliases) seen since start, each with its model: a known
        # model with no live worker is "unavailable" (503), a never-seen one "not found" (404).
        self._known_names: dict[str, str] = {}
        # Instances shown lost: out of every list here until a probe gets an answer from them.
        self.quarantine = Quarantine()
        self._prober: asyncio.Task | None = None
        # The LoRA adapters each worker holds loaded, and when that was said: in its latest
        # answer to this frontend, or in its notice (which all frontends read).
        self._adapters_loaded: dict[int, tuple[frozenset[str], float]] = {}
        self._adapter_reader: asyncio.Task | None = None
        # Instances whose latest canary failed (its message), from their notices: out of routing;
        # and those of them live as of the latest models(), for /v1/runtime.
        self._canary_failures: dict[int, str] = {}
        self._failing: dict[int, tuple[WorkerInstance, str]] = {}

    async def start(self) -> None:
        try:
            await self._follow(await self._endpoints.paths())
        except Exception as error:  # the store may come up later; the scan keeps trying
            log.warning("could not list the model endpoints of the namespace yet: %s", error)
        self._scanner = asyncio.ensure_future(self._scan_endpoints())
        self._prober = asyncio.ensure_future(self._probe_lost_workers())
        if self._adapter_board is not None:
            self._adapter_reader = asyncio.ensure_future(self._read_adapter_notices())

    async def close(self) -> None:
        for task in (self._scanner, self._prober, self._adapter_reader):
            if task is not None:
                task.cancel()
        for view in self._views.values():
            view.cards.shutdown()
        await self._endpoints.close()

    # -- model endpoints ------------------------------------------------------------------------

    async def _follow(self, paths: set[str]) -> None:
        """Follow each endpoint not followed yet. One that is gone stays followed: its client
        lists no instance, and the model is back as soon as a worker registers again."""
        for path in sorted(paths - self._views.keys()):
            endpoint = self._runtime.endpoint(path)
            client = await endpoint.client()
            cards = FpmEventSubscriber(endpoint)
            cards.start_tracking()
            self._views[path] = _ModelEndpoint(client, cards)
            log.info("following model endpoint %s", path)

    async def _scan_endpoints(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(self._scan_interval_s)
            try:
                await self._follow(await self._endpoints.paths())
                failing = False
            except Exception as error:  # etcd restarting: the runtime's views stay current meanwhile
                if not failing:
                    log.warning("could not list the model endpoints of the namespace: %s", error)
                failing = True

    def _live_ids(self) -> set[int]:
        return {instance_id for view in self._views.values() for instance_id in view.client.instance_ids()}

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
            self.quarantine.keep_only(self._live_ids())
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
        """Snapshot: each served model with its live instances (listed, not lost, and not
        failing their canary)."""
        served: dict[str, ServedModel] = {}
        parsed: dict[tuple[int, str], WorkerInstance | None] = {}
        instance_views: dict[int, _ModelEndpoint] = {}
        failing: dict[int, tuple[WorkerInstance, str]] = {}
        for view in self._views.values():
            live = set(view.client.instance_ids())
            for key, card_json in view.cards.get_model_cards().items():
                instance_id = int(key)
                if instance_id not in live:
                    continue
                # Lost instances too: probes reach them.
                instance_views[instance_id] = view
                if instance_id in self.quarantine:
                    continue
                cache_key = (instance_id, card_json)
                instance = self._parsed.get(cache_key) or _parse_card(instance_id, card_json)
                parsed[cache_key] = instance
                if instance is None:
                    continue
                if instance_id in self._canary_failures:
                    failing[instance_id] = (instance, self._canary_failures[instance_id])
                    continue
                served.setdefault(instance.model, ServedModel(instance.model)).instances.append(instance)
        self._parsed = parsed
        self._instance_views = instance_views
        self._failing = failing
        for model in served.values():
            model.instances.sort(key=lambda instance: instance.instance_id)
            for name in (model.name, *model.aliases):
                self._known_names[name] = model.name
        return served

    def route(
        self, model: str | None, adapters: tuple[str, ...] | list[str] = (), route: str | None = None
    ) -> tuple[str, WorkerInstance]:
        """Pick the next instance (round-robin) for a model, among those offering the adapters;
        None means "the only one served"; `route` ("video", "image"): the kind of request, which
        the model must take. RequestFieldError naming `lora` when no worker offers the adapters."""
        target = self.served_model(model, route)
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
        when another frontend sent the job that loaded it, and none goes to a worker whose
        canary fails."""
        while True:
            try:
                notices = await self._adapter_board.by_instance()
            except Exception as error:  # the store may be down a while; routing goes on as it was
                log.warning("could not read the workers' notices: %s", error)
                notices = None
            if notices is not None:
                for instance_id, notice in notices.items():
                    self.note_adapters(instance_id, sorted(notice.loaded), notice.updated_at)
                self._canary_failures = {
                    instance_id: notice.canary_error for instance_id, notice in notices.items() if notice.canary_error
                }
            await asyncio.sleep(interval_s)

    def failing_canary(self) -> list[tuple[WorkerInstance, str]]:
        """Live workers out of routing because their latest canary failed, with its message."""
        return sorted(self._failing.values(), key=lambda failing: failing[0].instance_id)

    def served_model(self, model: str | None, route: str | None = None) -> ServedModel:
        """The model a request names, by its served name or an alias (None: the only one
        served), with its live instances; `route` ("video", "image"): the kind of request, which
        the model must take (a RequestFieldError naming `model` otherwise, listing those that do).
        NoWorkerError or UnknownModelError when none serves it. Takes no routing turn."""
        served = self.models()
        able = sorted(name for name, candidate in served.items() if route is None or candidate.does(route))
        if model is None:
            if len(served) == 1:
                target = next(iter(served.values()))
            elif not served:
                raise NoWorkerError("no worker is serving any model")
            else:
                raise UnknownModelError("", able, route)
        else:
            target = served.get(model) or self._by_alias(served, model)
        if target is None:
            if model in self._known_names or not served:
                raise NoWorkerError(f"no live worker serves {model!r}")
            raise UnknownModelError(model, sorted(served))
        if route is not None and not target.does(route):
            raise RequestFieldError(
                "model",
                f"{target.name} makes {'/'.join(target.tasks)}, no {route}s; models here that make {route}s: "
                f"{', '.join(able) or 'none'}",
                code=ErrorCode.UNSUPPORTED_VALUE,
            )
        return target

    @staticmethod
    def _by_alias(served: dict[str, ServedModel], name: str) -> ServedModel | None:
        matches = [model for model in served.values() if name in model.aliases]
        if len(matches) > 1:
            raise RequestFieldError(
                "model",
                f"{name!r} names several served models ({', '.join(sorted(m.name for m in matches))}); name one of them",
                code=ErrorCode.CONFLICTING_VALUE,
            )
        return matches[0] if matches else None

    async def generate(self, request: dict[str, Any], instance_id: int, context: Any = None) -> AsyncIterator[dict[str, Any]]:
        """Send one request to one instance and yield its response messages."""
        view = self._instance_views.get(instance_id)
        if view is None:
            raise NoWorkerError(f"instance {instance_id:x} is not listed by discovery")
        stream = await view.client.direct(request, instance_id, context=context)
        async for item in stream:
            data = item.data() if hasattr(item, "data") else item
            if data is not None:
                yield data
