"""The worker's Prometheus metrics, served by the Dynamo runtime's status server (`/metrics` on
DYN_SYSTEM_PORT) next to the runtime's own: step time, time per stage, outcomes, GPU memory."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# From a fraction of a second (small models, synthetic) to a 14B step at 720p.
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)
STAGE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)


class GpuMemoryCollector(Collector):
    """Memory of the GPUs this process uses. Reads nothing (and starts no CUDA context) unless
    the backend already initialised CUDA here; sglang runs its model in another process, whose
    usage shows in `used` (the device's whole occupancy)."""

    def collect(self) -> Iterator[Metric]:
        torch = sys.modules.get("torch")
        if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
            return
        used = GaugeMetricFamily("framecast_worker_gpu_memory_used_bytes", "GPU memory in use on the device (all processes)", labels=["device"])
        allocated = GaugeMetricFamily("framecast_worker_gpu_memory_allocated_bytes", "GPU memory this worker's tensors hold", labels=["device"])
        peak = GaugeMetricFamily("framecast_worker_gpu_memory_peak_bytes", "Most GPU memory this worker's tensors have held", labels=["device"])
        for index in range(torch.cuda.device_count()):
            free, total = torch.cuda.mem_get_info(index)
            used.add_metric([str(index)], total - free)
            allocated.add_metric([str(index)], torch.cuda.memory_allocated(index))
            peak.add_metric([str(index)], torch.cuda.max_memory_allocated(index))
        yield from (used, allocated, peak)


class WorkerMetrics:
    def __init__(self, model: str):
        self.model = model
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "framecast_worker_requests", "Generation requests by outcome", ["model", "outcome"], registry=self.registry
        )
        self.step_seconds = Histogram(
            "framecast_worker_step_seconds", "Time of one denoising step", ["model"], buckets=STEP_BUCKETS, registry=self.registry
        )
        self.stage_seconds = Histogram(
            "framecast_worker_stage_seconds",
            "Time a request spent in each stage on the worker (text_encoding, denoising, decoding, encoding, storing, ...)",
            ["model", "stage"],
            buckets=STAGE_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "framecast_worker_requests_in_flight", "Requests in hand (generating, waiting to, or finishing)", ["model"],
            registry=self.registry,
        )  # fmt: skip
        self.adapter_loads = Counter(
            "framecast_worker_lora_loads", "LoRA adapters loaded into the model (a request found it not loaded)",
            ["model", "adapter"], registry=self.registry,
        )  # fmt: skip
        self.adapter_load_seconds = Histogram(
            "framecast_worker_lora_load_seconds", "Time to load one LoRA adapter", ["model"], buckets=STAGE_BUCKETS,
            registry=self.registry,
        )  # fmt: skip
        self.adapters_loaded = Gauge(
            "framecast_worker_lora_loaded", "LoRA adapters held loaded now", ["model"], registry=self.registry
        )
        self.block_evaluations = Counter(
            "framecast_worker_transformer_block_evaluations",
            "Transformer blocks run (a step cache runs fewer; where the backend can count them)",
            ["model"], registry=self.registry,
        )  # fmt: skip
        ProcessCollector(registry=self.registry)
        self.registry.register(GpuMemoryCollector())

    def count(self, outcome: str) -> None:
        self.requests.labels(self.model, outcome).inc()

    def observe_step(self, seconds: float) -> None:
        self.step_seconds.labels(self.model).observe(seconds)

    def observe_stages(self, timings: dict[str, float]) -> None:
        for stage, seconds in timings.items():
            self.stage_seconds.labels(self.model, stage).observe(seconds)

    def observe_adapter_load(self, adapter: str, seconds: float) -> None:
        self.adapter_loads.labels(self.model, adapter).inc()
        self.adapter_load_seconds.labels(self.model).observe(seconds)

    def track_adapters_loaded(self, read: Callable[[], int]) -> None:
        self.adapters_loaded.labels(self.model).set_function(read)

    def count_block_evaluations(self, count: int) -> None:
        if count:
            self.block_evaluations.labels(self.model).inc(count)

    def track_in_flight(self, read: Callable[[], int]) -> None:
        self.in_flight.labels(self.model).set_function(read)

    def exposition(self) -> str:
        return generate_latest(self.registry).decode()
