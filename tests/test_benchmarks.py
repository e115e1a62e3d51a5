"""The GPU benchmark's arithmetic, and a smoke run of it at tiny scale on the CPU."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.gpu_wan import WAN_1_3B_DIT, WAN_14B_I2V_DIT, dit_flops_per_forward

ROOT = Path(__file__).resolve().parent.parent


def test_the_i2v_dit_counts_its_image_cross_attention():
    t2v_shaped = dit_flops_per_forward(832, 480, 81, WAN_14B_I2V_DIT | {"image_dim": None})
    i2v = dit_flops_per_forward(832, 480, 81, WAN_14B_I2V_DIT)
    assert i2v["tokens"] == 32760 and i2v["total"] > t2v_shaped["total"]
    # 14B at 32,760 tokens: about six times the 1.3B model's forward (0.28 PFLOP).
    assert 1.5 < i2v["total"] / 1e15 < 1.9


def test_dit_flops_match_the_published_wan_1_3b_analysis():
    """480x832x81 is 21 x 30 x 52 = 32,760 tokens; one forward is ~0.28 PFLOP, ~0.08 of it in
    linear layers and ~0.2 in self-attention."""
    flops = dit_flops_per_forward(832, 480, 81, WAN_1_3B_DIT)
    assert flops["tokens"] == 32760
    assert flops["linear"] / 1e15 == pytest.approx(0.082, abs=0.002)
    assert flops["attention"] / 1e15 == pytest.approx(0.201, abs=0.002)
    assert flops["total"] == flops["linear"] + flops["attention"]


@pytest.mark.parametrize("task", ["t2v", "i2v"])
def test_a_tiny_run_reports_every_figure(tmp_path, task):
    out = tmp_path / "results.json"
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_wan.py"), "--scale", "tiny", "--task", task, "--device", "cpu",
         "--dtype", "float32", "--size", "64x48", "--frames", "13", "--steps", "3",
         "--model-dir", str(tmp_path / "model"), "--json", str(out), "--through-stack"],
        check=True, capture_output=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    results = json.loads(out.read_text())
    assert results["frames_out"] == [13, 48, 64, 3] and results["steps"] == 3 and results["task"] == task
    assert results["seconds_per_step"] > 0 and results["vae_decode_s"] > 0 and results["dit_forwards_per_step"] == 2
    assert results["tokens"] == 4 * 3 * 4  # (13-1)/4+1 latent frames x 48/16 x 64/16
    # The same video through a worker and the frontend. How the two times compare is for the
    # benchmark's table on a quiet machine (a ratio of two short runs on shared cores is noise).
    assert results["stack_end_to_end_s"] > 0 and results["mp4_encode_s"] > 0
    assert math.isfinite(results["stack_overhead"])


# Every benchmark in turn: minutes on two busy cores (its own run is bounded at 900 s too).
@pytest.mark.timeout(900)
def test_the_cpu_benchmark_command_prints_every_row(tmp_path):
    """A smoke run of `benchmarks/run.py --quick`: every benchmark runs and reports (the
    numbers themselves are for RESULTS.md, not for a unit test)."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick"],
        capture_output=True, text=True, timeout=900, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    table = result.stdout.split("\n\n")[-1]
    assert "FAILED" not in table
    rows = [line.split()[0] for line in table.splitlines()[1:] if line.strip()]
    assert {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"} <= set(rows)
    for case in ("framecast / dynamo", "simulated GPU busy", "framecast / ffmpeg", "worker(s)", "via /content", "queued jobs",
                 "cache taylorseer", "switch a <-> b", "adapter-aware routing", "round-robin", "fair share"):  # fmt: skip
        assert case in table, case


def test_a_tiny_run_times_a_step_cache_and_an_adapter(tmp_path):
    out = tmp_path / "results.json"
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_wan.py"), "--scale", "tiny", "--device", "cpu", "--dtype", "float32",
         "--size", "64x48", "--frames", "9", "--steps", "6", "--model-dir", str(tmp_path / "model"), "--json", str(out),
         "--cache", "taylorseer", "--cache-interval", "2", "--lora", "random", "--lora-rank", "4"],
        check=True, capture_output=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    results = json.loads(out.read_text())
    # Every other step after the first is predicted: half the blocks run.
    assert results["cache"]["mode"] == "taylorseer" and results["cache_blocks_run"] == 0.5
    assert results["cache_max_pixel_diff"] > 0 and results["uncached_total_s"] > 0
    assert results["lora_load_s"] > 0 and results["lora_video_s"] > 0 and "lora_switch_s" in results
