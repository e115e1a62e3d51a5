"""Step caches on a diffusers transformer (diffusers' cache hooks), and a count of the
transformer blocks that really run. Used by the diffusers backend only.

What the hooks do on Wan, checked with diffusers 0.37 (the reasons for the choices below):
- TaylorSeer's default module patterns match no Wan module, so it would silently do nothing;
  the patterns here name the transformer's blocks themselves.
- MagCache needs per-step magnitude ratios; diffusers ships them for FLUX only. Without
  ratios the worker calibrates once at start-up (a generation that skips nothing) and uses the
  ratios it measured. Its step count is part of the config: a request with another count
  re-enables it with that count.
- FasterCache expects both CFG branches in one batch; Wan and Qwen-Image run them as two calls and
  FasterCache fails there, so it is refused for those pipelines.
- Hook state is reset only at the end of a pipeline call that returns; a cancelled call
  (an exception from the step callback) leaves it behind, so it is reset before every call.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator

import torch

from framecast.components.registry import StepCache

log = logging.getLogger(__name__)

# Defaults per mode where the setting leaves one unset.
_DEFAULT_THRESHOLD = {"first-block": 0.05, "mag": 0.06}
_DEFAULT_INTERVAL = 2
_DEFAULT_WARMUP = 1
# Pipelines that run the two CFG branches as separate transformer calls (Qwen-Image's true CFG
# too: its branches even differ in text length).
_SEPARATE_CFG_PIPELINES = re.compile(r"^(Wan|QwenImage)")


def block_lists(transformer: torch.nn.Module) -> list[str]:
    """Names of the transformer's lists of blocks (blocks; transformer_blocks, ...)."""
    return [name for name, child in transformer.named_children() if isinstance(child, torch.nn.ModuleList) and len(child)]


# Modes whose hooks wrap each transformer block and need diffusers to know the block's class
# (its registry of block inputs and outputs); the others hook inside the blocks.
_BLOCK_HOOK_MODES = ("first-block", "mag")
_MODES_WITHOUT_BLOCK_HOOKS = ("taylorseer", "faster")


def _sets_cache_context(pipeline) -> bool:
    """Whether the pipeline calls its transformer inside `transformer.cache_context(...)`, where
    diffusers' cache hooks keep their state (Kandinsky 5's does not: every hook fails with "No
    context is set" at the first step). Read from its source: nothing else says it."""
    import inspect

    try:
        return "cache_context(" in inspect.getsource(type(pipeline).__call__)
    except (OSError, TypeError):
        return True


def _blocks_unknown_to_hooks(transformers: list[torch.nn.Module]) -> list[str]:
    """The transformer block classes diffusers' block hooks have no registration for (LTX-2's:
    first-block and MagCache would fail at start-up with "not registered")."""
    # A private registry: the only way to ask before the hook raises.
    from diffusers.hooks._helpers import TransformerBlockRegistry

    unknown = []
    for transformer in transformers:
        for name in block_lists(transformer):
            block_class = type(getattr(transformer, name)[0])
            try:
                TransformerBlockRegistry.get(block_class)
            except ValueError:
                unknown.append(block_class.__name__)
    return sorted(set(unknown))


class BlockCounter:
    """Counts transformer blocks that run. A cache hook replaces a skipped block's forward but
    the block is still called, so the count is taken on the first linear layer inside each."""

    def __init__(self, transformers: list[torch.nn.Module]):
        self.count = 0
        self._handles = []
        for transformer in transformers:
            for name in block_lists(transformer):
                for block in getattr(transformer, name):
                    first = next((module for module in block.modules() if isinstance(module, torch.nn.Linear)), None)
                    if first is not None:
                        self._handles.append(first.register_forward_pre_hook(self._seen))

    def _seen(self, module, args) -> None:
        self.count += 1

    def take(self) -> int:
        count, self.count = self.count, 0
        return count


class StepCacher:
    """One step-cache setting applied to a pipeline's transformers (Wan2.2 A14B has two)."""

    def __init__(self, pipeline, setting: StepCache, default_steps: int, calibrate):
        """`calibrate(config_for)` runs one generation with MagCache in calibration mode and
        returns nothing; it is called only for mag without ratios."""
        self.setting = setting
        self.transformers = [
            module for name in ("transformer", "transformer_2") if isinstance(module := getattr(pipeline, name, None), torch.nn.Module)
        ]
        if not self.transformers or not all(hasattr(module, "enable_cache") for module in self.transformers):
            raise ValueError(f"--cache {setting.mode}: {type(pipeline).__name__}'s transformer takes no step cache")
        if not _sets_cache_context(pipeline):
            raise ValueError(
                f"--cache {setting.mode}: {type(pipeline).__name__} calls its transformer outside a cache context, "
                "which diffusers' cache hooks need; run it without a cache"
            )
        unknown = _blocks_unknown_to_hooks(self.transformers) if setting.mode in _BLOCK_HOOK_MODES else []
        if unknown:
            raise ValueError(
                f"--cache {setting.mode}: diffusers' {setting.mode} hooks do not know {', '.join(unknown)} "
                f"({type(pipeline).__name__}); choose {' or '.join(sorted(set(_MODES_WITHOUT_BLOCK_HOOKS)))}, or no cache"
            )
        if setting.mode == "faster" and _SEPARATE_CFG_PIPELINES.match(type(pipeline).__name__):
            raise ValueError(
                f"--cache faster: FasterCache needs both CFG branches in one batch, and {type(pipeline).__name__} runs "
                "them apart; choose first-block, mag or taylorseer"
            )
        self._pipeline = pipeline
        self._steps = default_steps
        self.mag_ratios: list[float] | None = None
        if setting.mode == "mag":
            self.mag_ratios = self._known_mag_ratios(pipeline) or self._calibrated_mag_ratios(default_steps, calibrate)
        self._enable(default_steps)

    @property
    def description(self) -> dict:
        described = {"mode": self.setting.mode, **self.setting.to_json()}
        if self.mag_ratios is not None:
            described["mag_ratios"] = "diffusers' FLUX ratios" if self._known_mag_ratios(self._pipeline) else "calibrated at start-up"
        return described

    # -- configs ------------------------------------------------------------------------------

    def _config(self, transformer: torch.nn.Module, steps: int, calibrate: bool = False):
        import diffusers

        s = self.setting
        if s.mode == "first-block":
            return diffusers.FirstBlockCacheConfig(threshold=s.threshold if s.threshold is not None else _DEFAULT_THRESHOLD["first-block"])
        if s.mode == "mag":
            if calibrate:
                return diffusers.MagCacheConfig(calibrate=True, num_inference_steps=steps)
            return diffusers.MagCacheConfig(
                threshold=s.threshold if s.threshold is not None else _DEFAULT_THRESHOLD["mag"],
                mag_ratios=self.mag_ratios, num_inference_steps=steps,
            )  # fmt: skip
        if s.mode == "taylorseer":
            return diffusers.TaylorSeerCacheConfig(
                cache_interval=s.interval or _DEFAULT_INTERVAL,
                disable_cache_before_step=max(1, s.warmup_steps if s.warmup_steps is not None else _DEFAULT_WARMUP),
                cache_identifiers=[rf"{name}\.\d+" for name in block_lists(transformer)],
            )  # fmt: skip
        if s.mode == "faster":
            return diffusers.FasterCacheConfig(
                spatial_attention_block_skip_range=s.interval or _DEFAULT_INTERVAL,
                current_timestep_callback=lambda: self._pipeline.current_timestep,
                is_guidance_distilled=True,
            )
        raise ValueError(f"--cache {s.mode!r}: unknown mode")

    def _enable(self, steps: int, calibrate: bool = False) -> None:
        for transformer in self.transformers:
            if transformer.is_cache_enabled:
                transformer.disable_cache()
            transformer.enable_cache(self._config(transformer, steps, calibrate))
        self._steps = steps

    def _disable(self) -> None:
        for transformer in self.transformers:
            if transformer.is_cache_enabled:
                transformer.disable_cache()

    @staticmethod
    def _known_mag_ratios(pipeline) -> list[float] | None:
        if type(pipeline).__name__.startswith("Flux"):
            from diffusers.hooks.mag_cache import FLUX_MAG_RATIOS

            return list(FLUX_MAG_RATIOS)
        return None

    def _calibrated_mag_ratios(self, steps: int, calibrate) -> list[float]:
        """Ratios measured on one generation: MagCache's calibration logs them per branch
        (cond, uncond), and the two are averaged."""
        measured: list[list[float]] = []

        class Catch(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                found = re.search(r"\[([^\]]+)\]", record.getMessage())
                if "Calibration" in record.getMessage() and found:
                    measured.append([float(value) for value in found.group(1).split(",")])

        hook_log = logging.getLogger("diffusers.hooks.mag_cache")
        catch, level = Catch(), hook_log.level
        hook_log.addHandler(catch)
        hook_log.setLevel(logging.INFO)
        try:
            self._enable(steps, calibrate=True)
            with contextlib.redirect_stdout(None):  # the hook also prints them
                calibrate()
        finally:
            hook_log.removeHandler(catch)
            hook_log.setLevel(level)
            self._disable()
        if not measured:
            raise ValueError("--cache mag: calibration produced no ratios")
        ratios = [sum(values) / len(values) for values in zip(*measured, strict=True)]
        log.info("MagCache ratios calibrated over %d steps: %s", steps, ", ".join(f"{value:.4f}" for value in ratios))
        return ratios

    # -- per request --------------------------------------------------------------------------

    @contextlib.contextmanager
    def applied(self, steps: int, enabled: bool) -> Iterator[None]:
        """Around one pipeline call: fresh cache state, the step count MagCache needs, and no
        cache at all for a request that asked for exact frames."""
        for transformer in self.transformers:
            transformer._reset_stateful_cache()
        if not enabled:
            self._disable()
            try:
                yield
            finally:
                self._enable(steps if self.setting.mode == "mag" else self._steps)
            return
        if self.setting.mode == "mag" and steps != self._steps:
            self._enable(steps)
        yield
