"""The LoRA adapters a worker offers: named by the operator (`--lora name=source`, or `--lora
NAME` for a registry preset of the model), loaded the first time a request asks for them, and
kept in a bounded set, the least recently used one unloaded first.

The set is used only under the worker's generator lock, so loading, applying and generating
for one request never interleave with another's."""

from __future__ import annotations

import collections
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from framecast.components.registry import AdapterPreset, ModelSpec
from framecast.protocol import ErrorCode, RequestFieldError
from framecast.protocol.adapters import ADAPTER_NAME_PATTERN, AdapterCard, LoraChoice

log = logging.getLogger(__name__)

_NAME = re.compile(ADAPTER_NAME_PATTERN)


@dataclass(frozen=True)
class AdapterSource:
    name: str
    # A local file or folder, or a hub file ("owner/repo/path/in/repo.safetensors").
    source: str
    # The registry's entry of the same name, with the request defaults it brings.
    preset: AdapterPreset | None = None

    def card(self) -> AdapterCard:
        preset = self.preset
        return AdapterCard(
            name=self.name,
            num_inference_steps=preset.num_inference_steps if preset else None,
            guidance_scale=preset.guidance_scale if preset else None,
            description=preset.description if preset and preset.description else None,
        )


def _looks_local(source: str) -> bool:
    return source.startswith(("/", "./", "../", "~", "file:")) or Path(source).exists()


def parse_adapter_flags(values: list[str], spec: ModelSpec) -> list[AdapterSource]:
    """`--lora` values as sources; ValueError naming the flag for a bad one. A local source must
    exist now (a typo fails at start, not at a user's request); a hub file is fetched at first use."""
    sources: dict[str, AdapterSource] = {}
    for value in values:
        name, separator, source = value.partition("=")
        name, source = name.strip(), source.strip()
        if not _NAME.match(name):
            raise ValueError(f"--lora {value!r}: a name is letters, digits, '.', '_' or '-' (at most 64), before '='")
        if name in sources:
            raise ValueError(f"--lora {name}: given twice")
        preset = spec.adapter_preset(name)
        if not separator:
            if preset is None:
                known = ", ".join(p.name for p in spec.adapter_presets) or "none"
                raise ValueError(f"--lora {name}: give name=path_or_hub_file; registry presets for {spec.id}: {known}")
            source = preset.source
            if not source:
                raise ValueError(f"--lora {name}: the registry names no file for it; give {name}=PATH")
        if not source:
            raise ValueError(f"--lora {value!r}: no source after '='")
        if source.startswith("file:"):
            source = source.removeprefix("file://").removeprefix("file:")
        if _looks_local(source):
            path = Path(source).expanduser()
            if not path.exists():
                raise ValueError(f"--lora {name}: {source} does not exist")
            source = str(path.resolve())
        sources[name] = AdapterSource(name, source, preset)
    return list(sources.values())


class AdapterSet:
    def __init__(
        self,
        sources: list[AdapterSource],
        load: Callable[[str, str], None],
        unload: Callable[[str], None],
        max_loaded: int,
        on_load: Callable[[str, float], None] | None = None,
    ):
        if max_loaded < 1:
            raise ValueError(f"--lora-max-loaded must be at least 1; got {max_loaded}")
        self._sources = {source.name: source for source in sources}
        self._load, self._unload, self._on_load = load, unload, on_load
        self.max_loaded = max_loaded
        # Loaded adapters, least recently used first.
        self._loaded: collections.OrderedDict[str, None] = collections.OrderedDict()

    @classmethod
    def none(cls) -> AdapterSet:
        """A worker without adapters: a request naming one is refused."""

        def refuse(*_: str) -> None:
            raise RuntimeError("this worker has no adapters")

        return cls([], refuse, refuse, max_loaded=1)

    def __bool__(self) -> bool:
        return bool(self._sources)

    @property
    def names(self) -> list[str]:
        return list(self._sources)

    @property
    def loaded(self) -> list[str]:
        return sorted(self._loaded)

    def cards(self) -> list[AdapterCard]:
        return [source.card() for source in self._sources.values()]

    def check(self, choices: list[LoraChoice] | None) -> None:
        """Refuse what this worker cannot apply, naming the field."""
        if not choices:
            return
        unknown = [choice.name for choice in choices if choice.name not in self._sources]
        if unknown:
            offered = ", ".join(self._sources) or "none"
            raise RequestFieldError(
                "lora", f"unknown adapter(s) {', '.join(unknown)}; this model offers: {offered}", code=ErrorCode.UNSUPPORTED_VALUE
            )
        if len(choices) > self.max_loaded:
            raise RequestFieldError(
                "lora", f"{len(choices)} adapters in one request; this worker holds at most {self.max_loaded} at once"
            )

    def request_defaults(self, choices: list[LoraChoice] | None) -> dict[str, float | int]:
        """Steps and guidance the request's adapters bring (the first adapter that sets one wins)."""
        defaults: dict[str, float | int] = {}
        for choice in choices or ():
            preset = self._sources[choice.name].preset
            if preset is None:
                continue
            if preset.num_inference_steps is not None:
                defaults.setdefault("num_inference_steps", preset.num_inference_steps)
            if preset.guidance_scale is not None:
                defaults.setdefault("guidance_scale", preset.guidance_scale)
        return defaults

    def prepare(self, names: list[str]) -> None:
        """Load what is missing, unloading the least recently used others past the bound.
        Blocking: call it from the generation thread, under the generator lock."""
        for name in names:
            if name in self._loaded:
                self._loaded.move_to_end(name)
                continue
            while len(self._loaded) >= self.max_loaded:
                victim = next(victim for victim in self._loaded if victim not in names)
                self._unload(victim)
                del self._loaded[victim]
                log.info("adapter %s unloaded (holding at most %d)", victim, self.max_loaded)
            started = time.perf_counter()
            self._load(name, self._sources[name].source)
            seconds = time.perf_counter() - started
            self._loaded[name] = None
            log.info("adapter %s loaded from %s in %.2fs", name, self._sources[name].source, seconds)
            if self._on_load is not None:
                self._on_load(name, seconds)
