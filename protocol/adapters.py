"""LoRA adapters as a request names them and a worker publishes them.

A request picks adapters by the name the operator gave them (`--lora name=source` on the
worker); a request never carries a path or a hub id, so no client can make a worker load a file
of its choosing."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

ADAPTER_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
MAX_ADAPTERS_PER_REQUEST = 4
MAX_ADAPTER_SCALE = 4.0


class LoraChoice(BaseModel):
    """One adapter of a request, and how strongly it applies (0: not at all)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=ADAPTER_NAME_PATTERN)
    scale: float = Field(default=1.0, ge=-MAX_ADAPTER_SCALE, le=MAX_ADAPTER_SCALE)


def _check_lora_choices(value: list[LoraChoice] | None) -> list[LoraChoice] | None:
    if value is None:
        return None
    if len(value) > MAX_ADAPTERS_PER_REQUEST:
        raise ValueError(f"at most {MAX_ADAPTERS_PER_REQUEST} adapters per request; got {len(value)}")
    names = [choice.name for choice in value]
    # Two scales for one adapter have no meaning.
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"each adapter may be named once; repeated: {', '.join(repeated)}")
    return value or None


# A request's adapters: None (or []) for the base model alone.
LoraChoices = Annotated[list[LoraChoice] | None, AfterValidator(_check_lora_choices)]


def adapter_names(choices: list[LoraChoice] | None) -> list[str]:
    return [choice.name for choice in choices or ()]


class AdapterCard(BaseModel):
    """An adapter a worker offers, as its model card publishes it. The source stays on the
    worker: a frontend needs only the name and what the adapter changes in a request."""

    model_config = ConfigDict(extra="ignore")

    name: str
    # Request defaults the adapter brings (a step-distilled adapter: few steps, no CFG).
    num_inference_steps: int | None = None
    guidance_scale: float | None = None
    description: str | None = None
