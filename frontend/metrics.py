"""The frontend's Prometheus metrics (`GET /metrics`): HTTP requests by route and status (through
prometheus-fastapi-instrumentator), queues, admission, live workers, time per job stage, and bytes
served. Each app builds its own registry: nothing here is module state."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# Queue waits and stages, from milliseconds (serving overhead) to a long 720p video.
STAGE_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class LiveStateCollector(Collector):
    """Read at scrape time: queue depth, running jobs and live workers of every model."""

    def __init__(self, read: Callable[[], dict[str, tuple[int, int, int]]]):
        self.read = read  # model -> (queued, running, live workers)

    def collect(self) -> Iterator[Metric]:
        queued = GaugeMetricFamily("framecast_queue_depth", "Jobs waiting for a worker, per model", labels=["model"])
        running = GaugeMetricFamily("framecast_jobs_running", "Jobs dispatched to a worker, per model", labels=["model"])
        workers = GaugeMetricFamily("framecast_live_workers", "Workers registered and serving, per model", labels=["model"])
        for model, (waiting, active, live) in sorted(self.read().items()):
            queued.add_metric([model], waiting)
            running.add_metric([model], active)
            workers.add_metric([model], live)
        yield from (queued, running, workers)


class FrontendMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.jobs_admitted = Counter(
            "framecast_jobs_admitted", "Jobs accepted into a model's queue", ["model", "kind"], registry=self.registry
        )
        self.jobs_rejected = Counter(
            "framecast_jobs_rejected",
            "Jobs refused at admission (queue_full: 429 with Retry-After; key_limit: the API key holds too many)",
            ["model", "reason"],
            registry=self.registry,
        )
        self.jobs_finished = Counter(
            "framecast_jobs_finished", "Jobs that ended, by status and error code", ["model", "status", "code"],
            registry=self.registry,
        )  # fmt: skip
        self.stage_seconds = Histogram(
            "framecast_job_stage_seconds",
            "Time jobs spent in each stage: queue_wait on the frontend; text_encoding, denoising, decoding, "
            "encoding (MP4), storing as their worker measured them",
            ["model", "stage"],
            buckets=STAGE_BUCKETS,
            registry=self.registry,
        )
        # Per tenant (of the key file: a bounded set; "none" with keys off): what fair share evens out.
        self.tenant_queue_wait = Histogram(
            "framecast_tenant_queue_wait_seconds", "Time jobs waited in their model's queue on this replica, by tenant",
            ["model", "tenant"], buckets=STAGE_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.job_seconds = Histogram(
            "framecast_job_seconds", "Job time from creation to its end", ["model", "status"], buckets=STAGE_BUCKETS,
            registry=self.registry,
        )  # fmt: skip
        self.served_bytes = Counter(
            "framecast_served_bytes", "Bytes of outputs sent to clients (/content, inline base64)", ["route"],
            registry=self.registry,
        )  # fmt: skip
        self.adapter_dispatches = Counter(
            "framecast_lora_dispatches",
            "Jobs naming LoRA adapters sent to a worker: warm (it held them loaded) or cold (it loads them)",
            ["model", "adapters"],
            registry=self.registry,
        )
        self.webhook_deliveries = Counter(
            "framecast_webhook_deliveries",
            "Webhook attempts by event and outcome: delivered; retrying (failed, tried again later); given_up (failed "
            "its last attempt); refused (an answer or a guard refusal that no retry changes)",
            ["event", "outcome"],
            registry=self.registry,
        )
        ProcessCollector(registry=self.registry)

    def watch(self, read: Callable[[], dict[str, tuple[int, int, int]]]) -> None:
        self.registry.register(LiveStateCollector(read))

    def observe_stages(self, model: str, timings: dict[str, float]) -> None:
        for stage, seconds in timings.items():
            self.stage_seconds.labels(model, stage).observe(seconds)
