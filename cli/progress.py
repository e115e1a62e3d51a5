"""How `framecast generate` shows a job as it runs: a live bar on a terminal (stage, step x of
y, percent, elapsed time, ETA), plain lines anywhere else (a log, a pipe, CI)."""

from __future__ import annotations

from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def _steps(video: dict) -> str:
    if video.get("step") is not None and video.get("total_steps"):
        return f"step {video['step']}/{video['total_steps']}"
    return ""


def _stage(video: dict) -> str:
    return video.get("stage") or video["status"]


class Reporter(Protocol):
    def update(self, video: dict) -> None: ...

    def close(self) -> None: ...


class BarReporter:
    def __init__(self, console: Console):
        self.progress = Progress(
            TextColumn("{task.fields[stage]:<13}"), BarColumn(), TaskProgressColumn(), TextColumn("{task.fields[steps]:<11}"),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=console,
        )  # fmt: skip
        self.task = self.progress.add_task("video", total=100, stage="queued", steps="")
        self.progress.start()

    def update(self, video: dict) -> None:
        self.progress.update(self.task, completed=video["progress"], stage=_stage(video), steps=_steps(video))

    def close(self) -> None:
        self.progress.stop()


class LineReporter:
    """One line per change of status, stage or step."""

    def __init__(self, console: Console):
        self.console = console
        self.last: tuple | None = None

    def update(self, video: dict) -> None:
        state = (video["status"], video.get("stage"), video.get("step"))
        if state != self.last:
            self.last = state
            detail = " ".join(part for part in (_stage(video), _steps(video), f"{video['progress']}%") if part)
            self.console.print(f"{video['id']}: {detail}", highlight=False)

    def close(self) -> None:
        pass


def reporter_for(console: Console) -> Reporter:
    return BarReporter(console) if console.is_terminal else LineReporter(console)
