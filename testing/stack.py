"""Real processes for the tests: etcd, framecast workers and frontends, and MP4 decoding."""

from __future__ import annotations

import io
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import Future
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import httpx
import numpy as np

# Process start-up on a loaded 2-core machine (torch import, model load) can take a while.
START_TIMEOUT_S = 180
# Worker flags for tests that compare the videos of separate requests frame for frame. x264 now
# and then encodes the same 64x64 frames to different bitstreams (never seen from 128x128 up), so
# lossy videos of equal frames can differ by a few levels; lossless ones decode to exactly the
# frames the model made.
LOSSLESS_VIDEO = ("--video-crf", "0")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_status_port() -> int:
    """A free port for DYN_SYSTEM_PORT, which the runtime reads as a signed 16-bit number."""
    for port in random.sample(range(20000, 32768), 200):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port below 32768")


def scrape_metrics(url: str, client: httpx.Client | None = None) -> dict[str, list[tuple[dict[str, str], float]]]:
    """{sample name: [(labels, value), ...]} of a Prometheus text page."""
    from prometheus_client.parser import text_string_to_metric_families

    response = (client or httpx).get(url, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def metric_values(samples: dict, name: str, **labels: str) -> list[float]:
    """The values of the samples of `name` whose labels include `labels`."""
    return [value for sample_labels, value in samples.get(name, []) if labels.items() <= sample_labels.items()]


class ManagedProcess:
    """A child process with its output in a log file, stopped at teardown."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_for_log(self, pattern: str, timeout: float = START_TIMEOUT_S) -> re.Match:
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while time.monotonic() < deadline:
            match = regex.search(self.log_text())
            if match:
                return match
            if not self.alive():
                raise AssertionError(f"{self.name} exited ({self.process.returncode}) before logging {pattern!r}:\n{self.tail()}")
            time.sleep(0.05)
        raise AssertionError(f"{self.name} did not log {pattern!r} within {timeout}s:\n{self.tail()}")

    def signal(self, signum: int) -> None:
        if self.alive():
            self.process.send_signal(signum)

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        self.signal(signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = 30) -> int:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()
        return self.process.returncode

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


_PORT_TRIES = 5


class PortTaken(RuntimeError):
    """A port the process was to listen on was taken first."""


class EtcdServer:
    """A throwaway single-node etcd on loopback; it can be stopped and started again on the
    same ports and data."""

    def __init__(self, data_dir: Path, log_dir: Path):
        self.binary = shutil.which("etcd")
        if self.binary is None:
            raise RuntimeError("etcd is not installed; the test set-up installs it (apt-get install etcd-server)")
        self.data_dir, self.log_dir = data_dir, log_dir
        self.starts = 0
        # A free port may be taken by another process between our look and etcd's bind (tests
        # run side by side): then etcd tries again on others.
        for _ in range(_PORT_TRIES):
            self.client_port, self.peer_port = free_port(), free_port()
            self.url = f"http://127.0.0.1:{self.client_port}"
            try:
                self.start()
                return
            except PortTaken:
                # Nothing of this try's is worth keeping: the next starts afresh.
                shutil.rmtree(self.data_dir, ignore_errors=True)
        raise RuntimeError(f"etcd found no free port in {_PORT_TRIES} tries")

    def start(self) -> None:
        peer_url = f"http://127.0.0.1:{self.peer_port}"
        argv = [
            self.binary, "--name", "test", "--data-dir", str(self.data_dir),
            "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
            "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", f"test={peer_url}",
            "--heartbeat-interval", "10", "--election-timeout", "50",
            "--auto-compaction-retention", "1", "--log-level", "error",
        ]  # fmt: skip
        self.starts += 1
        self.process = ManagedProcess(f"etcd-{self.starts}", argv, dict(os.environ), self.log_dir)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.process.alive():
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.process.stop()
        if "address already in use" in self.process.log_text():
            raise PortTaken(self.process.tail())
        raise RuntimeError(f"etcd did not become healthy:\n{self.process.tail()}")

    def stop(self) -> None:
        self.process.stop()

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would; start() brings it back on the same data."""
        self.process.kill()
        self.process.stop()


@dataclass
class Discovery:
    """How the processes of one test stack find each other."""

    backend: str  # etcd | file
    env: dict[str, str]


def stack_env(backend: str, etcd_url: str | None, file_dir: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            # Keep every plane on loopback.
            "DYN_TCP_RPC_HOST": "127.0.0.1",
            "DYN_TCP_RESPONSE_STREAM_HOST": "127.0.0.1",
            "DYN_EVENT_PLANE_HOST": "127.0.0.1",
            "DYN_DISCOVERY_BACKEND": backend,
            "PYTHONUNBUFFERED": "1",
            # Two workers share two cores in CI.
            "OMP_NUM_THREADS": "1",
        }
    )
    if etcd_url:
        env["ETCD_ENDPOINTS"] = etcd_url
    if file_dir:
        env["DYN_FILE_KV"] = str(file_dir)
    return env


def start_worker(
    discovery: Discovery, model_path: Path, namespace: str, fs_url: str, log_dir: Path, name: str, *extra: str
) -> ManagedProcess:
    argv = [
        sys.executable, "-m", "framecast.components.worker",
        "--model-path", str(model_path), "--backend", "diffusers", "--fs-url", fs_url,
        "--namespace", namespace, "--discovery", discovery.backend, *extra,
    ]  # fmt: skip
    return ManagedProcess(name, argv, discovery.env, log_dir)


def start_frontend(
    discovery: Discovery, namespace: str, log_dir: Path, name: str, *extra: str, port: int | None = None
) -> tuple[ManagedProcess, str]:
    port = port or free_port()
    argv = [
        sys.executable, "-m", "framecast.frontend", "--host", "127.0.0.1", "--port", str(port),
        "--namespace", namespace, "--discovery", discovery.backend,
    ]  # fmt: skip
    if "--job-store" not in extra and "--job-db" not in extra:
        argv += ["--job-db", str(log_dir / f"{name}-jobs.sqlite3")]
    argv += extra
    process = ManagedProcess(name, argv, discovery.env, log_dir)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if not process.alive():
            raise AssertionError(f"{name} exited before serving:\n{process.tail()}")
        try:
            if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                return process, base_url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{name} did not serve /health:\n{process.tail()}")


def worker_instance(worker: ManagedProcess) -> str:
    """The Dynamo instance id (hex) a worker logged when it became ready."""
    return worker.wait_for_log(r"framecast worker ready: .* instance ([0-9a-f]+)").group(1)


def served_workers(base_url: str, headers: dict[str, str] | None = None) -> dict[str, int]:
    models = httpx.get(f"{base_url}/v1/models", headers=headers, timeout=10).json()["data"]
    return {model["id"]: model["workers"] for model in models}


def wait_for_workers(
    base_url: str, model: str, count: int, timeout: float = START_TIMEOUT_S, processes=(), headers: dict[str, str] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if served_workers(base_url, headers).get(model, 0) == count:
            return
        for process in processes:
            if not process.alive():
                raise AssertionError(f"{process.name} exited:\n{process.tail()}")
        time.sleep(0.1)
    raise AssertionError(f"{model} never had {count} workers; last seen {served_workers(base_url, headers)}")


def wait_done(base_url: str, video_id: str, timeout: float = 120, headers: dict[str, str] | None = None) -> dict:
    """Poll a job until it completes or fails; its final video object."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        video = httpx.get(f"{base_url}/v1/videos/{video_id}", headers=headers, timeout=10).json()
        if video["status"] in ("completed", "failed"):
            return video
        time.sleep(0.05)
    raise AssertionError(f"job {video_id} left hanging: still {video['status']} after {timeout}s")


@dataclass
class DecodedVideo:
    frames: np.ndarray  # (count, height, width, 3) uint8
    fps: Fraction
    codec: str
    pix_fmt: str
    # The sound track's length as the file declares it, and its loudest sample (None: no sound).
    audio_seconds: float | None = None
    audio_peak: float | None = None

    @property
    def seconds(self) -> float:
        return float(self.count / self.fps)

    @property
    def count(self) -> int:
        return self.frames.shape[0]

    @property
    def width(self) -> int:
        return self.frames.shape[2]

    @property
    def height(self) -> int:
        return self.frames.shape[1]


def decode_mp4(data: bytes) -> DecodedVideo:
    with av.open(io.BytesIO(data), format="mp4") as container:
        stream = container.streams.video[0]
        frames = np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(stream)])
        video = DecodedVideo(frames, stream.average_rate, stream.codec_context.name, stream.codec_context.pix_fmt)
    with av.open(io.BytesIO(data), format="mp4") as container:
        if container.streams.audio:
            sound = container.streams.audio[0]
            video.audio_seconds = float(sound.duration * sound.time_base)
            video.audio_peak = max(float(np.abs(frame.to_ndarray()).max()) for frame in container.decode(sound))
    return video


class StageHold:
    """The workers' `--hold-file`: a test puts a job in a stage and keeps it there, so what it
    does next (a kill, a cancel) never races the machine's speed."""

    def __init__(self, path: Path):
        self.path = path

    def args(self) -> tuple[str, str]:
        return ("--hold-file", str(self.path))

    def hold(self, *stages: str) -> None:
        self.path.write_text(" ".join(stages))

    def release(self) -> None:
        self.path.unlink(missing_ok=True)

    @staticmethod
    def wait_held(workers, video_id: str, stage: str, timeout: float = START_TIMEOUT_S):
        """The worker (of `workers`) whose log says it holds the job in the stage."""
        pattern = re.compile(rf"request {video_id} held at {stage}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for worker in workers:
                if pattern.search(worker.log_text()):
                    return worker
            time.sleep(0.02)
        raise AssertionError(f"no worker held {video_id} at {stage} within {timeout}s")


@dataclass
class HeldStack:
    """One worker with a stage hold and one frontend, over file discovery, on one machine."""

    discovery: Discovery
    hold: StageHold
    worker: ManagedProcess
    frontend: ManagedProcess
    base_url: str

    def stop(self) -> None:
        self.hold.release()
        self.frontend.stop()
        self.worker.stop()


def start_held_stack(
    model_path: Path, root: Path, namespace: str, *frontend_args: str, headers: dict[str, str] | None = None
) -> HeldStack:
    """Start it under `root` (logs, outputs, discovery files) and wait until the worker serves
    (`headers`: the API key, where frontend_args turn keys on)."""
    discovery = Discovery("file", stack_env("file", None, root / "kv"))
    hold = StageHold(root / "hold")
    worker = start_worker(discovery, model_path, namespace, (root / "out").as_uri(), root, "worker", *hold.args())
    frontend, base_url = start_frontend(discovery, namespace, root, "frontend", *frontend_args)
    stack = HeldStack(discovery, hold, worker, frontend, base_url)
    try:
        wait_for_workers(base_url, model_path.name, 1, processes=[worker, frontend], headers=headers)
    except BaseException:
        stack.stop()
        raise
    return stack


def start_keyed_held_stack(model_path: Path, root: Path, namespace: str, key: str) -> HeldStack:
    """start_held_stack with API keys on: one tenant, whose key is `key`."""
    (root / "api-keys").write_text(f"tenant: {key}\n")
    return start_held_stack(
        model_path, root, namespace, "--api-key-file", str(root / "api-keys"), headers={"authorization": f"Bearer {key}"}
    )


def generate_in_background(pool, base_url: str, model: str, prompt: str, steps: int = 6) -> Future:
    """A synchronous generation (its video inline) sent from `pool`, to be answered later."""
    body = {"model": model, "prompt": prompt, "num_inference_steps": steps, "response_format": "b64_json"}
    return pool.submit(httpx.post, f"{base_url}/v1/videos/generations", json=body, timeout=180)
