"""What a worker publishes about itself in its model card, and frontends read: its backend,
how well this machine can run the model, the hardware, the load policy, and the model's spec
(tasks, defaults, limits)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from framecast.protocol.adapters import AdapterCard

# Key under the card's user_data holding the WorkerCard.
WORKER_CARD_KEY = "framecast"


class Support(BaseModel):
    level: str = "not supported"  # ready | limited | not supported
    reason: str | None = None


class WorkerCard(BaseModel):
    # A newer worker may publish more; an older frontend shows what it knows.
    model_config = ConfigDict(extra="ignore")

    backend: str | None = None
    support: Support = Field(default_factory=Support)
    hardware: dict[str, Any] | None = None
    # What the worker does with requests: how many at once, in what order, and its settings.
    load_policy: dict[str, Any] | None = None
    # The model's registry entry.
    spec_id: str | None = None
    # Other names requests may give the model by: its hub id, the registry's id and aliases.
    aliases: list[str] = Field(default_factory=list)
    family: str | None = None
    tasks: list[str] = Field(default_factory=list)
    # It makes a sound track with its videos (a request may drop it with "audio": false).
    audio: bool = False
    dtype: str | None = None
    defaults: dict[str, Any] = Field(default_factory=dict)
    limits: dict[str, Any] = Field(default_factory=dict)
    # GiB per GPU by parallel degree (keys are strings: the card is JSON).
    gpu_memory_gb: dict[str, float] | None = None
    # The LoRA adapters requests may name, and the step cache and compilation it runs with.
    adapters: list[AdapterCard] = Field(default_factory=list)
    step_cache: dict[str, Any] | None = None
    compiled: bool = False
