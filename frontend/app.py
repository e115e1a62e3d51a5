"""The frontend's HTTP application."""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass

from dynamo.runtime import DistributedRuntime
from fastapi import FastAPI, Request

from framecast.frontend.discovery import WorkerDirectory
from framecast.frontend.errors import install_error_handlers
from framecast.frontend.videos import router as videos_router

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrontendSettings:
    namespace: str = "framecast"
    discovery: str = "etcd"


def create_app(settings: FrontendSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        runtime = DistributedRuntime(asyncio.get_running_loop(), settings.discovery, "tcp")
        directory = WorkerDirectory(runtime, settings.namespace)
        await directory.start()
        app.state.directory = directory
        app.state.started = int(time.time())
        log.info("frontend watching namespace %s through %s discovery", settings.namespace, settings.discovery)
        try:
            yield
        finally:
            directory.close()
            runtime.shutdown()

    app = FastAPI(title="framecast", version="0.1.0", lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(videos_router)

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
        models = request.app.state.directory.models()
        return {
            "object": "list",
            "data": [
                {
                    "id": name,
                    "object": "model",
                    "created": request.app.state.started,
                    "owned_by": "framecast",
                    "task": "text-to-video",
                    "workers": len(model.instances),
                    "backends": sorted({instance.backend for instance in model.instances if instance.backend}),
                    "defaults": model.instances[0].defaults,
                    "limits": model.instances[0].limits,
                }
                for name, model in sorted(models.items())
            ],
        }

    return app
