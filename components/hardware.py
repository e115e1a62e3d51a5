"""What this machine has to run models on, and which backends are installed."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Gpu:
    name: str
    memory_gb: float


@dataclass(frozen=True)
class HardwareProfile:
    cpu_count: int
    memory_gb: float
    gpus: tuple[Gpu, ...] = ()
    # Backend name -> installed and importable here.
    backends: dict[str, bool] = field(default_factory=dict)

    @property
    def gpu_memory_gb(self) -> float:
        """Memory of the smallest GPU (what a sharded model can count on per GPU)."""
        return min((gpu.memory_gb for gpu in self.gpus), default=0.0)

    def to_json(self) -> dict:
        data = asdict(self)
        data["gpus"] = [asdict(gpu) for gpu in self.gpus]
        return data

    @classmethod
    def from_json(cls, data: dict) -> HardwareProfile:
        return cls(
            cpu_count=data["cpu_count"],
            memory_gb=data["memory_gb"],
            gpus=tuple(Gpu(**gpu) for gpu in data.get("gpus", ())),
            backends=dict(data.get("backends", {})),
        )


def installed_backends() -> dict[str, bool]:
    """Backends whose packages are installed (found without importing them)."""
    return {
        "diffusers": importlib.util.find_spec("diffusers") is not None,
        "sglang": importlib.util.find_spec("sglang") is not None,
        "synthetic": True,
    }


def _physical_memory_gb() -> float:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return 0.0


def detect_hardware() -> HardwareProfile:
    """Probe this machine. Imports torch (only a worker calls this)."""
    import torch

    gpus = tuple(
        Gpu(torch.cuda.get_device_name(index), round(torch.cuda.get_device_properties(index).total_memory / 2**30, 1))
        for index in range(torch.cuda.device_count())
    )
    return HardwareProfile(
        cpu_count=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1),
        memory_gb=_physical_memory_gb(),
        gpus=gpus,
        backends=installed_backends(),
    )
