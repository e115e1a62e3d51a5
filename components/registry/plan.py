"""Which spec a model path follows, how well this machine can run it (its support level), and
the backend and parallel degree to launch it with."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from framecast.components.hardware import HardwareProfile
from framecast.registry.models import REGISTRY
from framecast.registry.spec import (
    PARALLEL_BACKENDS,
    PARALLEL_DEGREES,
    SERVED_TASKS,
    SPEC_FILE,
    ModelSpec,
    Support,
)


class UnknownModelError(ValueError):
    pass


def _by_name() -> dict[str, ModelSpec]:
    return {name.lower(): spec for spec in REGISTRY for name in spec.names}


def lookup(name: str) -> ModelSpec | None:
    """The registry entry with this id or alias (case-insensitive), if any."""
    return _by_name().get(name.strip().rstrip("/").lower())


def spec_for_model(model_path: str, spec_id: str | None = None) -> ModelSpec:
    """The spec a model path follows: an explicit id, the path's name, the folder's spec
    file, or, for a local diffusers folder, the first entry with its pipeline class."""
    if spec_id is not None:
        spec = lookup(spec_id)
        if spec is None:
            raise UnknownModelError(f"--model-spec {spec_id!r} is not in the registry; known: {', '.join(known_ids())}")
        return dataclasses.replace(spec, matched_by="--model-spec")
    spec = lookup(model_path)
    if spec is not None:
        return spec
    folder = Path(model_path)
    if folder.is_dir():
        spec = lookup(folder.resolve().name)
        if spec is not None:
            return dataclasses.replace(spec, matched_by="folder name")
        spec_file = folder / SPEC_FILE
        if spec_file.is_file():
            named = json.loads(spec_file.read_text()).get("registry_id", "")
            spec = lookup(named)
            if spec is None:
                raise UnknownModelError(f"{spec_file} names {named!r}, which is not in the registry")
            return dataclasses.replace(spec, matched_by=SPEC_FILE)
        index_file = folder / "model_index.json"
        if index_file.is_file():
            pipeline_class = json.loads(index_file.read_text()).get("_class_name", "")
            for spec in REGISTRY:
                if spec.pipeline_class == pipeline_class and spec.footprint is not None:
                    return dataclasses.replace(
                        spec, id=folder.resolve().name, aliases=(), matched_by=f"model_index.json ({pipeline_class})"
                    )
            raise UnknownModelError(
                f"{folder}: pipeline {pipeline_class or '(none)'} is not one framecast serves; known pipelines: "
                + ", ".join(sorted({spec.pipeline_class for spec in REGISTRY}))
            )
    raise UnknownModelError(
        f"{model_path!r} is not in the registry and is not a local diffusers folder; known: {', '.join(known_ids())} "
        "(or pass --model-spec ID for a local copy of one of them)"
    )


def choose_backend(spec: ModelSpec, hardware: HardwareProfile) -> str:
    """sglang when it is installed, a GPU is present and it runs the model; else diffusers."""
    if "sglang" in spec.backends and hardware.backends.get("sglang") and hardware.gpus:
        return "sglang"
    return "diffusers" if "diffusers" in spec.backends else spec.backends[0]


def known_ids() -> list[str]:
    return [spec.id for spec in REGISTRY]


def launch_plan(spec: ModelSpec, hardware: HardwareProfile, backend: str = "auto", tp: int | None = None) -> dict:
    """Backend and parallel degree a launch script should start a worker with, and why."""
    chosen = choose_backend(spec, hardware) if backend == "auto" else backend
    notes = []
    if tp is None:
        tp = spec.serving_tp if chosen in PARALLEL_BACKENDS else 1
        if spec.serving_tp > 1 and chosen not in PARALLEL_BACKENDS:
            notes.append(f"the {chosen} backend has no tensor parallelism: TP 1 instead of {spec.serving_tp}")
    if chosen in PARALLEL_BACKENDS and tp > max(len(hardware.gpus), 1):
        notes.append(f"TP {tp} needs {tp} GPUs; {len(hardware.gpus)} found")
    judged = support(spec, hardware, chosen)
    return {"backend": chosen, "tp": tp, "support": judged.level, "reason": judged.reason, "notes": notes}


def support(spec: ModelSpec, hardware: HardwareProfile, backend: str | None = None) -> Support:
    """How well this machine can run the model: ready, limited (and why), or not supported."""
    if not set(spec.tasks) & set(SERVED_TASKS):
        return Support("not supported", f"framecast workers do not serve {'/'.join(spec.tasks)} yet")
    candidates = [name for name in spec.backends if hardware.backends.get(name)]
    if backend is not None:
        if backend not in spec.backends:
            return Support("not supported", f"the {backend} backend cannot run {spec.family} models")
        if backend not in candidates:
            return Support("not supported", f"the {backend} backend is not installed")
        candidates = [backend]
    if not candidates:
        return Support("not supported", f"install one of: {', '.join(spec.backends)}")
    if spec.footprint is None:
        return Support("ready", "small enough for any machine", 1)
    if not hardware.gpus:
        needed = spec.footprint.gpu_memory_gb(1)
        if hardware.memory_gb >= 2 * needed:
            return Support("limited", f"no GPU: runs on CPU, far too slowly to serve (needs ~{needed:g} GB RAM)", 1)
        return Support("not supported", f"no GPU, and {hardware.memory_gb:g} GB RAM < ~{2 * needed:g} GB for CPU use")
    per_gpu = hardware.gpu_memory_gb
    max_degree = len(hardware.gpus) if any(name in PARALLEL_BACKENDS for name in candidates) else 1
    for degree in PARALLEL_DEGREES:
        if degree <= max_degree and spec.footprint.gpu_memory_gb(degree) <= per_gpu:
            return Support("ready", f"fits {degree} GPU(s) of {per_gpu:g} GB", degree)
    for degree in PARALLEL_DEGREES:
        if degree <= max_degree and spec.footprint.gpu_memory_gb(degree, text_encoder_offloaded=True) <= per_gpu:
            return Support("limited", f"fits {degree} GPU(s) of {per_gpu:g} GB only with the text encoder offloaded to CPU", degree)
    smallest = spec.footprint.gpu_memory_gb(max_degree, text_encoder_offloaded=True)
    return Support(
        "not supported",
        f"needs ~{smallest:g} GB per GPU at parallel degree {max_degree}; the GPUs here have {per_gpu:g} GB "
        "(layerwise offload may still fit)",
    )
