"""The worker's adapter set and its flags, in-process: what --lora accepts, how many adapters
stay loaded, and what a request naming adapters is refused for. Loading is recorded, not done
(the stack tests load real adapters into the tiny model)."""

from __future__ import annotations

import pytest

from framecast.components.adapters import AdapterSet, parse_adapter_flags
from framecast.components.backends.options import BackendOptions, ModelOptions
from framecast.components.registry import lookup
from framecast.protocol import RequestFieldError
from framecast.protocol.adapters import LoraChoice

TINY = lookup("framecast/tiny-random-wan2.1-t2v")
WAN14B = lookup("Wan-AI/Wan2.1-T2V-14B-Diffusers")


def recorded_set(names: list[str], max_loaded: int) -> tuple[AdapterSet, list[str]]:
    calls: list[str] = []
    sources = parse_adapter_flags([f"{name}=owner/repo/{name}.safetensors" for name in names], TINY)
    adapters = AdapterSet(sources, lambda name, source: calls.append(f"load {name}"), lambda name: calls.append(f"unload {name}"), max_loaded)
    return adapters, calls


def test_the_least_recently_used_adapter_is_unloaded_past_the_bound():
    adapters, calls = recorded_set(["a", "b", "c"], max_loaded=2)
    for names in (["a"], ["b"], ["a"], ["c"], ["a", "c"], ["b"]):
        adapters.prepare(names)
    assert calls == ["load a", "load b", "unload b", "load c", "unload a", "load b"]
    assert adapters.loaded == ["b", "c"]


def test_requests_naming_what_the_worker_cannot_apply_are_refused_naming_lora():
    adapters, _ = recorded_set(["a", "b"], max_loaded=1)
    for choices in ([LoraChoice(name="zzz")], [LoraChoice(name="a"), LoraChoice(name="b")]):
        with pytest.raises(RequestFieldError) as refused:
            adapters.check(choices)
        assert refused.value.param == "lora"
    adapters.check([LoraChoice(name="a", scale=0.5)])
    with pytest.raises(RequestFieldError):
        AdapterSet.none().check([LoraChoice(name="a")])


def test_flags(tmp_path):
    (tmp_path / "style.safetensors").write_bytes(b"")
    (fast,) = parse_adapter_flags(["fast"], WAN14B)
    assert fast.source.startswith("lightx2v/") and fast.card().num_inference_steps == 4
    (local,) = parse_adapter_flags([f"style={tmp_path / 'style.safetensors'}"], TINY)
    assert local.source == str(tmp_path / "style.safetensors") and local.preset is None
    for bad in (["a=/no/such/file.safetensors"], ["bad name=x/y/z.safetensors"], ["a=x/y/a.safetensors", "a=x/y/b.safetensors"],
                ["nopreset"], ["fast"]):  # fmt: skip
        with pytest.raises(ValueError, match="--lora"):
            parse_adapter_flags(bad, TINY if bad != ["nopreset"] else WAN14B)


def test_a_preset_brings_its_steps_and_guidance_unless_the_request_sets_them():
    adapters = AdapterSet(parse_adapter_flags(["fast"], WAN14B), lambda *_: None, lambda *_: None, 2)
    assert adapters.request_defaults([LoraChoice(name="fast")]) == {"num_inference_steps": 4, "guidance_scale": 1.0}


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (ModelOptions(), None),
        (ModelOptions(cache="recommended"), {"mode": "taylorseer", "interval": 2, "warmup_steps": 1}),
        (ModelOptions(cache="first-block", cache_threshold=0.1), {"mode": "first-block", "threshold": 0.1}),
        (ModelOptions(cache="taylorseer", cache_interval=3), {"mode": "taylorseer", "interval": 3}),
    ],
)
def test_cache_settings(options, expected):
    setting = BackendOptions("m", TINY, options).step_cache
    assert (setting.to_json() if setting else None) == expected


@pytest.mark.parametrize(
    "options",
    [
        ModelOptions(cache_threshold=0.1),
        ModelOptions(cache="first-block", cache_interval=2),
        ModelOptions(cache="taylorseer", cache_interval=0),
        ModelOptions(cache="mag", cache_threshold=-1.0),
    ],
)
def test_bad_cache_settings_are_refused_naming_the_flag(options):
    with pytest.raises(ValueError, match="--cache"):
        _ = BackendOptions("m", TINY, options).step_cache


def test_a_model_without_a_recommendation_refuses_recommended():
    with pytest.raises(ValueError, match="recommends no step cache"):
        _ = BackendOptions("m", lookup("THUDM/CogVideoX-2b"), ModelOptions(cache="recommended")).step_cache
