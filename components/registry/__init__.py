"""The model registry, as the worker uses it: what each supported model is, accepts and needs.

Data, not code paths: one `ModelSpec` per model (framecast.registry: models.py), holding its
ids, task kinds, the backends that can run it, request defaults, constraints, recommended dtype
and memory footprint (spec.py). plan.py only reads these records: finding the spec of a model path,
judging how well this machine can run a model (its support level), and a launch plan.

    python -m framecast.components.registry     # every model and its support level here
"""

from framecast.registry.models import REGISTRY
from framecast.components.registry.plan import (
    UnknownModelError,
    choose_backend,
    known_ids,
    launch_plan,
    lookup,
    spec_for_model,
    support,
)
from framecast.registry.spec import (
    CACHE_MODES,
    PARALLEL_BACKENDS,
    PARALLEL_DEGREES,
    SERVED_TASKS,
    SPEC_FILE,
    AdapterPreset,
    Defaults,
    Footprint,
    GenerationParams,
    Limits,
    ModelSpec,
    StepCache,
    Support,
    SupportLevel,
    Task,
)

__all__ = [
    "REGISTRY", "UnknownModelError", "choose_backend", "known_ids", "launch_plan", "lookup", "spec_for_model",
    "support", "PARALLEL_BACKENDS", "PARALLEL_DEGREES", "SERVED_TASKS", "SPEC_FILE", "Defaults", "Footprint",
    "GenerationParams", "Limits", "ModelSpec", "Support", "SupportLevel", "Task", "CACHE_MODES", "AdapterPreset",
    "StepCache",
]  # fmt: skip
