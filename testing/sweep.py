"""The corners of a model's request check, as requests: each one either completes with the
output it asked for or is refused at creation with a 400 naming the field. The cases are read
from what the frontend publishes for the model (GET /v1/models: its defaults and limits, the
limits the worker read from its pipeline), so a sweep tests the check a client meets."""

from __future__ import annotations

import base64
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

from framecast.protocol.adapters import MAX_ADAPTER_SCALE
from framecast.protocol.videos import MAX_GUIDANCE_SCALE, MAX_SEED, parse_size
from framecast.testing.stack import (
    Discovery,
    ManagedProcess,
    StageHold,
    DecodedVideo,
    decode_mp4,
    stack_env,
    start_frontend,
    start_worker,
    wait_for_workers,
)

# A word each of the tiny models' tokenizers reads as one token; one letter, so a prompt of a
# thousand tokens stays under the frontend's cap on prompt characters.
_WORD = "a"


@dataclass(frozen=True)
class Case:
    name: str
    body: dict  # request fields besides model and prompt
    frames: int  # frames the output must hold (1 for an image)
    size: tuple[int, int]
    # None: the request must complete; else the field a 400 must name.
    refused_field: str | None = None
    prompt: str = "a red fish swimming in a river"
    needs_adapter: bool = False


def _round_down(value: float, multiple: int) -> int:
    return int(value // multiple) * multiple


def _round_up(value: float, multiple: int) -> int:
    return int(math.ceil(value / multiple)) * multiple


def corner_sizes(limits: dict) -> dict[str, tuple[int, int]]:
    """The smallest and largest sizes the check admits, and the most extreme aspect ratios."""
    if limits.get("only_listed_sizes"):
        listed = [parse_size(size) for size in limits["sizes"]]
        return {
            "smallest": min(listed, key=lambda wh: wh[0] * wh[1]),
            "largest": max(listed, key=lambda wh: wh[0] * wh[1]),
            "widest": max(listed, key=lambda wh: wh[0] / wh[1]),
            "tallest": min(listed, key=lambda wh: wh[0] / wh[1]),
        }
    multiple = limits["size_multiple"]
    longest_side = limits.get("max_side") or 10**6
    shortest_side = _round_up(limits.get("min_side") or multiple, multiple)
    smallest_side = max(_round_up(math.sqrt(limits["min_pixels"]), multiple), shortest_side)
    largest_side = min(_round_down(math.sqrt(limits["max_pixels"]), multiple), _round_down(longest_side, multiple))
    # The longest side with the shortest other side still giving min_pixels.
    short = shortest_side
    long = min(_round_down(limits["max_pixels"] / short, multiple), _round_down(longest_side, multiple))
    if short * long < limits["min_pixels"]:
        short = _round_up(limits["min_pixels"] / long, multiple)
    return {
        "smallest": (smallest_side, smallest_side),
        "largest": (largest_side, largest_side),
        "widest": (long, short),
        "tallest": (short, long),
    }


def limit_cases(card: dict, adapter: str | None = None) -> list[Case]:
    """The sweep for one model, from its entry in GET /v1/models. Costly corners (most steps,
    most frames, largest size) run at the cheapest settings of the other knobs."""
    limits, tasks = card["limits"], card["tasks"]
    video = bool({"t2v", "i2v", "ti2v"} & set(tasks))
    sizes = corner_sizes(limits)
    small = sizes["smallest"]
    fewest_frames = limits["min_frames"] if video else 1

    def case(name, frames=fewest_frames, size=small, refused=None, prompt=None, needs_adapter=False, **body) -> Case:
        body = {"size": f"{size[0]}x{size[1]}", "num_inference_steps": 2} | body
        if video:
            body.setdefault("num_frames", frames)
        extra = {"prompt": prompt} if prompt is not None else {}
        return Case(name, body, frames, size, refused, needs_adapter=needs_adapter, **extra)

    fewest_steps = limits.get("min_steps", 1)
    cases = [
        case("fewest steps", num_inference_steps=fewest_steps),
        case("most steps", num_inference_steps=limits["max_steps"]),
        case("one step past the most", num_inference_steps=limits["max_steps"] + 1, refused="num_inference_steps"),
    ]
    if fewest_steps > 1:
        cases.append(case("one step under the fewest", num_inference_steps=fewest_steps - 1, refused="num_inference_steps"))
    if video:
        cases += [
            case("fewest frames", frames=limits["min_frames"]),
            case("most frames", frames=limits["max_frames"], num_inference_steps=fewest_steps),
            case("frames past the most", frames=limits["max_frames"] + limits["frame_step"], refused="num_frames"),
        ]
    for name, size in sizes.items():
        cases.append(case(f"{name} size", size=size, num_inference_steps=fewest_steps))
    if limits.get("max_side"):
        past = limits["max_side"] + limits["size_multiple"]
        cases.append(case("a side past the position table", size=(past, limits["size_multiple"]), refused="size"))
    if limits.get("only_listed_sizes"):
        width, height = sizes["smallest"]
        unlisted = next(f"{width + step}x{height}" for step in range(limits["size_multiple"], 10**4, limits["size_multiple"])
                        if f"{width + step}x{height}" not in limits["sizes"])  # fmt: skip
        cases.append(case("a size not listed", size=parse_size(unlisted), refused="size"))
    if (limits.get("min_side") or 0) > limits["size_multiple"]:
        under = limits["min_side"] - limits["size_multiple"]
        cases.append(case("a side under the shortest", size=(sizes["widest"][0], under), refused="size"))
    cases += [
        case("guidance 0", guidance_scale=0.0),
        case("most guidance", guidance_scale=MAX_GUIDANCE_SCALE),
        case("guidance past the most", guidance_scale=MAX_GUIDANCE_SCALE + 1, refused="guidance_scale"),
        case("empty negative prompt", negative_prompt=""),
        case("seed 0", seed=0),
        case("most seed", seed=MAX_SEED),
        case("exact (no step cache)", nvext={"cache": False}),
    ]
    if limits.get("max_prompt_tokens"):
        tokens = limits["max_prompt_tokens"]
        cases += [
            case("prompt at the most tokens", prompt=" ".join([_WORD] * tokens)),
            case("prompt past the most tokens", prompt=" ".join([_WORD] * (tokens + 16))),
        ]
    if adapter:
        for scale in (-MAX_ADAPTER_SCALE, MAX_ADAPTER_SCALE):
            cases.append(case(f"adapter at scale {scale:g}", needs_adapter=True, lora=[{"name": adapter, "scale": scale}]))
    return cases


# -- one model behind one frontend, and the checks ------------------------------------------


@dataclass
class FamilyStack:
    """One worker of a tiny model (a stage hold, a tiny LoRA named "sweep", its recommended step
    cache where it has one) and one frontend, over file discovery."""

    model: str
    card: dict
    base_url: str
    hold: StageHold
    worker: ManagedProcess
    frontend: ManagedProcess
    image: str  # a data URL, for models that take an input image

    @property
    def makes_video(self) -> bool:
        return bool({"t2v", "i2v", "ti2v"} & set(self.card["tasks"]))

    @property
    def needs_image(self) -> bool:
        return "i2v" in self.card["tasks"]

    def stop(self) -> None:
        self.hold.release()
        self.frontend.stop()
        self.worker.stop()


def start_family_stack(model_path: Path, root: Path, adapter_path: Path | None = None, cache: bool = True) -> FamilyStack:
    discovery = Discovery("file", stack_env("file", None, root / "kv"))
    hold = StageHold(root / "hold")
    namespace = "fc-" + model_path.name.replace(".", "-")
    shared = ("--input-store", (root / "inputs").as_uri())
    lora = ("--lora", f"{ADAPTER}={adapter_path}") if adapter_path else ()
    worker = start_worker(
        discovery, model_path, namespace, (root / "out").as_uri(), root, "worker", *hold.args(), *shared, *lora,
        *(("--cache", "recommended") if cache else ()),
    )  # fmt: skip
    frontend = None
    try:
        frontend, base_url = start_frontend(discovery, namespace, root, "frontend", *shared)
        wait_for_workers(base_url, model_path.name, 1, processes=[worker, frontend])
    except BaseException:
        if frontend is not None:
            frontend.stop()
        worker.stop()
        raise
    card = next(m for m in httpx.get(f"{base_url}/v1/models", timeout=10).json()["data"] if m["id"] == model_path.name)
    return FamilyStack(model_path.name, card, base_url, hold, worker, frontend, _gradient_png_data_url())


ADAPTER = "sweep"


def _gradient_png_data_url(width: int = 64, height: int = 48) -> str:
    from PIL import Image

    x = np.linspace(0, 255, width, dtype=np.uint8)
    pixels = np.stack([np.tile(x, (height, 1)), np.tile(x[::-1], (height, 1)), np.full((height, width), 90, np.uint8)], -1)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def request(stack: FamilyStack, prompt: str, body: dict, with_image: bool = False) -> httpx.Response:
    """A synchronous request for the model's output inline: a video (from the stack's image where
    the model needs one, or `with_image`), or for an image model images."""
    body = {"model": stack.model, "prompt": prompt, "response_format": "b64_json"} | body
    if stack.makes_video:
        if stack.needs_image or with_image:
            body["input_reference"] = stack.image
        return httpx.post(f"{stack.base_url}/v1/videos/generations", json=body, timeout=600)
    body.pop("num_frames", None)
    return httpx.post(f"{stack.base_url}/v1/images/generations", json=body, timeout=600)


def check_sound(stack: FamilyStack, answer: dict, video: DecodedVideo, wanted: bool = True) -> str | None:
    """What is wrong with the sound of a completed video: a model that makes sound has a track
    as long as the video, to a frame (unless the request dropped it); any other has none."""
    expected = bool(stack.card.get("audio")) and wanted
    if answer.get("has_audio") is not expected:
        return f"has_audio is {answer.get('has_audio')!r}, expected {expected}"
    if not expected:
        return None if video.audio_seconds is None else f"an audio track of {video.audio_seconds:.3f} s where none was expected"
    if video.audio_seconds is None:
        return "no audio track"
    if abs(video.audio_seconds - video.seconds) > 1 / video.fps:
        return f"the audio lasts {video.audio_seconds:.3f} s, the video {video.seconds:.3f} s"
    if not video.audio_peak:
        return "the audio track is silent"
    return None


def check_output(stack: FamilyStack, response: httpx.Response, frames: int, size: tuple[int, int]) -> str | None:
    """What is wrong with a completed answer (None: it holds what was asked)."""
    if response.status_code != 200:
        return f"HTTP {response.status_code}: {response.text[:300]}"
    answer = response.json()
    if stack.makes_video:
        video = decode_mp4(base64.b64decode(answer["data"][0]["b64_json"]))
        got, pixels = (video.count, (video.width, video.height)), video.frames
        if (problem := check_sound(stack, answer, video)) is not None:
            return problem
    else:
        from PIL import Image

        image = Image.open(io.BytesIO(base64.b64decode(answer["data"][0]["b64_json"])))
        got, pixels = (1, image.size), np.asarray(image.convert("RGB"))
    if got != (frames, size):
        return f"asked {frames} frames of {size}, got {got[0]} of {got[1]}"
    # A model that went to NaN or infinity encodes as one flat colour.
    if pixels.min() == pixels.max():
        return f"every pixel is {pixels.min()}: the model's output was not finite"
    return None


def check_case(stack: FamilyStack, case: Case) -> str | None:
    """What is wrong with the answer to one case (None: as it should be)."""
    response = request(stack, case.prompt, case.body)
    if case.refused_field is None:
        return check_output(stack, response, case.frames, case.size)
    if response.status_code != 400:
        return f"expected a 400 naming {case.refused_field}, got HTTP {response.status_code}: {response.text[:300]}"
    error = response.json()["error"]
    if error.get("param") != case.refused_field:
        return f"the 400 names {error.get('param')!r}, not {case.refused_field!r}: {error['message']}"
    return None


def progress_of_a_job(stack: FamilyStack, steps: int) -> list[dict]:
    """The events of a job followed from its first denoising step on: the worker holds the job
    after that step until the event stream is open, so no step can pass unseen."""
    stack.hold.hold("denoising")
    body = {"model": stack.model, "prompt": "a boat on a river", "num_inference_steps": steps}
    if stack.needs_image:
        body["input_reference"] = stack.image
    created = httpx.post(f"{stack.base_url}/v1/videos", json=body, timeout=60)
    assert created.status_code == 200, created.text
    video_id = created.json()["id"]
    StageHold.wait_held([stack.worker], video_id, "denoising")
    events: list[dict] = []
    try:
        with httpx.stream("GET", f"{stack.base_url}/v1/videos/{video_id}/events", timeout=120) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith("data:"):
                    events.append(json.loads(line.removeprefix("data:")))
                    stack.hold.release()
                    if events[-1]["status"] in ("completed", "failed"):
                        break
    finally:
        stack.hold.release()
    return events
