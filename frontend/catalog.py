"""`GET /v1/catalog`: every model of the registry, as a model registry's catalogue shows it
(ids, aliases, tasks, defaults, limits, estimated GPU memory per parallel degree), and whether
this namespace serves it now: its live workers and those still loading it. `/v1/models`
stays OpenAI's list of what is served."""

from __future__ import annotations

from framecast.frontend.discovery import ServedModel
from framecast.protocol.loading import LoadingNotice
from framecast.registry import REGISTRY, ModelSpec


def catalog_entry(spec: ModelSpec, served: dict[str, ServedModel], loading: list[LoadingNotice]) -> dict:
    card = spec.card()
    serving = sorted(name for name, model in served.items() if any(instance.card.spec_id == spec.id for instance in model.instances))
    # A loading worker names the model it will serve; it follows this entry when that name is one
    # of the entry's, or one a live worker of the entry serves under.
    names = set(spec.names) | set(serving)
    loading_here = [notice for notice in loading if notice.model in names]
    return {
        "id": spec.id,
        "object": "catalog.model",
        "aliases": list(spec.aliases),
        "family": spec.family,
        # A tiny random model: the family whose shape it has.
        "stands_for": spec.stands_for or None,
        "tasks": list(spec.tasks),
        "audio": spec.makes_audio,
        "pipeline": spec.pipeline_class,
        "backends": list(spec.backends),
        "dtype": spec.dtype,
        "serving_tp": spec.serving_tp,
        "defaults": card["defaults"],
        "limits": card["limits"],
        "gpu_memory_gb": card["gpu_memory_gb"],
        "recommended_cache": spec.recommended_cache.to_json() if spec.recommended_cache else None,
        "adapter_presets": [preset.name for preset in spec.adapter_presets],
        "source": spec.source,
        "served": bool(serving),
        "served_as": serving,
        "workers": sum(len(served[name].instances) for name in serving),
        "loading": len(loading_here),
    }


def catalog(served: dict[str, ServedModel], loading: list[LoadingNotice]) -> dict:
    return {"object": "list", "data": [catalog_entry(spec, served, loading) for spec in REGISTRY]}
