"""What a served model accepts: its defaults and constraints, and how a request resolves to
concrete generation parameters.

A model folder may carry its spec in `framecast_model.json` (the tiny test model does);
otherwise the Wan2.1 text-to-video defaults apply.
"""

from __future__ import annotations

import dataclasses
import json
import math
import secrets
from dataclasses import dataclass
from pathlib import Path

from framecast.protocol import GenerationKnobs, RequestFieldError

SPEC_FILE = "framecast_model.json"


@dataclass(frozen=True)
class GenerationParams:
    """Fully resolved inputs of one generation."""

    prompt: str
    negative_prompt: str
    width: int
    height: int
    num_frames: int
    fps: int
    num_inference_steps: int
    guidance_scale: float
    seed: int
    guidance_scale_2: float | None = None


@dataclass(frozen=True)
class ModelSpec:
    # Defaults for knobs a request omits (Wan2.1 T2V 1.3B at 480p).
    width: int = 832
    height: int = 480
    num_frames: int = 81
    fps: int = 16
    num_inference_steps: int = 50
    guidance_scale: float = 5.0
    negative_prompt: str = ""
    # Constraints: frame counts are frame_step*k + 1 (the VAE's temporal compression),
    # width and height multiples of size_multiple (VAE spatial factor x patch size).
    frame_step: int = 4
    size_multiple: int = 16

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    def card(self) -> dict:
        """What frontends show of this spec (it travels in the worker's model card)."""
        return {
            "defaults": {
                "size": f"{self.width}x{self.height}",
                "num_frames": self.num_frames,
                "fps": self.fps,
                "num_inference_steps": self.num_inference_steps,
                "guidance_scale": self.guidance_scale,
                "negative_prompt": self.negative_prompt,
            },
            "limits": {"num_frames": f"{self.frame_step}k+1", "size_multiple": self.size_multiple},
        }

    @classmethod
    def from_json(cls, data: dict) -> ModelSpec:
        known = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})

    @classmethod
    def for_model_path(cls, model_path: str) -> ModelSpec:
        spec_file = Path(model_path) / SPEC_FILE
        if spec_file.is_file():
            return cls.from_json(json.loads(spec_file.read_text()))
        return cls()

    def valid_frame_count(self, frames: int) -> bool:
        return frames >= 1 and (frames - 1) % self.frame_step == 0

    def nearest_frame_count(self, frames: float) -> int:
        return max(1, round((frames - 1) / self.frame_step) * self.frame_step + 1)

    def frames_for_duration(self, seconds: float, fps: int) -> int:
        """The smallest valid frame count that lasts at least `seconds` at `fps`."""
        wanted = max(1, math.ceil(seconds * fps - 1e-9))
        return math.ceil((wanted - 1) / self.frame_step) * self.frame_step + 1

    def resolve(self, knobs: GenerationKnobs, model_name: str) -> GenerationParams:
        """Fill omitted knobs from the defaults and refuse what the model cannot do."""
        fps = knobs.fps or self.fps
        if knobs.num_frames is not None:
            num_frames = knobs.num_frames
            if not self.valid_frame_count(num_frames):
                raise RequestFieldError(
                    "num_frames",
                    f"num_frames must be {self.frame_step}k+1 for {model_name}; got {num_frames}, "
                    f"nearest: {self.nearest_frame_count(num_frames)}",
                )
        elif knobs.seconds is not None:
            num_frames = self.frames_for_duration(knobs.seconds, fps)
        else:
            num_frames = self.num_frames

        width = knobs.width or self.width
        height = knobs.height or self.height
        if width % self.size_multiple or height % self.size_multiple:
            def nearest(side: int) -> int:
                return max(self.size_multiple, round(side / self.size_multiple) * self.size_multiple)

            raise RequestFieldError(
                "size",
                f"size: width and height must be multiples of {self.size_multiple} for {model_name}; "
                f"got {width}x{height}, nearest: {nearest(width)}x{nearest(height)}",
            )

        return GenerationParams(
            prompt=knobs.prompt,
            negative_prompt=knobs.negative_prompt if knobs.negative_prompt is not None else self.negative_prompt,
            width=width,
            height=height,
            num_frames=num_frames,
            fps=fps,
            num_inference_steps=knobs.num_inference_steps or self.num_inference_steps,
            guidance_scale=knobs.guidance_scale if knobs.guidance_scale is not None else self.guidance_scale,
            guidance_scale_2=knobs.guidance_scale_2,
            # A drawn seed is reported back, so any video can be reproduced.
            seed=knobs.seed if knobs.seed is not None else secrets.randbelow(2**31),
        )
