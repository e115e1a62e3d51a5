"""Prometheus metrics: the frontend's /metrics and the worker's (on the runtime's status server)
after real jobs through the stack with the tiny model."""

from __future__ import annotations


import httpx
import pytest

from framecast.testing.stack import Discovery, StageHold, free_status_port, metric_values, scrape_metrics, stack_env, start_frontend, start_worker, wait_done, wait_for_workers

MODEL = "tiny-random-t2v"
STEPS = 3
WORKER_STAGES = ("text_encoding", "denoising", "decoding", "encoding", "storing")


def value(samples: dict, name: str, **labels: str) -> float:
    matching = metric_values(samples, name, **labels)
    assert matching, f"no {name} sample with {labels}; have {samples.get(name)}"
    return sum(matching)


@pytest.fixture(scope="module")
def scraped(tiny_model, tmp_path_factory):
    """Run a job, a synchronous base64 request, a bad request and a refused one; then scrape."""
    log_dir = tmp_path_factory.mktemp("metrics")
    discovery = Discovery("file", stack_env("file", None, log_dir / "kv"))
    status_port = free_status_port()
    worker_discovery = Discovery("file", dict(discovery.env, DYN_SYSTEM_PORT=str(status_port), DYN_SYSTEM_HOST="127.0.0.1"))
    hold = StageHold(log_dir / "hold")
    worker = start_worker(
        worker_discovery, tiny_model, "fc-metrics", (log_dir / "out").as_uri(), log_dir, "worker", *hold.args()
    )
    # One job waiting per worker at most, so a burst of three is refused in part.
    frontend, base_url = start_frontend(discovery, "fc-metrics", log_dir, "frontend", "--queue-per-worker", "0")
    try:
        wait_for_workers(base_url, MODEL, 1, processes=[worker, frontend])
        # The first job is held in denoising, so the second finds the model full.
        hold.hold("denoising")
        job = httpx.post(f"{base_url}/v1/videos", json={"prompt": "metrics", "num_inference_steps": STEPS}).json()
        StageHold.wait_held([worker], job["id"], "denoising")
        refused = httpx.post(f"{base_url}/v1/videos", json={"prompt": "one too many", "num_inference_steps": STEPS})
        hold.release()
        assert refused.status_code == 429, refused.text
        assert wait_done(base_url, job["id"])["status"] == "completed"
        content = httpx.get(f"{base_url}/v1/videos/{job['id']}/content").content
        inline = httpx.post(
            f"{base_url}/v1/videos/generations",
            json={"model": MODEL, "prompt": "inline", "num_inference_steps": STEPS, "response_format": "b64_json"},
            timeout=120,
        )
        assert inline.status_code == 200, inline.text
        bad = httpx.post(f"{base_url}/v1/videos/generations", json={"model": MODEL, "prompt": "bad", "num_frames": 10})
        assert bad.status_code == 400
        yield {
            "frontend": scrape_metrics(f"{base_url}/metrics"),
            "worker": scrape_metrics(f"http://127.0.0.1:{status_port}/metrics"),
            "content_bytes": len(content),
            "inline_bytes": len(inline.json()["data"][0]["b64_json"]),
        }
    finally:
        hold.release()
        frontend.stop()
        worker.stop()


def test_requests_are_counted_by_route_and_status(scraped):
    frontend = scraped["frontend"]
    assert value(frontend, "framecast_http_requests_total", handler="/v1/videos", method="POST", status="200") == 1
    assert value(frontend, "framecast_http_requests_total", handler="/v1/videos", method="POST", status="429") == 1
    assert value(frontend, "framecast_http_requests_total", handler="/v1/videos/generations", status="200") == 1
    assert value(frontend, "framecast_http_requests_total", handler="/v1/videos/generations", status="400") == 1
    assert value(frontend, "framecast_http_requests_total", handler="/v1/videos/{video_id}/content", status="200") == 1


def test_admission_queue_and_workers_per_model(scraped):
    frontend = scraped["frontend"]
    assert value(frontend, "framecast_jobs_admitted_total", model=MODEL, kind="job") == 1
    assert value(frontend, "framecast_jobs_admitted_total", model=MODEL, kind="sync") == 1
    assert value(frontend, "framecast_jobs_rejected_total", model=MODEL, reason="queue_full") == 1
    assert value(frontend, "framecast_jobs_finished_total", model=MODEL, status="completed") == 2
    assert value(frontend, "framecast_queue_depth", model=MODEL) == 0
    assert value(frontend, "framecast_jobs_running", model=MODEL) == 0
    assert value(frontend, "framecast_live_workers", model=MODEL) == 1


def test_job_time_by_stage(scraped):
    frontend = scraped["frontend"]
    total = value(frontend, "framecast_job_seconds_sum", model=MODEL, status="completed")
    assert value(frontend, "framecast_job_stage_seconds_count", model=MODEL, stage="queue_wait") == 2
    stages = 0.0
    for stage in WORKER_STAGES:
        # The synchronous request asks for no previews, but every request is stored.
        assert value(frontend, "framecast_job_stage_seconds_count", model=MODEL, stage=stage) == 2, stage
        seconds = value(frontend, "framecast_job_stage_seconds_sum", model=MODEL, stage=stage)
        assert seconds > 0, stage
        stages += seconds
    assert stages < total, "the stages of the two jobs took longer than the jobs themselves"


def test_bytes_served_are_the_bytes_sent(scraped):
    frontend = scraped["frontend"]
    assert value(frontend, "framecast_served_bytes_total", route="content") == scraped["content_bytes"] > 0
    assert value(frontend, "framecast_served_bytes_total", route="generations_b64") == scraped["inline_bytes"] > 0
    assert value(frontend, "process_resident_memory_bytes") > 10 * 2**20


def test_the_worker_reports_step_time_stages_and_outcomes(scraped):
    worker = scraped["worker"]
    # Every denoising step of both requests is timed: STEPS per request.
    assert value(worker, "framecast_worker_step_seconds_count", model=MODEL) == 2 * STEPS
    per_step = value(worker, "framecast_worker_step_seconds_sum", model=MODEL) / (2 * STEPS)
    assert 0 < per_step < 10
    for stage in WORKER_STAGES:
        assert value(worker, "framecast_worker_stage_seconds_count", model=MODEL, stage=stage) == 2, stage
    assert value(worker, "framecast_worker_requests_total", model=MODEL, outcome="completed") == 2
    assert value(worker, "framecast_worker_requests_in_flight", model=MODEL) == 0
    # The runtime's own families are on the same page.
    assert any(name.startswith("dynamo_") for name in worker)
    # No CUDA on this machine: no GPU memory is reported rather than zeros.
    assert "framecast_worker_gpu_memory_used_bytes" not in worker
