"""What the CPU benchmarks share: a stack of real processes (file discovery, one machine), a
closed-loop load generator, memory sampling, and the result table.

The process helpers are the test suite's (framecast.testing): the benchmarks start the same
workers and frontends the tests do.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from framecast.testing.stack import Discovery, ManagedProcess, free_port, metric_values, scrape_metrics, stack_env, start_frontend, start_worker, wait_done, wait_for_workers

ROOT = Path(__file__).resolve().parent.parent


SYNTHETIC = "synthetic"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@dataclass
class Row:
    """One line of the result table; `met` is None where the row has no target."""

    bench: str
    case: str
    median: str = ""
    p99: str = ""
    other: str = ""
    ratio: str = ""
    target: str = ""
    met: bool | None = None


def render(rows: list[Row], markdown: bool = False) -> str:
    header = ["", "case", "median", "p99", "other", "ratio", "target", "met"]
    lines = [
        [row.bench, row.case, row.median, row.p99, row.other, row.ratio, row.target,
         "" if row.met is None else ("yes" if row.met else "NO")]
        for row in rows
    ]  # fmt: skip
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |" for line in lines]
        return "\n".join(out)
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *lines, strict=True)]
    fmt = "  ".join(f"{{:<{width}}}" for width in widths)
    return "\n".join(fmt.format(*line) for line in [header, *lines])


@dataclass
class Stack:
    """Workers and frontends of one namespace, stopped together."""

    workdir: Path
    namespace: str
    processes: list[ManagedProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.discovery = Discovery("file", stack_env("file", None, self.workdir / "kv"))

    def worker(self, name: str, *flags: str, system_port: int | None = None) -> ManagedProcess:
        discovery = self.discovery
        if system_port is not None:
            env = dict(discovery.env, DYN_SYSTEM_PORT=str(system_port), DYN_SYSTEM_HOST="127.0.0.1")
            discovery = Discovery("file", env)
        # No canary: its generation would take the simulated GPU time (an hour for job_load's
        # workers) before the worker registers, and measurements count only requests.
        process = start_worker(
            discovery, Path(SYNTHETIC), self.namespace, (self.workdir / "out").as_uri(), self.workdir, name,
            "--backend", "synthetic", "--canary-interval", "0", *flags,
        )  # fmt: skip
        self.processes.append(process)
        return process

    def frontend(self, name: str, *flags: str) -> tuple[ManagedProcess, str]:
        process, base_url = start_frontend(self.discovery, self.namespace, self.workdir, name, *flags)
        self.processes.append(process)
        return process, base_url

    def dynamo_frontend(self, model: str) -> str:
        """NVIDIA Dynamo's own Rust HTTP frontend over the same workers."""
        port = free_port()
        argv = [
            sys.executable, "-m", "dynamo.frontend", "--http-host", "127.0.0.1", "--http-port", str(port),
            "--discovery-backend", "file", "--namespace", self.namespace,
        ]  # fmt: skip
        process = ManagedProcess("dynamo-frontend", argv, self.discovery.env, self.workdir)
        self.processes.append(process)
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                if any(entry["id"] == model for entry in httpx.get(f"{base_url}/v1/models").json()["data"]):
                    return base_url
            if not process.alive():
                raise RuntimeError(f"Dynamo's frontend exited:\n{process.tail()}")
            time.sleep(0.2)
        raise RuntimeError(f"Dynamo's frontend never listed {model}:\n{process.tail()}")

    def wait_for_workers(self, base_url: str, count: int, model: str = SYNTHETIC) -> None:
        wait_for_workers(base_url, model, count, processes=self.processes)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.kill()
        self.processes.clear()


@dataclass
class LoadResult:
    latencies: list[float]
    wall_s: float
    errors: int

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies) * 1000

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies, 0.99) * 1000

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.wall_s


async def closed_loop(call: Callable[[], Awaitable[bool]], concurrency: int, requests: int, warmup: int = 10) -> LoadResult:
    """`concurrency` clients, each sending its next request when the last one is answered."""
    for _ in range(warmup):
        await call()
    latencies: list[float] = []
    errors = 0
    remaining = requests

    async def client() -> None:
        nonlocal remaining, errors
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            ok = await call()
            latencies.append(time.perf_counter() - started)
            errors += not ok

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return LoadResult(latencies, time.perf_counter() - started, errors)


class PeakRss:
    """Samples a process's resident memory in a thread; `growth` is the peak over the start."""

    def __init__(self, pid: int, interval_s: float = 0.01):
        self.process = psutil.Process(pid)
        self.interval_s = interval_s
        self.baseline = self.process.memory_info().rss
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.interval_s)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def metric_sum(samples: dict, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels` (0 when there is none)."""
    return sum(metric_values(samples, name, **labels))


def wait_jobs(base_url: str, ids: list[str], timeout_s: float = 600) -> list[dict]:
    """Every job's final object, once each has ended."""
    return [wait_done(base_url, job_id, timeout_s) for job_id in ids]


def finished_jobs(base_url: str, client: httpx.Client | None = None) -> float:
    return metric_sum(scrape_metrics(f"{base_url}/metrics", client), "framecast_jobs_finished_total")


def wait_finished(base_url: str, total: float, timeout_s: float = 600) -> float:
    """Poll the frontend's metrics until `total` jobs have ended there; the time.monotonic() seen."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client() as client:  # one connection: a new client costs tens of milliseconds
        while finished_jobs(base_url, client) < total:
            if time.monotonic() > deadline:
                raise RuntimeError(f"fewer than {total:g} jobs ended within {timeout_s:.0f}s")
            time.sleep(0.01)
    return time.monotonic()

