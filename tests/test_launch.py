"""The scripts a person runs: the quickstart for real, t2v.sh's plan (its models need a GPU)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from framecast.testing.stack import decode_mp4

ROOT = Path(__file__).resolve().parent.parent


def run_script(*argv: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    # Run the scripts with this interpreter, as they would with the project's .venv.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return subprocess.run(["bash", *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_quickstart_writes_a_decodable_mp4_and_stops_what_it_started(tiny_model, tmp_path):
    output = tmp_path / "out.mp4"
    result = run_script(
        "launch/quickstart.sh", "--output", str(output), "--work-dir", str(tmp_path / "work"),
        "--model-dir", str(tiny_model),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    video = decode_mp4(output.read_bytes())
    assert (video.count, video.width, video.height, video.fps) == (17, 64, 64, 8)
    assert f"wrote {output}" in result.stdout
    leftovers = subprocess.run(["pgrep", "-f", f"{tmp_path}/work"], capture_output=True, text=True).stdout
    assert leftovers == "", f"quickstart left processes running: {leftovers}"


@pytest.mark.parametrize(
    ("size", "model", "tp"),
    [("1b", "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "1"), ("14b", "Wan-AI/Wan2.1-T2V-14B-Diffusers", "1")],
)
def test_t2v_plans_the_wan_model_of_each_size(size, model, tp):
    result = run_script("launch/t2v.sh", "--wan-size", size, "--dry-run")
    assert result.returncode == 0, result.stderr
    worker = next(line for line in result.stdout.splitlines() if line.startswith("worker:"))
    assert f"--model-path {model} " in worker and f"--tp {tp} " in worker and "--discovery file" in worker
    assert f'"model": "{model}"' in result.stdout
    # This machine has no GPU, so the registry's plan is the diffusers backend.
    assert "backend: diffusers, TP 1" in result.stdout
    if size == "14b":
        assert "no tensor parallelism: TP 1 instead of 2" in result.stdout


def test_t2v_takes_overrides_and_starts_etcd_only_when_none_is_given():
    result = run_script(
        "launch/t2v.sh", "--wan-size", "14b", "--tp", "2", "--discovery", "etcd", "--fs-url", "s3://bucket/videos",
        "--model-path", "/models/wan14b", "--dry-run",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines() if line.startswith(("etcd:", "worker:")))
    assert "--model-path /models/wan14b --backend diffusers --tp 2 --fs-url s3://bucket/videos --discovery etcd" in lines["worker"]
    # A local copy keeps the registry entry and the name of the model it copies.
    assert "--model-spec Wan-AI/Wan2.1-T2V-14B-Diffusers --served-model-name Wan-AI/Wan2.1-T2V-14B-Diffusers" in lines["worker"]
    assert "--listen-client-urls http://127.0.0.1:2379" in lines["etcd"]
    env = dict(os.environ, ETCD_ENDPOINTS="http://127.0.0.1:12379")
    result = subprocess.run(
        ["bash", "launch/t2v.sh", "--wan-size", "1b", "--discovery", "etcd", "--dry-run"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert not any(line.startswith("etcd:") for line in result.stdout.splitlines())


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [(["--wan-size", "2b"], "--wan-size"), (["--wan-size", "1b", "--discovery", "nats"], "--discovery"), (["--bogus"], "--bogus")],
)
def test_t2v_refuses_bad_options(argv, complaint):
    result = run_script("launch/t2v.sh", *argv, "--dry-run")
    assert result.returncode == 2 and complaint in result.stderr


@pytest.mark.parametrize(
    ("script", "flag", "choice", "model", "route"),
    [
        ("i2v.sh", "--wan", "480p", "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers", "/v1/videos/generations"),
        ("i2v.sh", "--wan", "a14b", "Wan-AI/Wan2.2-I2V-A14B-Diffusers", "/v1/videos/generations"),
        ("i2v.sh", "--wan", "ti2v-5b", "Wan-AI/Wan2.2-TI2V-5B-Diffusers", "/v1/videos/generations"),
        ("t2i.sh", "--model", "flux-schnell", "black-forest-labs/FLUX.1-schnell", "/v1/images/generations"),
        ("t2i.sh", "--model", "qwen-image", "Qwen/Qwen-Image", "/v1/images/generations"),
    ],
)
def test_i2v_and_t2i_plan_their_models_with_one_input_store(script, flag, choice, model, route):
    result = run_script(f"launch/{script}", flag, choice, "--input-store", "s3://bucket/inputs", "--dry-run")
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines() if line.startswith(("worker:", "frontend:", "try:")))
    assert f"--model-path {model} " in lines["worker"]
    # The frontend stores input images where the worker reads them.
    assert lines["worker"].endswith("--input-store s3://bucket/inputs")
    assert "--input-store s3://bucket/inputs" in lines["frontend"]
    assert route in lines["try"] and model in result.stdout
    wrong = run_script(f"launch/{script}", flag, "nonsense", "--dry-run")
    assert wrong.returncode == 2 and flag in wrong.stderr


def test_serve_plans_one_worker_per_model_with_its_gpu_slice():
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="4,5,6")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    argv = ["bash", "launch/serve.sh", "--model", "wan-1b", "--model", "flux-schnell", "--model", "i2v-480p", "--dry-run"]
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    plans = [line for line in result.stdout.splitlines() if line.startswith("plan:")]
    assert [plan.split(":")[1].strip().split(" ->")[0] for plan in plans] == ["wan-1b", "flux-schnell", "i2v-480p"]
    workers = [line for line in result.stdout.splitlines() if line.startswith("worker ")]
    # Each worker its slice of the GPUs given, in order (TP 1 each: diffusers on this machine).
    for worker, gpu, model in zip(workers, "456", ("Wan2.1-T2V-1.3B", "FLUX.1-schnell", "Wan2.1-I2V-14B-480P"), strict=True):
        assert f"CUDA_VISIBLE_DEVICES={gpu} " in worker and model in worker and "--discovery etcd" in worker
    assert any(line.startswith("etcd: ") for line in result.stdout.splitlines())
    assert "--job-store etcd" in next(line for line in result.stdout.splitlines() if line.startswith("frontend:"))
    # A fourth model has no GPU left; a given etcd is used, not started.
    env["CUDA_VISIBLE_DEVICES"] = "0"
    argv = ["bash", "launch/serve.sh", "--model", "wan-1b", "--model", "flux-schnell", "--etcd-endpoints", "http://127.0.0.1:12379", "--dry-run"]
    short = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    assert short.returncode == 2 and "--model flux-schnell needs 1 GPU(s) and only 0 of 1 are left" in short.stderr
    del env["CUDA_VISIBLE_DEVICES"]
    given = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    assert given.returncode == 0 and not any(line.startswith("etcd:") for line in given.stdout.splitlines()), given.stdout


def test_serve_runs_two_models_behind_one_frontend_and_stops_them(tiny_models, tmp_path):
    import signal
    import time

    import httpx

    from framecast.testing.stack import free_port

    port, etcd_port = free_port(), free_port()
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.pop("CUDA_VISIBLE_DEVICES", None)
    work = tmp_path / "work"
    argv = ["bash", "launch/serve.sh", "--port", str(port), "--etcd-port", str(etcd_port), "--work-dir", str(work),
            "--fs-url", (tmp_path / "out").as_uri(), "--input-store", (tmp_path / "in").as_uri(), "--namespace", "fc-serve"]  # fmt: skip
    # An image model and a video one (the synthetic backend: no model to load).
    argv += ["--model", str(tiny_models("t2i")), "--model", "synthetic"]
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while "Ctrl-C stops it." not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        models = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=10).json()["data"]
        assert {model["id"] for model in models} == {"tiny-random-t2i", "synthetic"}
        image = httpx.post(
            f"http://127.0.0.1:{port}/v1/images/generations",
            json={"model": "tiny-random-t2i", "prompt": "a lighthouse", "size": "64x64", "num_inference_steps": 2},
            timeout=120,
        )
        assert image.status_code == 200, image.text
    finally:
        # Ctrl-C reaches the whole foreground group.
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=120)
    # Every process it started names a path under tmp_path (etcd's data, the workers' outputs).
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout
    assert leftovers == "", f"serve.sh left processes running: {leftovers}"
    assert "tiny-random-t2i: t2i, 1 worker(s)" in log.read_text() and "synthetic: t2v, 1 worker(s)" in log.read_text()
