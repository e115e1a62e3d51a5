"""The `framecast` command against the real stack (API keys on): a live bar under a
pseudo-terminal that reaches 100 and an MP4 with the frames asked for, Ctrl-C that cancels the
job on the server, plain lines when the output is not a terminal, and the server's errors with
the field they name."""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pexpect
import pytest

from framecast.testing.stack import StageHold, decode_mp4, start_keyed_held_stack

MODEL = "tiny-random-t2v"
KEY = "key-cli"


def framecast_command() -> str:
    found = shutil.which("framecast", path=str(Path(sys.executable).parent))
    assert found, "the framecast console script is not installed beside this interpreter"
    return found


@pytest.fixture(scope="module")
def stack(tiny_model, tmp_path_factory):
    held = start_keyed_held_stack(tiny_model, tmp_path_factory.mktemp("cli"), "fc-cli", KEY)
    try:
        yield held
    finally:
        held.stop()


def run(stack, *argv: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, FRAMECAST_URL=stack.base_url, FRAMECAST_API_KEY=KEY)
    return subprocess.run([framecast_command(), *argv], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def spawn(stack, *argv: str, cwd: Path) -> pexpect.spawn:
    env = dict(os.environ, FRAMECAST_URL=stack.base_url, FRAMECAST_API_KEY=KEY, TERM="xterm-256color", COLUMNS="120")
    # Ctrl-C as on a person's terminal: a shell without job control (CI's, for one) starts its
    # background commands with SIGINT ignored, and the child would inherit that.
    return pexpect.spawn(
        framecast_command(), list(argv), env=env, cwd=str(cwd), dimensions=(30, 120), encoding="utf-8", timeout=180,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip


def test_the_bar_renders_and_reaches_100_and_the_mp4_has_the_frames_asked_for(stack, tmp_path):
    stack.hold.hold("denoising")
    child = spawn(stack, "generate", "a red fox", "--model", MODEL, "--frames", "13", "--steps", "6", "-o", "fox.mp4", cwd=tmp_path)
    screen = child.logfile_read = io.StringIO()
    try:
        child.expect(r"(video_[0-9a-f]{32}): ")
        video_id = child.match.group(1)
        StageHold.wait_held([stack.worker], video_id, "denoising")
        # The bar shows the stage and the step while the job waits in it.
        child.expect(r"denoising.*step \d+/6")
        stack.hold.release()
        child.expect(r"100%")
        child.expect(r"wrote fox\.mp4")
        child.expect(pexpect.EOF)
    finally:
        stack.hold.release()
        child.close()
    assert child.exitstatus == 0
    # The bar's other columns: elapsed time and the ETA.
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    assert re.search(r"denoising +━.* \d+% step \d/6 +\d:\d\d:\d\d eta", shown), shown[-500:]
    video = decode_mp4((tmp_path / "fox.mp4").read_bytes())
    assert (video.count, video.width, video.height) == (13, 64, 64)


def test_ctrl_c_cancels_the_job_on_the_server(stack, tmp_path):
    stack.hold.hold("denoising")
    child = spawn(stack, "generate", "a long one", "--model", MODEL, "--steps", "50", cwd=tmp_path)
    try:
        child.expect(r"(video_[0-9a-f]{32}): ")
        video_id = child.match.group(1)
        StageHold.wait_held([stack.worker], video_id, "denoising")
        child.expect(r"denoising")
        child.sendintr()
        child.expect(f"{video_id}: cancelled on the server")
        child.expect(pexpect.EOF)
    finally:
        stack.hold.release()
        child.close()
    assert child.exitstatus == 130
    gone = httpx.get(f"{stack.base_url}/v1/videos/{video_id}", headers={"authorization": f"Bearer {KEY}"})
    assert gone.status_code == 404
    stack.worker.wait_for_log(rf"request {video_id} cancelled", timeout=60)
    assert not list(tmp_path.glob("*.mp4"))


def test_without_a_terminal_progress_comes_as_plain_lines(stack, tmp_path):
    result = run(stack, "generate", "a boat", "--model", MODEL, "--frames", "5", "--steps", "4", "--seed", "3", "-o", "boat.mp4", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(re.fullmatch(r"video_[0-9a-f]{32}: denoising step \d/4 \d+%", line) for line in lines), lines
    assert "\x1b[" not in result.stdout and lines[-1].startswith("wrote boat.mp4")
    assert decode_mp4((tmp_path / "boat.mp4").read_bytes()).count == 5


def test_server_errors_name_their_field_and_exit_non_zero(stack, tmp_path):
    bad_size = run(stack, "generate", "x", "--model", MODEL, "--size", "65x64", cwd=tmp_path)
    assert bad_size.returncode == 1 and "field: size" in bad_size.stderr and "multiples of 16" in bad_size.stderr
    no_key = run(stack, "models", "--api-key", "wrong", cwd=tmp_path)
    assert no_key.returncode == 1 and "error:" in no_key.stderr
    missing = run(stack, "generate", "x", "--model", MODEL, "--image", "nope.png", cwd=tmp_path)
    assert missing.returncode == 1 and "field: input_reference" in missing.stderr
    # The webhook reaches the server, which has no secret to sign it with here.
    unsigned = run(stack, "generate", "x", "--model", MODEL, "--webhook", "https://hooks.example/x", cwd=tmp_path)
    said = " ".join(unsigned.stderr.split())
    assert unsigned.returncode == 1 and "field: webhook" in said and "no secret to sign webhooks" in said


def test_models_and_jobs(stack, tmp_path):
    models = run(stack, "models", cwd=tmp_path)
    assert models.returncode == 0 and MODEL in models.stdout and all(task in models.stdout for task in ("t2v", "t2i", "v2v"))
    made = run(stack, "generate", "a bird", "--model", MODEL, "--frames", "5", "--steps", "2", "-o", "bird.mp4", cwd=tmp_path)
    video_id = re.search(r"video_[0-9a-f]{32}", made.stdout).group(0)
    assert video_id in run(stack, "jobs", "list", cwd=tmp_path).stdout
    assert '"status": "completed"' in run(stack, "jobs", "show", video_id, cwd=tmp_path).stdout
    assert run(stack, "jobs", "download", video_id, "--variant", "thumbnail", "-o", "thumb.jpg", cwd=tmp_path).returncode == 0
    assert (tmp_path / "thumb.jpg").read_bytes()[:2] == b"\xff\xd8"
    assert run(stack, "jobs", "cancel", video_id, cwd=tmp_path).returncode == 0
    assert run(stack, "jobs", "show", video_id, cwd=tmp_path).returncode == 1


def test_images(stack, tmp_path):
    result = run(stack, "image", "a lighthouse", "--model", MODEL, "--size", "64x48", "-n", "2", "--steps", "2", "-o", "light.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    from PIL import Image

    for name in ("light-1.png", "light-2.png"):
        with Image.open(tmp_path / name) as image:
            assert (image.format, image.size) == ("PNG", (64, 48))


def test_remix_follows_its_job_with_the_same_bar(stack, tmp_path):
    made = run(stack, "generate", "a fox", "--model", MODEL, "--frames", "9", "--steps", "2", "-o", "fox.mp4", cwd=tmp_path)
    source_id = re.search(r"video_[0-9a-f]{32}", made.stdout).group(0)
    stack.hold.hold("denoising")
    child = spawn(stack, "remix", source_id, "a bird", "--steps", "6", "--strength", "0.5", "-o", "bird.mp4", cwd=tmp_path)
    screen = child.logfile_read = io.StringIO()
    try:
        child.expect(r"(video_[0-9a-f]{32}): ")
        video_id = child.match.group(1)
        StageHold.wait_held([stack.worker], video_id, "denoising")
        # Half of a 6-step schedule: 3 steps run.
        child.expect(r"denoising.*step \d+/3")
        stack.hold.release()
        child.expect(r"100%")
        child.expect(r"wrote bird\.mp4")
        child.expect(pexpect.EOF)
    finally:
        stack.hold.release()
        child.close()
    assert child.exitstatus == 0, screen.getvalue()[-500:]
    assert decode_mp4((tmp_path / "bird.mp4").read_bytes()).count == 9
    refused = run(stack, "remix", "video_" + "0" * 32, "x", cwd=tmp_path)
    assert refused.returncode == 1 and "field: video_id" in refused.stderr
