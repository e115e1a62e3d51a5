"""Every way a worker can fail a job, fed to the job manager one by one: the job runs again on
another worker where the README says it does, and otherwise ends with a code from the README's
table and a message that says what happened.

The request plane is the boundary scripted here (`ScriptedWorkers` stands in for the runtime's
directory of workers); the job manager, its queue, its retries and its SQLite store are the real
ones. The same losses through real processes are in tests/faults/test_workers.py."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from framecast.frontend.discovery import NoWorkerError, ServedModel, WorkerInstance
from framecast.frontend.quarantine import Quarantine
from framecast.frontend.errors import STATUS_BY_CODE
from framecast.frontend.jobs.codes import JOB_ERROR_CODES
from framecast.frontend.jobs.manager import JobManager
from framecast.frontend.jobs.settings import JobSettings
from framecast.frontend.jobs.sqlite_store import SqliteJobStore
from framecast.protocol import ErrorCode, VideoCreateRequest

MODEL = "scripted-model"
README = Path(__file__).resolve().parent.parent / "README.md"


def progress(request: dict, stage: str = "denoising", value: int = 10) -> dict:
    return {"id": request["request_id"], "model": MODEL, "created": 1, "status": "in_progress", "progress": value, "stage": stage}


def completed(request: dict, url: str | None = "file:///tmp/out.mp4") -> dict:
    data = [{"url": url, "fps": 8}] if url else []
    return {"id": request["request_id"], "model": MODEL, "created": 1, "status": "completed", "data": data}


def failed(request: dict, error: str, code: str | None = None, param: str | None = None) -> dict:
    detail = {"message": error, "type": "server_error", "code": code, "param": param} if code or param else None
    return {"id": request["request_id"], "model": MODEL, "created": 1, "status": "failed", "progress": 0,
            "error": error, "error_detail": detail}  # fmt: skip


Behaviour = Callable[[dict], AsyncIterator[dict]]


async def completes(request: dict) -> AsyncIterator[dict]:
    yield progress(request)
    yield completed(request)


async def connection_breaks(request: dict) -> AsyncIterator[dict]:
    yield progress(request, "encoding", 94)
    raise ConnectionError("Unavailable: TCP connection to 127.0.0.1:1 failed")


async def ends_without_result(request: dict) -> AsyncIterator[dict]:
    yield progress(request, "decoding", 90)


async def runtime_error_item(request: dict) -> AsyncIterator[dict]:
    yield progress(request)
    yield {"error": "stream ended before generation completed"}


async def goes_silent(request: dict) -> AsyncIterator[dict]:
    yield progress(request, "storing", 97)
    await asyncio.sleep(3600)
    yield completed(request)


async def fails_with_no_reason(request: dict) -> AsyncIterator[dict]:
    yield failed(request, "generation failed: ", code="generation_failed")


async def fails_with_nothing_at_all(request: dict) -> AsyncIterator[dict]:
    yield failed(request, "")


async def completes_without_a_video(request: dict) -> AsyncIterator[dict]:
    yield completed(request, url=None)


async def completes_then_breaks(request: dict) -> AsyncIterator[dict]:
    yield completed(request)
    raise ConnectionError("Unavailable: Stream ended before generation completed")


async def refuses_a_field(request: dict) -> AsyncIterator[dict]:
    yield failed(request, "the video is too large to travel inline", code="too_large", param="response_format")


async def is_draining(request: dict) -> AsyncIterator[dict]:
    yield failed(request, "this worker is shutting down", code="worker_draining")


class ScriptedWorkers:
    """Stands in for the runtime's WorkerDirectory: the n-th job request, whichever instance it
    is sent to, gets the n-th scripted answer (the last one repeats)."""

    def __init__(self, instances: int, script: list[Behaviour]):
        self.instances = list(range(1, instances + 1))
        self.script = script
        self.quarantine = Quarantine()
        self.sent: list[int] = []

    def models(self) -> dict[str, ServedModel]:
        live = [WorkerInstance(instance, MODEL) for instance in self.instances if instance not in self.quarantine]
        return {MODEL: ServedModel(MODEL, live)} if live else {}

    def adapters_loaded(self, instance_id: int) -> frozenset[str]:
        return frozenset()

    def note_adapters(self, instance_id: int, loaded: list[str] | None) -> None:
        pass

    def route(self, model: str | None, adapters=(), route: str | None = None) -> tuple[str, WorkerInstance]:
        served = self.models().get(MODEL)
        if not served:
            raise NoWorkerError(f"no live worker serves {MODEL!r}")
        return MODEL, served.instances[0]

    def mark_lost(self, instance_id: int, reason: str) -> None:
        self.quarantine.add(instance_id, reason)

    async def generate(self, request: dict, instance_id: int, context=None) -> AsyncIterator[dict]:
        if request.get("validate_only"):
            yield {"id": request["request_id"], "model": MODEL, "created": 1, "status": "queued", "progress": 0,
                   "size": "64x64", "num_frames": 9, "fps": 8, "num_inference_steps": 2, "seed": 1}  # fmt: skip
            return
        self.sent.append(instance_id)
        behaviour = self.script[min(len(self.sent), len(self.script)) - 1]
        async for message in behaviour(request):
            yield message


async def run_job(tmp_path, instances: int, script: list[Behaviour], **settings) -> tuple[dict, ScriptedWorkers]:
    workers = ScriptedWorkers(instances, script)
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    await store.start()
    manager = JobManager(store, workers, JobSettings(**settings))
    await manager.start()
    try:
        record = await manager.submit(VideoCreateRequest(prompt="scripted", model=MODEL))
        for _ in range(400):
            current = await manager.get(record.id)
            if current.terminal:
                return current.to_video().model_dump(), workers
            await asyncio.sleep(0.05)
        raise AssertionError(f"job left hanging: {current}")
    finally:
        await manager.close()
        await store.close()


def readme_rows() -> dict[str, list[str]]:
    """The rows of the README's tables of error codes: code -> the other cells."""
    section = README.read_text().split("### Error codes", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| (.*) \|$", section, flags=re.MULTILINE)
    return {code: [cell.strip() for cell in rest.split(" | ")] for code, rest in rows}


def readme_codes() -> set[str]:
    return set(readme_rows())


def assert_documented_failure(video: dict, code: str) -> None:
    assert video["status"] == "failed", video
    error = video["error"]
    assert error["code"] == code, error
    assert error["code"] in readme_codes(), f"{error['code']} is not in the README's table"
    assert error["message"].strip() and not error["message"].rstrip().endswith(":"), error


def test_the_readme_tables_say_what_the_code_does_for_every_error_code():
    rows = readme_rows()
    assert set(rows) == {code.value for code in ErrorCode}
    for code, cells in rows.items():
        assert int(cells[0]) == STATUS_BY_CODE[ErrorCode(code)], (code, cells)
        ending = JOB_ERROR_CODES.get(ErrorCode(code))
        if ending is not None:
            assert cells[1:] == [ending.retried, ending.meaning], (code, cells)


@pytest.mark.parametrize(
    "loss", [connection_breaks, ends_without_result, runtime_error_item, goes_silent], ids=lambda loss: loss.__name__
)
async def test_a_lost_worker_hands_the_job_to_another(tmp_path, loss):
    video, workers = await run_job(tmp_path, 2, [loss, completes], stall_timeout_s=1.0)
    assert video["status"] == "completed", video
    first, second = workers.sent
    assert first != second and first in workers.quarantine


@pytest.mark.parametrize(
    ("loss", "seen"),
    [
        (connection_breaks, "during encoding: its connection failed (ConnectionError: Unavailable"),
        (ends_without_result, "during decoding: its answer ended without a result"),
        (runtime_error_item, "during denoising: the request plane reported: {'error': 'stream ended"),
        (goes_silent, "during storing: it said nothing for 1s"),
    ],
    ids=lambda value: getattr(value, "__name__", "seen"),
)
async def test_a_lost_worker_with_no_other_fails_the_job_with_worker_lost(tmp_path, loss, seen):
    video, workers = await run_job(tmp_path, 1, [loss], stall_timeout_s=1.0)
    assert_documented_failure(video, "worker_lost")
    assert video["error"]["message"].startswith("worker 1 was lost " + seen), video["error"]
    assert "no other live worker" in video["error"]["message"]


async def test_a_job_lost_twice_fails_naming_both_losses(tmp_path):
    video, workers = await run_job(tmp_path, 3, [connection_breaks, ends_without_result, completes])
    assert_documented_failure(video, "worker_lost")
    first, second = workers.sent
    message = video["error"]["message"]
    assert message.startswith(f"worker {second} was lost during decoding"), message
    assert f"before: worker {first} was lost during encoding" in message, message


@pytest.mark.parametrize(
    ("behaviour", "code", "message"),
    [
        (fails_with_no_reason, "generation_failed", "generation failed: (the worker gave no reason)"),
        (fails_with_nothing_at_all, "generation_failed", "worker {worker} failed the job without saying why"),
        (completes_without_a_video, "generation_failed", "worker {worker} answered without a stored video"),
    ],
    ids=lambda value: getattr(value, "__name__", str(value)),
)
async def test_a_worker_that_fails_the_job_itself_gives_a_code_and_a_reason(tmp_path, behaviour, code, message):
    video, workers = await run_job(tmp_path, 2, [behaviour, completes])
    assert_documented_failure(video, code)
    assert video["error"]["message"] == message.format(worker=workers.sent[0])
    assert len(workers.sent) == 1, "a job the worker failed itself is not run again"


async def test_a_connection_that_breaks_after_the_answer_loses_nothing(tmp_path):
    video, workers = await run_job(tmp_path, 2, [completes_then_breaks, connection_breaks])
    assert video["status"] == "completed", video
    assert len(workers.sent) == 1


async def test_a_refused_field_names_the_field(tmp_path):
    video, _ = await run_job(tmp_path, 1, [refuses_a_field])
    assert video["status"] == "failed" and video["error"]["param"] == "response_format", video
    assert video["error"]["code"] == "too_large" and video["error"]["message"]


async def test_a_draining_worker_passes_the_job_on_without_using_its_retry(tmp_path):
    video, workers = await run_job(tmp_path, 3, [is_draining, connection_breaks, completes])
    assert video["status"] == "completed", video
    assert len(set(workers.sent)) == 3


async def test_a_queued_job_with_no_live_worker_fails_with_no_live_worker(tmp_path):
    video, _ = await run_job(tmp_path, 1, [is_draining], no_worker_timeout_s=0.5)
    assert_documented_failure(video, "no_live_worker")
