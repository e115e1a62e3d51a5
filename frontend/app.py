"""The frontend's HTTP application."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from contextlib import asynccontextmanager
from pathlib import Path

from dynamo.runtime import DistributedRuntime
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_fastapi_instrumentator import Instrumentator

from framecast.frontend.catalog import catalog
from framecast.frontend.discovery import ModelEndpoints, ServedModel, WorkerDirectory
from framecast.frontend.errors import install_error_handlers
from framecast.frontend.images import router as images_router
from framecast.frontend.inputs import InputStore
from framecast.frontend.jobs.manager import JobManager
from framecast.frontend.loading import AdapterBoard, LoadingBoard
from framecast.frontend.jobs.store import JobStore
from framecast.frontend.metrics import FrontendMetrics
from framecast.frontend.security import ApiKeyMiddleware, BodySizeLimitMiddleware, tenant_webhook_secrets, tenant_weights
from framecast.frontend.serving import VideoService
from framecast.frontend.settings import FrontendSettings
from framecast.frontend.videos import router as videos_router
from framecast.frontend.webhooks import WebhookSender, WebhookTargets, webhook_fetcher

log = logging.getLogger(__name__)

PLAYGROUND = Path(__file__).parent / "playground"

def make_job_store(settings: FrontendSettings) -> JobStore:
    if settings.job_store == "etcd":
        from framecast.frontend.jobs.etcd_store import EtcdJobStore

        return EtcdJobStore(
            settings.etcd_endpoints, f"/framecast/{settings.namespace}", replica_ttl_s=int(settings.jobs.replica_timeout_s)
        )
    from framecast.frontend.jobs.sqlite_store import SqliteJobStore

    return SqliteJobStore(settings.job_db, replica_timeout_s=settings.jobs.replica_timeout_s)


_SUPPORT_ORDER = ("ready", "limited", "not supported")


def model_entry(name: str, model: ServedModel, created: int) -> dict:
    """A served model as /v1/models shows it: what it accepts, and who serves it."""
    card = model.instances[0].card
    levels = [instance.card.support.level for instance in model.instances]
    best = min(levels, key=lambda level: _SUPPORT_ORDER.index(level) if level in _SUPPORT_ORDER else len(_SUPPORT_ORDER))
    return {
        "id": name,
        "object": "model",
        "created": created,
        "owned_by": "framecast",
        **card.model_dump(include={"spec_id", "family", "tasks", "audio", "dtype", "defaults", "limits", "gpu_memory_gb"}),
        "support": best,
        "workers": len(model.instances),
        "backends": sorted({instance.backend for instance in model.instances if instance.backend}),
        # What the workers run with: the adapters requests may name (any worker's), the step cache
        # and compilation (the first worker's; workers of one model normally share their flags).
        "adapters": list({
            adapter.name: adapter.model_dump(exclude_none=True) for instance in model.instances for adapter in instance.card.adapters
        }.values()),
        "step_cache": card.step_cache,
        "compiled": card.compiled,
    }


def create_app(settings: FrontendSettings) -> FastAPI:
    metrics = FrontendMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        runtime = DistributedRuntime(asyncio.get_running_loop(), settings.discovery, "tcp")
        adapter_board = AdapterBoard(settings.discovery, settings.namespace, settings.etcd_endpoints, os.environ.get("DYN_FILE_KV"))
        endpoints = ModelEndpoints(settings.discovery, settings.namespace, settings.etcd_endpoints, os.environ.get("DYN_FILE_KV"))
        directory = WorkerDirectory(runtime, endpoints, adapter_board)
        await directory.start()
        store = make_job_store(settings)
        await store.start()
        jobs = JobManager(store, directory, settings.jobs, settings.limits, metrics, tenant_weights(settings.api_keys))
        metrics.watch(jobs.live_state)
        await jobs.start()
        secrets = tenant_webhook_secrets(settings.api_keys)
        hooks = webhook_fetcher(settings.webhooks, settings.inputs.fetch_policy())
        WebhookSender(store, jobs.replica_id, settings.webhooks, hooks, secrets, metrics).start(jobs.background)
        app.state.directory = directory
        app.state.loading = LoadingBoard(
            settings.discovery, settings.namespace, settings.etcd_endpoints, os.environ.get("DYN_FILE_KV")
        )
        app.state.jobs = jobs
        app.state.videos = VideoService(jobs, InputStore(settings.inputs), WebhookTargets(settings.webhooks, hooks, secrets))
        app.state.metrics = metrics
        app.state.url_policy = settings.urls
        app.state.started = int(time.time())
        log.info(
            "frontend watching namespace %s through %s discovery; jobs in %s",
            settings.namespace, settings.discovery, settings.job_store,
        )
        try:
            yield
            # Shutdown: uvicorn has stopped accepting and answered the requests in flight.
            await jobs.drain(settings.drain_timeout_s)
        finally:
            await jobs.close()
            await store.close()
            await app.state.loading.close()
            await adapter_board.close()
            await directory.close()
            runtime.shutdown()

    app = FastAPI(title="framecast", version="0.1.0", lifespan=lifespan)
    install_error_handlers(app)
    # The last added runs first: keys are checked before a body is read.
    app.add_middleware(BodySizeLimitMiddleware, limit=settings.max_body_bytes)
    app.add_middleware(ApiKeyMiddleware, keys=settings.api_keys)
    app.include_router(videos_router)
    app.include_router(images_router)
    # The playground: a page over the same API, its files shipped in the package.
    app.mount("/playground", StaticFiles(directory=PLAYGROUND), name="playground")

    @app.get("/", include_in_schema=False)
    async def playground() -> FileResponse:
        return FileResponse(PLAYGROUND / "index.html")
    # Requests by route template, method and status (401s and 413s included: it runs first).
    Instrumentator(
        should_group_status_codes=False,
        excluded_handlers=["/metrics"],
        registry=metrics.registry,
    ).instrument(app, metric_namespace="framecast").expose(app, include_in_schema=False)

    @app.get("/ready")
    async def ready(request: Request) -> JSONResponse:
        """Ready to take requests: the job store answers (workers may come and go)."""
        try:
            await request.app.state.jobs.store.live_replicas()
        except Exception as error:
            return JSONResponse({"status": "not ready", "reason": f"job store unreachable: {error}"}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/health")
    async def health(request: Request) -> dict:
        models = request.app.state.directory.models()
        return {
            "status": "ok",
            "models": len(models),
            "workers": sum(len(model.instances) for model in models.values()),
        }

    @app.get("/v1/models")
    async def list_models(request: Request) -> dict:
        return {
            "object": "list",
            "data": [
                model_entry(name, model, request.app.state.started)
                for name, model in sorted(request.app.state.directory.models().items())
            ],
        }

    @app.get("/v1/catalog")
    async def model_catalog(request: Request) -> dict:
        """Every model of the registry, and whether this namespace serves it now."""
        return catalog(request.app.state.directory.models(), await request.app.state.loading.notices())

    @app.get("/v1/runtime")
    async def runtime_profile(request: Request) -> dict:
        """Each live worker: its model, backend, hardware, effective load policy and the adapters
        it holds loaded (as this frontend knows); each worker out of routing because its canary
        fails, with the failure; and each worker still loading its model."""
        directory = request.app.state.directory
        models = directory.models()
        serving = [
            {
                "instance": f"{instance.instance_id:x}",
                "status": "serving",
                "model": name,
                "backend": instance.backend,
                **instance.card.model_dump(include={"support", "hardware", "load_policy"}),
                "adapters_loaded": sorted(directory.adapters_loaded(instance.instance_id)),
            }
            for name, model in sorted(models.items())
            for instance in model.instances
        ]
        failing = [
            {
                "instance": f"{instance.instance_id:x}",
                "status": "failing canary",
                "model": instance.model,
                "backend": instance.backend,
                "canary_error": error,
                **instance.card.model_dump(include={"support", "hardware", "load_policy"}),
            }
            for instance, error in directory.failing_canary()
        ]
        loading = [
            {
                "instance": None,
                "status": "loading",
                **notice.model_dump(include={"model", "backend", "stage", "percent", "started_at", "host", "pid"}),
            }
            for notice in await request.app.state.loading.notices()
        ]
        return {"object": "list", "data": serving + failing + loading}

    return app
