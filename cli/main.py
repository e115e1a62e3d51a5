"""framecast: make videos and images with a framecast server, and manage its jobs.

\b
    framecast generate "a red fox in snow" --size 832x480 --seconds 5 -o fox.mp4
    framecast generate "the cat turns its head" --image cat.png -o cat.mp4
    framecast image "a lighthouse in a storm" -o lighthouse.png
    framecast models
    framecast jobs list | show ID | cancel ID | download ID

The server is --url (default $FRAMECAST_URL, then http://127.0.0.1:8000); --api-key (default
$FRAMECAST_API_KEY) where the server wants one.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Column, Table

from framecast.cli.client import Frontend, ServerError
from framecast.cli.progress import reporter_for

DEFAULT_URL = "http://127.0.0.1:8000"

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False, rich_markup_mode=None)
jobs_app = typer.Typer(help="List, show, cancel and download jobs.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")

Url = Annotated[str, typer.Option("--url", envvar="FRAMECAST_URL", help="the framecast frontend")]
ApiKey = Annotated[str | None, typer.Option("--api-key", envvar="FRAMECAST_API_KEY", help="API key, where the server wants one")]
Model = Annotated[str | None, typer.Option("--model", "-m", help="model id (default: the only one served)")]

# Options the video commands share.
Seconds = Annotated[float | None, typer.Option(help="length in seconds")]
NegativePrompt = Annotated[str | None, typer.Option(help="what the video should not show")]
Adapters = Annotated[
    list[str] | None, typer.Option(help="a LoRA adapter the model offers, NAME or NAME:SCALE (repeatable; `models` lists them)")
]
Exact = Annotated[bool, typer.Option(help="run without the worker's step cache (exact frames)")]
Output = Annotated[Path | None, typer.Option("--output", "-o", help="where the MP4 goes (default: <job id>.mp4)")]
Webhook = Annotated[
    str | None, typer.Option(help="an https URL the server posts to when the video ends (signed as Standard Webhooks say)")
]



def _out() -> Console:
    return Console(highlight=False)


def _fail(message: str, code: int = 1) -> typer.Exit:
    Console(stderr=True, highlight=False).print(f"error: {message}")
    return typer.Exit(code)


@contextmanager
def _frontend(url: str, api_key: str | None) -> Iterator[Frontend]:
    frontend = Frontend(url, api_key)
    try:
        yield frontend
    except ServerError as error:
        raise _fail(str(error)) from None
    finally:
        frontend.close()


def _given(**fields: object) -> dict:
    return {name: value for name, value in fields.items() if value is not None}


def _adapters(values: list[str] | None) -> list[dict] | None:
    """NAME or NAME:SCALE, as the request's lora list."""
    if not values:
        return None
    adapters = []
    for value in values:
        name, _, scale = value.partition(":")
        try:
            adapters.append({"name": name} | ({"scale": float(scale)} if scale else {}))
        except ValueError:
            raise _fail(f"--lora {value}: the scale after ':' must be a number") from None
    return adapters


@app.command()
def generate(
    prompt: str,
    model: Model = None,
    image: Annotated[str | None, typer.Option(help="input image: a file, or an http(s) URL the server fetches")] = None,
    size: Annotated[str | None, typer.Option(help="WIDTHxHEIGHT, e.g. 832x480")] = None,
    frames: Annotated[int | None, typer.Option(help="frame count (overrides --seconds)")] = None,
    seconds: Seconds = None,
    steps: Annotated[int | None, typer.Option(help="denoising steps")] = None,
    seed: Annotated[int | None, typer.Option(help="seed, for a video made again the same")] = None,
    negative_prompt: NegativePrompt = None,
    lora: Adapters = None,
    exact: Exact = False,
    webhook: Webhook = None,
    output: Output = None,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
) -> None:
    """Make a video, with live progress; Ctrl-C cancels it on the server."""
    fields = _given(
        prompt=prompt, model=model, size=size, num_frames=frames, seconds=seconds, num_inference_steps=steps, seed=seed,
        negative_prompt=negative_prompt, lora=_adapters(lora), nvext={"cache": False} if exact else None, webhook=webhook,
    )  # fmt: skip
    console = _out()
    with _frontend(url, api_key) as frontend:
        _follow_to_file(frontend, frontend.create_video(fields, image), output, url, api_key, console)


@app.command()
def remix(
    video_id: Annotated[str, typer.Argument(help="a completed video of yours (its id)")],
    prompt: str,
    strength: Annotated[
        float | None, typer.Option(help="how much of the source is remade, above 0 to 1 (the model's default: 0.6)")
    ] = None,
    size: Annotated[str | None, typer.Option(help="WIDTHxHEIGHT (default: the source's)")] = None,
    frames: Annotated[int | None, typer.Option(help="frame count (default: the source's)")] = None,
    seconds: Seconds = None,
    steps: Annotated[int | None, typer.Option(help="denoising steps of the whole schedule")] = None,
    seed: Annotated[int | None, typer.Option(help="seed (default: the source's)")] = None,
    negative_prompt: NegativePrompt = None,
    lora: Adapters = None,
    exact: Exact = False,
    webhook: Webhook = None,
    output: Output = None,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
) -> None:
    """Remake a finished video with a new prompt, by its model, with live progress; Ctrl-C
    cancels it on the server."""
    fields = _given(
        prompt=prompt, strength=strength, size=size, num_frames=frames, seconds=seconds, num_inference_steps=steps,
        seed=seed, negative_prompt=negative_prompt, lora=_adapters(lora), nvext={"cache": False} if exact else None,
        webhook=webhook,
    )  # fmt: skip
    console = _out()
    with _frontend(url, api_key) as frontend:
        _follow_to_file(frontend, frontend.remix(video_id, fields), output, url, api_key, console)


def _follow_to_file(frontend, video: dict, output: Path | None, url: str, api_key: str | None, console) -> None:
    """The job followed with a progress bar to its end, then its MP4 written; Ctrl-C cancels it."""
    video_id = video["id"]
    console.print(f"{video_id}: {video['model']}, {video['size']}, {video.get('num_frames')} frames, seed {video.get('seed')}")
    reporter = reporter_for(console)
    try:
        reporter.update(video)
        for video in frontend.watch(video_id):
            reporter.update(video)
    except KeyboardInterrupt:
        reporter.close()
        # A client of its own: the one following the job may be mid-read in its thread.
        with _frontend(url, api_key) as canceller:
            canceller.delete(video_id)
        console.print(f"{video_id}: cancelled on the server")
        raise typer.Exit(130) from None
    reporter.close()
    if video["status"] != "completed":
        error = video.get("error") or {}
        where = f" (field: {error['param']})" if error.get("param") else ""
        raise _fail(f"{video_id} {video['status']}: {error.get('message', 'no reason given')} [{error.get('code')}]{where}")
    path = output or Path(f"{video_id}.mp4")
    written = frontend.download(video_id, path)
    console.print(f"wrote {path} ({written} bytes)")


@app.command()
def image(
    prompt: str,
    model: Model = None,
    size: Annotated[str | None, typer.Option(help="WIDTHxHEIGHT")] = None,
    n: Annotated[int, typer.Option("-n", help="how many images (1 to 4)")] = 1,
    steps: Annotated[int | None, typer.Option(help="denoising steps")] = None,
    seed: Annotated[int | None, typer.Option(help="seed")] = None,
    negative_prompt: Annotated[str | None, typer.Option(help="what the image should not show")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="where the image goes; more than one: NAME-1.png, ...")] = Path("image.png"),
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
) -> None:
    """Make an image (or n of them); the format follows the output's extension (png, jpeg, webp)."""
    output_format = {".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}.get(output.suffix.lower(), "png")
    fields = _given(
        prompt=prompt, model=model, size=size, n=n, num_inference_steps=steps, seed=seed, negative_prompt=negative_prompt,
        output_format=output_format,
    )  # fmt: skip
    with _frontend(url, api_key) as frontend:
        answer = frontend.images(fields)
    for index, item in enumerate(answer["data"], start=1):
        path = output if len(answer["data"]) == 1 else output.with_name(f"{output.stem}-{index}{output.suffix}")
        path.write_bytes(base64.b64decode(item["b64_json"]))
        _out().print(f"wrote {path} ({answer.get('size')}, seed {answer.get('seed')})")


@app.command()
def models(url: Url = DEFAULT_URL, api_key: ApiKey = None) -> None:
    """The models served, with their tasks, default size, live workers, adapters and step cache."""
    with _frontend(url, api_key) as frontend:
        served = frontend.models()
    table = Table("tasks", "default size", "workers", "support", "adapters", "step cache")
    table.columns.insert(0, Column("model", no_wrap=True))
    for model in served:
        defaults = model.get("defaults") or {}
        adapters = ",".join(adapter["name"] for adapter in model.get("adapters") or [])
        cache = (model.get("step_cache") or {}).get("mode", "none")
        table.add_row(
            model["id"], ", ".join(model.get("tasks") or []), str(defaults.get("size", "")), str(model.get("workers", "")),
            str(model.get("support", "")), adapters, cache,
        )  # fmt: skip
    _out().print(table)


@jobs_app.command("list")
def jobs_list(limit: Annotated[int, typer.Option(help="how many, newest first")] = 20, url: Url = DEFAULT_URL, api_key: ApiKey = None) -> None:
    """Recent jobs."""
    with _frontend(url, api_key) as frontend:
        videos = frontend.videos(limit)
    table = Table("status", "progress", "model", "size", "prompt")
    # The id whole, whatever the width: it is what the other commands take.
    table.columns.insert(0, Column("id", no_wrap=True, min_width=38))
    for video in videos:
        table.add_row(video["id"], video["status"], f"{video['progress']}%", video["model"], video["size"], (video.get("prompt") or "")[:40])
    _out().print(table)


@jobs_app.command("show")
def jobs_show(video_id: str, url: Url = DEFAULT_URL, api_key: ApiKey = None) -> None:
    """One job, as the server has it (JSON)."""
    with _frontend(url, api_key) as frontend:
        print(json.dumps(frontend.video(video_id), indent=2))


@jobs_app.command("cancel")
def jobs_cancel(video_id: str, url: Url = DEFAULT_URL, api_key: ApiKey = None) -> None:
    """Cancel a job (its worker stops at the next step) and delete it."""
    with _frontend(url, api_key) as frontend:
        frontend.delete(video_id)
    _out().print(f"{video_id}: cancelled on the server")


@jobs_app.command("download")
def jobs_download(
    video_id: str,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="default: <job id>.mp4 (.jpg for stills)")] = None,
    variant: Annotated[str, typer.Option(help="video, thumbnail or spritesheet")] = "video",
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
) -> None:
    """A completed job's video (or its thumbnail or spritesheet)."""
    path = output or Path(f"{video_id}.{'mp4' if variant == 'video' else 'jpg'}")
    with _frontend(url, api_key) as frontend:
        written = frontend.download(video_id, path, variant)
    _out().print(f"wrote {path} ({written} bytes)")


def main() -> None:
    app(prog_name="framecast")


if __name__ == "__main__":
    sys.exit(main())
